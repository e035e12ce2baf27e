"""int8 serving benchmark: the student in fp32 PyTorch, fp32 ONNX Runtime and int8 ONNX Runtime.

The student is the checkpoint given by ``--checkpoint``, else one trained here for
``--train-steps`` supervised steps on CamVid train (random 256 px crops of the 480x360
images, flips; ImageNet start when the offline weights are there). Its ONNX export
(ml.export) is quantized statically by ml.quantize, calibrated on ``--calibration`` CamVid
train images, as the web app calibrates on a project's own images.

Measured, all on one 480x360 image at batch 1 with ``--threads`` intra-op threads:
* p50 / p95 latency in ms of a forward to logits, after ``--warmup`` untimed runs;
* mIoU on CamVid val (void ignored, whole-image forward) of fp32 PyTorch and int8 ONNX, and
  the difference in points (the app refuses int8 beyond 1 point).

Examples:
    python bench/int8.py --checkpoint var/models/projects/1/v3/student_best.pt --json-out
    python bench/int8.py --train-steps 2 --calibration 2 --val-limit 2 --runs 3   # smoke test

Prints one JSON object; ``--json-out [PATH]`` also appends it as a line to
bench/results/int8.jsonl (or PATH). Targets (issue 15): int8 p50 <= 15 ms on 2 cores,
within 1 mIoU point of fp32.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from cpu_info import cpu_model  # noqa: E402  (bench/ is on sys.path when a script runs)
from PIL import Image as PILImage  # noqa: E402

from ml.checkpoints import load_model  # noqa: E402
from ml.data import pairs_from_folders  # noqa: E402
from ml.export import export_onnx  # noqa: E402
from ml.infer import image_to_tensor  # noqa: E402
from ml.metrics import ConfusionMatrix  # noqa: E402
from ml.models import ModelSpec, build_segmenter  # noqa: E402
from ml.quantize import OnnxSegmenter, quantize_onnx  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "camvid"
DEFAULT_JSONL = REPO / "bench" / "results" / "int8.jsonl"
NUM_CLASSES, VOID, IGNORE = 11, 11, 255
SIZE = (480, 360)  # width, height
TARGET_INT8_P50_MS = 15.0
TARGET_MIOU_LOSS_POINTS = 1.0


def load_pair(image_path, mask_path) -> tuple[torch.Tensor, torch.Tensor]:
    """1,3,360,480 normalised image and 360,480 long labels (void -> 255)."""
    with PILImage.open(image_path) as image:
        pixels = image.convert("RGB").resize(SIZE, PILImage.Resampling.BILINEAR)
    with PILImage.open(mask_path) as mask:
        labels = np.array(mask.resize(SIZE, PILImage.Resampling.NEAREST), dtype=np.int64)
    labels[labels == VOID] = IGNORE
    return image_to_tensor(pixels).unsqueeze(0), torch.from_numpy(labels)


def train_student(pairs, steps: int, encoder: str, crop: int = 256, batch: int = 8) -> tuple[torch.nn.Module, str]:
    """A student trained briefly (supervised, Adam); returns it and where its weights started."""
    spec = ModelSpec("student", encoder, NUM_CLASSES, IGNORE)
    try:
        model, start = build_segmenter(spec, pretrained=True, role="student"), "imagenet"
    except Exception:  # noqa: BLE001  no offline weights for this encoder: start from random
        model, start = build_segmenter(spec), "random"
    data = [load_pair(*pair) for pair in pairs]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = random.Random(0)
    model.train()
    for _ in range(steps):
        xs, ys = [], []
        for x, y in rng.sample(data, min(batch, len(data))):
            top, left = rng.randrange(SIZE[1] - crop + 1), rng.randrange(SIZE[0] - crop + 1)
            x, y = x[0, :, top : top + crop, left : left + crop], y[top : top + crop, left : left + crop]
            if rng.random() < 0.5:
                x, y = x.flip(-1), y.flip(-1)
            xs.append(x)
            ys.append(y)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.stack(xs)), torch.stack(ys), ignore_index=IGNORE)
        loss.backward()
        optimizer.step()
    return model.eval(), start


def p50_p95_ms(fn, warmup: int, runs: int) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    ordered = sorted(times)
    return {"p50": statistics.median(times), "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}


@torch.inference_mode()
def miou(model: torch.nn.Module, pairs) -> float:
    matrix = ConfusionMatrix(NUM_CLASSES, IGNORE)
    for image_path, mask_path in pairs:
        x, y = load_pair(image_path, mask_path)
        matrix.update(model(x).argmax(1), y.unsqueeze(0))
    return matrix.miou()


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    train = pairs_from_folders(args.data / "train", args.data / "trainannot")
    val = pairs_from_folders(args.data / "val", args.data / "valannot")
    if args.val_limit:
        val = val[: args.val_limit]
    if args.checkpoint:
        model, _ = load_model(args.checkpoint, map_location="cpu")
        model.eval()
        source = {"checkpoint": str(args.checkpoint)}
    else:
        started = time.perf_counter()
        model, start = train_student(train, args.train_steps, args.encoder)
        source = {
            "trained_steps": args.train_steps,
            "encoder": args.encoder,
            "start": start,
            "train_seconds": round(time.perf_counter() - started, 1),
        }
    calibration = random.Random(1).sample(train, min(args.calibration, len(train)))
    with tempfile.TemporaryDirectory(prefix="int8-bench-") as scratch:
        fp32_path = export_onnx(model, Path(scratch) / "student.onnx", example_hw=(SIZE[1], SIZE[0]))
        started = time.perf_counter()
        images = (load_pair(*pair)[0] for pair in calibration)
        int8_path = quantize_onnx(fp32_path, Path(scratch) / "student.int8.onnx", images)
        quantize_seconds = time.perf_counter() - started
        fp32_onnx = OnnxSegmenter(fp32_path, threads=args.threads)
        int8_onnx = OnnxSegmenter(int8_path, threads=args.threads)
        x = load_pair(*val[0])[0]

        def torch_forward():
            with torch.inference_mode():
                model(x)

        latency = {
            "fp32_torch": p50_p95_ms(torch_forward, args.warmup, args.runs),
            "fp32_onnx": p50_p95_ms(lambda: fp32_onnx(x), args.warmup, args.runs),
            "int8_onnx": p50_p95_ms(lambda: int8_onnx(x), args.warmup, args.runs),
        }
        mious = {"fp32_torch": miou(model, val), "int8_onnx": miou(int8_onnx, val)}
        sizes_mb = {"fp32_onnx": fp32_path.stat().st_size / 2**20, "int8_onnx": int8_path.stat().st_size / 2**20}
    delta = 100 * (mious["fp32_torch"] - mious["int8_onnx"])
    return {
        "bench": "int8",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "size": f"{SIZE[0]}x{SIZE[1]}",
        "runs": args.runs,
        "student": source,
        "calibration_images": len(calibration),
        "quantize_seconds": round(quantize_seconds, 1),
        "p50_ms": {name: round(value["p50"], 2) for name, value in latency.items()},
        "p95_ms": {name: round(value["p95"], 2) for name, value in latency.items()},
        "model_mb": {name: round(value, 2) for name, value in sizes_mb.items()},
        "val_images": len(val),
        "miou": {name: round(value, 4) for name, value in mious.items()},
        "miou_delta_points": round(delta, 2),
        "targets_met": {
            "int8_p50_ms": latency["int8_onnx"]["p50"] <= TARGET_INT8_P50_MS,
            "miou_within_1_point": delta <= TARGET_MIOU_LOSS_POINTS,
        },
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CamVid (train/, trainannot/, val/, valannot/)")
    parser.add_argument("--checkpoint", type=Path, help="a student checkpoint (else one is trained briefly)")
    parser.add_argument("--encoder", default="tf_efficientnet_lite0", help="encoder of the student trained here")
    parser.add_argument("--train-steps", type=int, default=300, help="steps of the student trained here")
    parser.add_argument("--calibration", type=int, default=32, help="CamVid train images to calibrate on")
    parser.add_argument("--val-limit", type=int, default=0, help="first N val images only (0: all 101)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (torch and ONNX Runtime)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per runtime")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--json-out", nargs="?", const=DEFAULT_JSONL, type=Path, help="append the JSON line here")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    line = json.dumps(result)
    print(line)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with args.json_out.open("a") as handle:
            handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
