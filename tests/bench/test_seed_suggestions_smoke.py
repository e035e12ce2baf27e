"""bench/seed_suggestions.py end to end on synthetic CamVid-like images: embeddings through
the app's service, seed masks taken from the suggestions, one round by a real worker, the
record, and the table beside a hand-made HITL round-0 line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.test_hitl_smoke import _camvid_like

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "seed_suggestions.py"


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEDIA_ROOT", "REDIS_URL")}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--data",
            str(tmp / "camvid"),
            "--work-dir",
            str(tmp / "work"),
            "--results",
            str(tmp / "seeds.jsonl"),
            "--hitl-results",
            str(tmp / "hitl.jsonl"),
            "--profile",
            "tiny",
            "--seed-labels",
            "3",
            "--threads",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**env, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow  # one worker process and one tiny round
def test_suggested_seeds_round_and_table(tmp_path):
    _camvid_like(tmp_path / "camvid", train=8, val=2)
    _run(["--seed", "0"], tmp_path)
    (record,) = [json.loads(line) for line in (tmp_path / "seeds.jsonl").read_text().splitlines()]
    assert record["bench"] == "seed_suggestions" and record["seed_labels"] == 3
    # every seed mask is counted under its sequence (the file name's prefix); which ones the
    # suggestions pick is ml.selection's business, tested in tests/ml/test_selection.py
    assert sum(record["by_sequence"].values()) == 3
    assert set(record["by_sequence"]) == {"0001TP", "0006R0", "0016E5", "Seq05VD"}
    assert 0.0 <= record["val_miou"] <= 1.0 and record["run"]["num_labeled"] + record["run"]["num_validation"] == 3

    hitl_round0 = {
        "bench": "hitl",
        "version": 2,
        "strategy": "random",
        "seed": 0,
        "round": 0,
        "val_miou": 0.25,
        "profile": "tiny",
        "overrides": {},
        "touched_by_sequence": {"0001TP": 2, "0016E5": 1},
    }
    (tmp_path / "hitl.jsonl").write_text(json.dumps(hitl_round0) + "\n")
    table = _run(["--table"], tmp_path).stdout
    assert "| 3 random | [0] | 25.0 (n=1) | 2 / 0 / 1 / 0 |" in table
    assert f"| 3 suggested | [0] | {100 * record['val_miou']:.1f} (n=1) |" in table
