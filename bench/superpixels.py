"""Superpixel benchmark: how long one large photo takes, from stored file to stored label map.

Issue 13's target: superpixels of a 4000x3000 image in 2 s or less on 2 cores
(``ml.superpixels.superpixel_labels``: SLIC on a copy shrunk to SLIC_LONG_SIDE, labels grown
back by nearest neighbour). The picture is a CamVid train image grown to ``--size`` (bicubic)
with mild sensor-like noise, saved as a JPEG (quality 90) as a camera would, so the work is
that of a real upload. Each of ``--runs`` timed runs (after one untimed warm-up) measures the
stages of ``webapp.images.superpixels.superpixels_compute`` without the database:

* decode: the JPEG to an RGB array (Pillow);
* labels: ``superpixel_labels`` (the target's figure), split into its shrink + SLIC + grow;
* encode: the RGB PNG that is stored (``superpixels_png``'s settings);

and the region count, the PNG's size, and whether the labels decode back exactly. SLIC runs
in one thread (scikit-image's Cython); the rest is NumPy and Pillow.

Prints one JSON object and appends it as a line to bench/results/superpixels.jsonl (or
``--results``), with the CPU model, the load average before and after, and ``--note`` (say
there when something else was running).

    python bench/superpixels.py --note "idle machine"
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from cpu_info import cpu_model  # bench/ is on sys.path when a script runs
from PIL import Image as PILImage
from report import jsonl_append

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from skimage.segmentation import slic  # noqa: E402

from ml import superpixels as sp  # noqa: E402
from ml.superpixels import (  # noqa: E402
    REGION_PX,
    SLIC_COMPACTNESS,
    SLIC_ITERATIONS,
    SLIC_LONG_SIDE,
    decode_labels_rgb,
    encode_labels_rgb,
    superpixel_labels,
)

DEFAULT_IMAGE = ROOT.parent / "shared" / "data" / "camvid" / "train" / "0001TP_006690.png"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "superpixels.jsonl"
TARGET_S = 2.0
PNG_COMPRESS_LEVEL = 1  # as webapp.images.superpixels stores them


def test_picture(source: Path | None, width: int, height: int) -> tuple[bytes, str]:
    """(JPEG bytes, what they are): the source grown to width x height with noise, or a
    synthetic street-like scene when there is no source."""
    rng = np.random.default_rng(0)
    if source is not None and source.exists():
        with PILImage.open(source) as im:
            grown = np.asarray(im.convert("RGB").resize((width, height), PILImage.BICUBIC)).astype(np.int16)
        what = f"{source.name} grown to {width}x{height} (bicubic), noise ±6, JPEG q90"
    else:
        y, x = np.mgrid[:height, :width]
        grown = np.zeros((height, width, 3), np.int16)
        grown[y < height * 0.4] = (120, 160, 230)  # sky
        grown[y >= height * 0.4] = (110, 100, 110)  # road
        box = (abs(x - width * 0.6) < width * 0.12) & (abs(y - height * 0.6) < height * 0.1)
        grown[box] = (190, 30, 40)  # a car
        what = f"synthetic scene {width}x{height}, noise ±6, JPEG q90"
    grown += rng.integers(-6, 7, grown.shape, dtype=np.int16)
    buffer = io.BytesIO()
    PILImage.fromarray(np.clip(grown, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), what


def one_run(jpeg: bytes, region_px: int) -> dict:
    started = time.perf_counter()
    with PILImage.open(io.BytesIO(jpeg)) as im:
        rgb = np.asarray(im.convert("RGB"))
    decoded = time.perf_counter()
    labels = superpixel_labels(rgb, region_px=region_px)
    labelled = time.perf_counter()
    buffer = io.BytesIO()
    PILImage.fromarray(encode_labels_rgb(labels), mode="RGB").save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    encoded = time.perf_counter()
    with PILImage.open(io.BytesIO(buffer.getvalue())) as png:
        exact = bool(np.array_equal(decode_labels_rgb(np.asarray(png.convert("RGB"))), labels))
    return {
        "decode_s": decoded - started,
        "labels_s": labelled - decoded,
        "encode_s": encoded - labelled,
        "total_s": encoded - started,
        "regions": int(labels.max()) + 1,
        "png_bytes": len(buffer.getvalue()),
        "round_trip_exact": exact,
    }


def stages(rgb_shape: tuple[int, int], jpeg: bytes, region_px: int) -> dict:
    """One run of superpixel_labels split into shrink, SLIC and grow + relabel (seconds)."""
    with PILImage.open(io.BytesIO(jpeg)) as im:
        rgb = np.asarray(im.convert("RGB"))
    height, width = rgb_shape
    scale = min(1.0, SLIC_LONG_SIDE / max(height, width))
    t0 = time.perf_counter()
    small = np.asarray(PILImage.fromarray(rgb).resize((round(width * scale), round(height * scale)), PILImage.BOX))
    t1 = time.perf_counter()
    n = max(1, min(height * width // region_px, small.shape[0] * small.shape[1] // sp.MIN_SHRUNK_REGION_PX))
    labels = slic(
        small,
        n_segments=n,
        compactness=SLIC_COMPACTNESS,
        max_num_iter=SLIC_ITERATIONS,
        start_label=0,
        enforce_connectivity=True,
        channel_axis=-1,
    ).astype(np.int32)
    t2 = time.perf_counter()
    sp._upscale_nearest(sp.relabel_contiguous(labels), height, width)
    t3 = time.perf_counter()
    return {
        "shrink_s": round(t1 - t0, 3),
        "slic_s": round(t2 - t1, 3),
        "relabel_grow_s": round(t3 - t2, 3),
        "shrunk_size_wh": [small.shape[1], small.shape[0]],
    }


def summary(values: list[float]) -> dict:
    return {
        "p50": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.mean(values), 3),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the test picture")
    p.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="picture to grow (a synthetic scene if absent)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--region-px", type=int, default=REGION_PX)
    p.add_argument("--note", default="", help="recorded as is, e.g. what else was running")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--no-save", action="store_true", help="print only")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    load_before = os.getloadavg()
    jpeg, what = test_picture(args.image, width, height)
    one_run(jpeg, args.region_px)  # warm-up: imports, allocator
    runs = [one_run(jpeg, args.region_px) for _ in range(max(1, args.runs))]
    split = stages((height, width), jpeg, args.region_px)
    record = {
        "bench": "superpixels",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python bench/superpixels.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "note": args.note,
        "picture": what,
        "size_wh": [width, height],
        "jpeg_bytes": len(jpeg),
        "config": {
            "region_px": args.region_px,
            "slic_long_side": SLIC_LONG_SIDE,
            "compactness": SLIC_COMPACTNESS,
            "iterations": SLIC_ITERATIONS,
            "png_compress_level": PNG_COMPRESS_LEVEL,
            "runs": len(runs),
        },
        "labels_s": summary([r["labels_s"] for r in runs]),
        "decode_s": summary([r["decode_s"] for r in runs]),
        "encode_s": summary([r["encode_s"] for r in runs]),
        "total_s": summary([r["total_s"] for r in runs]),
        "labels_stages": split,
        "regions": runs[0]["regions"],
        "png_bytes": runs[0]["png_bytes"],
        "round_trip_exact": all(r["round_trip_exact"] for r in runs),
        "target_labels_s": TARGET_S,
        "meets_target": statistics.median(r["labels_s"] for r in runs) <= TARGET_S,
    }
    print(json.dumps(record, indent=2))
    if not args.no_save:
        jsonl_append(args.results, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
