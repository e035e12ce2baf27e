"""Data-parallel scaling: images/s of real training rounds (ml.train.train_round) on 1, 2, 4, ...
GPUs, up to --max-gpus (that number itself always included).

    python bench/ddp_throughput.py --max-gpus 8 --results /tmp/ddp.jsonl

Per GPU count and stage it trains one round of the app's default networks on synthetic
480x360 images (cached in memory, as a round caches them): "student" (supervised, the student
alone) and "teachers" (stage 1 of igl_dt: both teachers on labeled + weak + strong views).
Each rank takes --batch labeled (and unlabeled) images a step (TrainConfig.gpus rule: the
global batch is N x batch). images/s counts the images of every rank, from the progress
events of the steps after the first --warmup (the first steps build cuDNN plans); scaling is
images/s over the same stage's images/s on one GPU. Prints JSON lines and appends them to
--results. Needs CUDA (or --device cpu --cpu-ranks, which checks the script, not a speed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ml.train import APP_DEFAULT_CONFIG, TrainConfig, train_round  # noqa: E402

STAGES = {
    "student": {"method": "supervised"},
    "teachers": {"method": "igl_dt", "teacher_gate": False, "student_steps": 0, "min_teacher_steps": 0},
}


def synthetic_set(root: Path, n: int, classes: int) -> list[tuple[Path, Path]]:
    """n 480x360 images of random blocks, with masks of their block classes."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(n):
        mask = np.kron(rng.integers(0, classes, (9, 12)), np.ones((40, 40), np.int64)).astype(np.uint8)
        img = (mask[..., None] * (255 // classes) + rng.integers(0, 40, (360, 480, 3))).clip(0, 255).astype(np.uint8)
        ip, mp = root / f"{i:03d}.png", root / f"{i:03d}_m.png"
        Image.fromarray(img).save(ip)
        Image.fromarray(mask, mode="L").save(mp)
        pairs.append((ip, mp))
    return pairs


def counts(max_gpus: int) -> list[int]:
    out, k = [], 1
    while k < max_gpus:
        out.append(k)
        k *= 2
    return [*out, max_gpus]


def run(stage: str, n: int, args, pairs, out_dir: Path) -> dict:
    cfg = TrainConfig.from_dict(
        {
            **APP_DEFAULT_CONFIG,
            "num_classes": 4,
            "max_minutes": None,
            "pretrained": [],  # speed does not depend on the starting weights
            "crop_size": args.crop,
            "batch_size": args.batch,
            "unlabeled_batch_size": args.batch,
            "teacher_steps": args.steps,
            "student_steps": args.steps,
            "save_every": 10**6,
            "eval_every": 10**6,
            "num_workers": args.workers,
            "device": args.device,
            "gpus": n,
            "cpu_ranks": n,
            **STAGES[stage],
        }
    )
    stamps: list[tuple[int, float]] = []
    started = time.monotonic()
    train_round(
        cfg,
        labeled=pairs,
        unlabeled=[p for p, _ in pairs] if stage == "teachers" else [],
        out_dir=out_dir / f"{stage}_{n}",
        progress=lambda e: stamps.append((e.step, time.monotonic())),
    )
    timed = [t for s, t in stamps if s >= args.warmup]
    per_step = (timed[-1] - timed[0]) / max(1, len(timed) - 1)
    images = n * args.batch * (3 if stage == "teachers" else 1)  # teachers: labeled + weak + strong
    return {
        "bench": "ddp_throughput",
        "stage": stage,
        "gpus": n,
        "batch_per_rank": args.batch,
        "crop": args.crop,
        "step_s": round(per_step, 4),
        "images_per_s": round(images / per_step, 1),
        "round_s": round(time.monotonic() - started, 1),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-gpus", type=int, default=torch.cuda.device_count())
    ap.add_argument("--stages", default="student,teachers")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=352)
    ap.add_argument("--workers", type=int, default=2, help="data loader processes per rank")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args()
    if args.max_gpus < 1:
        sys.exit("no GPU: pass --device cpu and --max-gpus N to check the script on CPU ranks")
    with tempfile.TemporaryDirectory(prefix="ddp-bench-") as tmp:
        pairs = synthetic_set(Path(tmp) / "data", args.images, 4)
        for stage in args.stages.split(","):
            base = None
            for n in counts(args.max_gpus):
                row = run(stage, n, args, pairs, Path(tmp) / "runs")
                base = base or row["images_per_s"]
                row["scaling"] = round(row["images_per_s"] / base, 2)
                line = json.dumps(row)
                print(line, flush=True)
                if args.results:
                    with args.results.open("a") as f:
                        f.write(line + "\n")


if __name__ == "__main__":
    main()
