"""bench/app_round.py end to end on synthetic CamVid-like images: the default round and the
same-time supervised baseline through the app (a real worker), the page estimate sampled."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.test_hitl_smoke import _camvid_like

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "app_round.py"

pytestmark = pytest.mark.slow  # two worker processes, two short rounds


def test_default_round_and_same_time_baseline_are_recorded(tmp_path):
    _camvid_like(tmp_path / "camvid", train=10)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEDIA_ROOT", "REDIS_URL")}
    results = tmp_path / "app_round.jsonl"
    common = [
        sys.executable,
        str(SCRIPT),
        "--data",
        str(tmp_path / "camvid"),
        "--work-dir",
        str(tmp_path / "work"),
        "--results",
        str(results),
        "--threads",
        "1",
    ]
    proc = subprocess.run(
        [*common, "--labels", "5", "--set", '{"max_minutes": 0.4}'],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**env, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["round"] for r in rows] == ["default", "supervised_same_time"]
    default, baseline = rows
    assert default["timings"]["plan"]["budget_s"] == 24.0 and default["pseudo_total"] >= 1
    assert {w["source"] for w in default["weight_sources"]} == {"package"}
    # the baseline was given the default round's measured wall time
    assert baseline["config"] == {"method": "supervised", "max_minutes": round(default["run_wall_s"] / 60, 2)}
    # the page's estimate is sampled while the run is running (a seconds-long round may give
    # the poll no sample, so only the record's shape is checked here)
    assert isinstance(default["estimates"], list) and isinstance(default["estimate_error"], dict)
    assert 0 <= default["val_miou"] <= 1
    table = subprocess.run([*common, "--table"], capture_output=True, text=True, check=True, cwd=REPO).stdout
    # the app default skips teachers that a 24 s plan cannot train (min_teacher_steps), and
    # the baseline's row names its budget
    assert default["timings"]["gate"]["skipped"] is True
    assert "| default [teachers skipped] | 1 |" in table
    assert f"| supervised_same_time ({baseline['config']['max_minutes']:g} min) | 1 |" in table
