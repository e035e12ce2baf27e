"""bench/inference.py runs end to end at a tiny size and reports every number it promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "inference.py"

pytestmark = pytest.mark.slow  # three fresh Python processes (about 15 s on an idle machine)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    jsonl = tmp_path_factory.mktemp("bench") / "inference.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--models",
            "student",
            "--size",
            "64x48",
            "--runs",
            "2",
            "--warmup",
            "1",
            "--batch",
            "2",
            "--throughput-runs",
            "1",
            "--student-encoder",
            "mobilenetv3_small_100",
            "--student-decoder",
            "16,16,16,16,16",
            "--json-out",
            str(jsonl),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout)
    lines = jsonl.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == printed
    return printed


def test_report_has_machine_config_and_summary(report):
    assert report["bench"] == "inference"
    assert report["config"]["size_wh"] == [64, 48]
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["cpu"]
    assert report["summary"]["student_best"]["p50_ms"] > 0
    assert isinstance(report["summary"]["student_meets_p50_target"], bool)


def test_every_runtime_reports_positive_latency_throughput_and_memory(report):
    rows = {r["runtime"]: r for r in report["results"]}
    assert set(rows) == {"eager", "torchscript", "onnxruntime"}
    for runtime, row in rows.items():
        assert "error" not in row, (runtime, row.get("error"))
        assert row["model"] == "student" and row["params_m"] > 0
        latency = row["latency_ms"]
        assert latency["runs"] == 2
        assert 0 < latency["min"] <= latency["p50"] <= latency["p95"]
        assert row["throughput"]["batch"] == 2 and row["throughput"]["images_per_s"] > 0
        memory = row["memory_mb"]
        assert memory["peak_rss"] > 0 and memory["peak_delta"] >= 0
        assert memory["peak_rss"] >= memory["rss_after_imports"]
