"""bench/camvid_pack.py: CamVid through JPEG and back keeps the names and the labels exactly."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "camvid_pack.py"


def test_pack_then_unpack_keeps_names_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (tmp_path / "src" / split).mkdir(parents=True)
        (tmp_path / "src" / f"{split}annot").mkdir()
        ramp = np.linspace(0, 255, 64)[None, :, None] * np.ones((48, 1, 3))  # smooth, as photos are
        smooth = (ramp * rng.uniform(0.5, 1.0, 3)).astype(np.uint8)
        Image.fromarray(smooth).save(tmp_path / "src" / split / f"{split}_001.png")
        Image.fromarray(rng.integers(0, 12, (48, 64)).astype(np.uint8), mode="L").save(
            tmp_path / "src" / f"{split}annot" / f"{split}_001.png"
        )
    for verb, src, dst in (("pack", "src", "packed"), ("unpack", "packed", "out")):
        subprocess.run([sys.executable, str(SCRIPT), verb, str(tmp_path / src), str(tmp_path / dst)], check=True)

    assert (tmp_path / "packed" / "train" / "train_001.jpg").is_file()
    for split in ("train", "val"):
        before = np.asarray(Image.open(tmp_path / "src" / split / f"{split}_001.png"), dtype=np.int16)
        after = np.asarray(Image.open(tmp_path / "out" / split / f"{split}_001.png"), dtype=np.int16)
        assert after.shape == before.shape and np.abs(after - before).mean() < 4  # JPEG q95
        labels = tmp_path / f"{split}annot" / f"{split}_001.png"
        assert (
            np.asarray(Image.open(tmp_path / "src" / labels.relative_to(tmp_path)))
            == np.asarray(Image.open(tmp_path / "out" / labels.relative_to(tmp_path)))
        ).all()
