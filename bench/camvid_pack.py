"""Carry CamVid to a machine that cannot read ../shared (the lent GPU machine takes 64 MiB):
``pack`` writes the RGB images as JPEG (quality 95) and the masks as they are; ``unpack``
turns the JPEGs back into PNGs under the same names, laid out as bench/camvid_ssl.py reads.

    python bench/camvid_pack.py pack ../shared/data/camvid .camvid
    python bench/camvid_pack.py unpack .camvid /tmp/camvid

JPEG changes pixel values by a few levels; the labels are untouched.
"""

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

SPLITS = ("train", "val")


def _convert(src: Path, dst: Path, fmt: str) -> None:
    with Image.open(src) as im:
        im.convert("RGB").save(dst, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))


def pack(source: Path, target: Path) -> None:
    _convert_split_images(source, target, ".png", ".jpg", "JPEG")


def unpack(source: Path, target: Path) -> None:
    _convert_split_images(source, target, ".jpg", ".png", "PNG")


def _convert_split_images(source: Path, target: Path, from_suffix: str, to_suffix: str, fmt: str) -> None:
    """The masks copied as they are, the images converted to `fmt` under the same stems."""
    jobs = []
    for split in SPLITS:
        (target / split).mkdir(parents=True, exist_ok=True)
        shutil.copytree(source / f"{split}annot", target / f"{split}annot", dirs_exist_ok=True)
        jobs += [
            (p, target / split / f"{p.stem}{to_suffix}", fmt) for p in sorted((source / split).glob(f"*{from_suffix}"))
        ]
    _run(jobs)


def _run(jobs) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: _convert(*job), jobs))
    print(f"{len(jobs)} images written", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    {"pack": pack, "unpack": unpack}[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
