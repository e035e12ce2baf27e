"""bench/int8.py runs end to end on a tiny CamVid-shaped folder and reports every number it promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "int8.py"

pytestmark = pytest.mark.slow  # trains one step and quantizes a small student (about 30 s)


def camvid_like(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(2):
            PILImage.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(root / split / f"{i}.png")
            labels = rng.integers(0, 12, (90, 120), dtype=np.uint8)  # 11 is void
            PILImage.fromarray(labels, mode="L").save(root / f"{split}annot" / f"{i}.png")
    return root


def test_int8_bench_prints_latencies_and_the_miou_delta(tmp_path):
    jsonl = tmp_path / "int8.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--data",
            str(camvid_like(tmp_path / "camvid")),
            "--encoder",
            "mobilenetv3_small_100",
            "--train-steps",
            "1",
            "--calibration",
            "2",
            "--runs",
            "2",
            "--warmup",
            "1",
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
    assert json.loads(jsonl.read_text().splitlines()[-1]) == printed
    assert printed["size"] == "480x360" and printed["cpu"] and printed["val_images"] == 2
    assert set(printed["p50_ms"]) == {"fp32_torch", "fp32_onnx", "int8_onnx"}
    assert all(value > 0 for value in printed["p50_ms"].values())
    assert set(printed["miou"]) == {"fp32_torch", "int8_onnx"}
    assert printed["miou_delta_points"] == pytest.approx(
        100 * (printed["miou"]["fp32_torch"] - printed["miou"]["int8_onnx"]), abs=0.02
    )
    assert printed["model_mb"]["int8_onnx"] < printed["model_mb"]["fp32_onnx"]
