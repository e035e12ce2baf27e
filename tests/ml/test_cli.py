"""python -m ml: help texts, and a tiny train -> eval -> predict -> export run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ml.cli import build_parser
from tests.ml.synth_data import write_set

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "num_classes": 3,
    "crop_size": 32,
    "batch_size": 2,
    "unlabeled_batch_size": 2,
    "teacher_steps": 2,
    "student_steps": 2,
    "eval_every": 1000,
    "su_kwargs": {
        "encoder_kwargs": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8]},
        "decoder_depth": 1,
    },
    "ru_encoder": "mobilenetv3_small_100",
    "ru_kwargs": {"decoder_channels": [32, 16, 16, 8, 8]},
    "student_encoder": "mobilenetv3_small_100",
    "student_kwargs": {"decoder_channels": [32, 16, 16, 8, 8]},
}


def run(*args, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-m", "ml", *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def test_help_texts():
    out = run("--help").stdout
    for cmd in ("train", "eval", "predict", "export"):
        assert cmd in out
    train_help = run("train", "--help").stdout
    assert "--unlabeled" in train_help and "--val-images" in train_help and "examples:" in train_help


@pytest.mark.parametrize("cmd", ["eval", "predict", "export"])
def test_subcommand_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([cmd, "--help"])
    assert e.value.code == 0
    assert "--checkpoint" in capsys.readouterr().out


def test_train_eval_predict_export(tmp_path):
    write_set(tmp_path / "lab", 4, seed=1, size=32)
    write_set(tmp_path / "unl", 2, seed=2, size=32, masks=False)
    write_set(tmp_path / "val", 2, seed=3, size=32)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    p = run(
        "train",
        "--images",
        tmp_path / "lab/images",
        "--masks",
        tmp_path / "lab/masks",
        "--unlabeled",
        tmp_path / "unl/images",
        "--val-images",
        tmp_path / "val/images",
        "--val-masks",
        tmp_path / "val/masks",
        "--config",
        tmp_path / "cfg.yaml",
        "--set",
        "seed=1",
        "--out",
        out,
    )
    summary = json.loads(p.stdout[p.stdout.index("{") :])
    assert summary["status"] == "completed"
    ckpt = out / "student_best.pt"
    assert ckpt.is_file() and (out / "su_latest.pt").is_file()

    metrics = json.loads(
        run("eval", "--checkpoint", ckpt, "--images", tmp_path / "val/images", "--masks", tmp_path / "val/masks").stdout
    )
    assert 0.0 <= metrics["miou"] <= 1.0 and len(metrics["per_class_iou"]) == 3

    run("predict", "--checkpoint", ckpt, tmp_path / "val/images", "--out", tmp_path / "pred", "--window", 16)
    mask = np.asarray(Image.open(tmp_path / "pred" / "s000.png"))
    assert mask.shape == (32, 32) and mask.max() < 3

    run("export", "--checkpoint", ckpt, "--out", tmp_path / "exp")
    assert (tmp_path / "exp" / "student_best.ts").is_file()
    assert (tmp_path / "exp" / "student_best.onnx").is_file()


def test_bad_mask_is_a_message_not_a_traceback(tmp_path):
    write_set(tmp_path / "lab", 2, seed=1, size=32, void_value=7)
    p = run(
        "train",
        "--images",
        tmp_path / "lab/images",
        "--masks",
        tmp_path / "lab/masks",
        "--set",
        "num_classes=3",
        "--set",
        "student_steps=1",
        "--set",
        "method=supervised",
        "--set",
        "student_encoder=mobilenetv3_small_100",
        "--out",
        tmp_path / "run",
        check=False,
    )
    assert p.returncode == 2 and "invalid class values 7" in p.stderr and "Traceback" not in p.stderr
