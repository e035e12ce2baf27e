"""What every benchmark records with its figures, and where it writes them: the machine (CPU
model, cores, torch threads, load average), the commit, one JSON line appended to
bench/results/*.jsonl, and a section of docs/benchmarks.md replaced in place."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from cpu_info import cpu_model  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "benchmarks.md"
DOCS_TITLE = "# Benchmarks\n"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages ([] where the system has none): the machine is shared."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def torch_threads() -> int | None:
    """torch's intra-op threads, if this process has imported torch (None otherwise: importing
    it here would cost the web benchmarks seconds of start-up for a number they do not use)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def uptime_line() -> str:
    """`uptime`'s line (with the load averages), "" where it cannot run."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info() -> dict:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch_threads": torch_threads(),
        "load_average": load_average(),
    }


def machine_summary() -> str:
    """One line for a record: the CPU, its cores and where torch runs."""
    return f"{cpu_model()}, {os.cpu_count()} cores, torch CPU"


def git_commit() -> str:
    """The checked-out commit ("" outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def jsonl_append(path: Path, record: dict) -> None:
    """One record as one line at the end of a results file (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def docs_section_replace(section: str, *, heading: str, path: Path = DOCS, keep_marker: str | None = None) -> None:
    """Replace the Markdown section that starts with the line `heading` (up to the next "## "
    heading) with `section`, or append it at the end. With `keep_marker`, the hand-written
    notes that follow that line inside the old section (`<!-- ... notes -->`) are kept at the
    end of the new one."""
    text = path.read_text() if path.exists() else DOCS_TITLE
    match = re.search(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        if keep_marker is not None:
            notes = re.search(rf"^{re.escape(keep_marker)}\n.*", match.group(0), flags=re.S | re.M)
            if notes:
                section = section.rstrip("\n") + "\n\n" + notes.group(0).rstrip() + "\n"
        rest = text[match.end() :]
        text = text[: match.start()] + section.rstrip("\n") + "\n" + ("\n" if rest else "") + rest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
