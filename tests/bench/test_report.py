"""bench/report.py: the docs section replaced in place (hand-written notes kept), JSON lines
appended, the machine described."""

import json
import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.append(str(REPO / "bench"))  # report imports its neighbour cpu_info
import report  # noqa: E402

DOC = """# Benchmarks

## Editor

old editor figures

## Web load

old web figures

<!-- web-load notes -->
Written by hand: keep me.

## Inference

inference figures
"""


def test_a_middle_section_is_replaced_and_its_neighbours_stay(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    report.docs_section_replace("## Editor\n\nnew editor figures\n", heading="## Editor", path=path)
    assert path.read_text() == DOC.replace("old editor figures", "new editor figures")


def test_the_notes_after_the_marker_are_kept_under_the_new_figures(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    report.docs_section_replace(
        "## Web load\n\nnew web figures\n", heading="## Web load", path=path, keep_marker="<!-- web-load notes -->"
    )
    assert path.read_text() == DOC.replace("old web figures", "new web figures")


def test_a_missing_section_is_appended_and_a_missing_file_made(tmp_path):
    path = tmp_path / "docs" / "benchmarks.md"
    report.docs_section_replace("## Web load\n\nfigures\n", heading="## Web load", path=path)
    assert path.read_text() == "# Benchmarks\n\n## Web load\n\nfigures\n"
    report.docs_section_replace("## Editor\n\nmore\n", heading="## Editor", path=path)
    assert path.read_text() == "# Benchmarks\n\n## Web load\n\nfigures\n\n## Editor\n\nmore\n"


def test_a_heading_that_only_starts_like_the_section_is_not_replaced(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\n## Web load notes\n\nother\n")
    report.docs_section_replace("## Web load\n\nfigures\n", heading="## Web load", path=path)
    assert path.read_text() == "# Benchmarks\n\n## Web load notes\n\nother\n\n## Web load\n\nfigures\n"


def test_jsonl_append_adds_one_line_per_record(tmp_path):
    path = tmp_path / "results" / "x.jsonl"
    report.jsonl_append(path, {"a": 1})
    report.jsonl_append(path, {"b": [2, 3]})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"b": [2, 3]}]


def test_machine_info_and_commit():
    info = report.machine_info()
    assert info["cpus"] == os.cpu_count() and info["cpu"] == report.cpu_model()
    assert len(info["load_average"]) == 3 and all(value >= 0 for value in info["load_average"])
    assert info["torch_threads"] == torch.get_num_threads()  # this process has imported torch
    commit = report.git_commit()
    assert len(commit) == 40 and set(commit) <= set("0123456789abcdef")
    assert "load average" in report.uptime_line()
