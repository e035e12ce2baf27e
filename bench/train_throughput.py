"""Training throughput of the app's default networks: images/s per network and stage, for
eager fp32, bf16 autocast, channels_last and torch.compile.

    python bench/train_throughput.py                      # all modes, prints JSON lines
    python bench/train_throughput.py --modes fp32,bf16 --crop 224 --batch 4

Per network ("su", "ru", "student") it times a forward + backward + AdamW step on a batch of
random crops (what a supervised step costs), and per stage it times the real step functions
of ml.train (stage 1: both teachers on labeled + weak + strong views, with CPS and DL;
stage 2: the student on labeled + unlabeled views with the frozen teachers' targets).
Each figure is the median of --repeat timed steps after --warmup steps. Results are appended
to bench/results/train_throughput.jsonl with the CPU model; compare only runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from cpu_info import cpu_model  # noqa: E402  (bench/ is on sys.path when a script runs)

from ml import losses as L  # noqa: E402
from ml.models import build_segmenter  # noqa: E402
from ml.runtime import autocast, cpu_has_native_bf16, resolve_device  # noqa: E402
from ml.train import APP_DEFAULT_CONFIG, TrainConfig, make_plan, student_step, teacher_step  # noqa: E402

MODES = ("fp32", "bf16", "bf16_channels_last", "bf16_compiled")
DEFAULT_RESULTS = ROOT / "bench" / "results" / "train_throughput.jsonl"


def _batches(cfg: TrainConfig, crop: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    n, m = cfg.batch_size, cfg.unlabeled_batch_size
    lab = {
        "image": torch.randn(n, 3, crop, crop, generator=g),
        "mask": torch.randint(0, cfg.num_classes, (n, crop, crop), generator=g),
        "weight": torch.ones(n),
    }
    unl = {
        "image_w": torch.randn(m, 3, crop, crop, generator=g),
        "image_s": torch.randn(m, 3, crop, crop, generator=g),
        "valid": torch.ones(m, crop, crop, dtype=torch.bool),
    }
    move = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
    return move(lab), move(unl)


def _prepare(model, mode: str):
    if "channels_last" in mode:
        model = model.to(memory_format=torch.channels_last)
    if "compiled" in mode:
        model = torch.compile(model)
    return model


def _time(step, warmup: int, repeat: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(mode: str, cfg: TrainConfig, crop: int, warmup: int, repeat: int, device: torch.device) -> list[dict]:
    amp = mode != "fp32"
    plan = make_plan(cfg)
    specs = {**plan.teacher_specs, "student": plan.student_spec}
    nets = {r: _prepare(build_segmenter(s, pretrained=True, role=r).to(device), mode) for r, s in specs.items()}
    opts = {r: torch.optim.AdamW(m.parameters(), lr=1e-4) for r, m in nets.items()}
    lab, unl = _batches(cfg, crop, device)
    rows = []

    def network_step(role):
        def step():
            opts[role].zero_grad(set_to_none=True)
            with autocast(device, amp):
                loss = L.supervised_loss(nets[role](lab["image"]), lab["mask"], cfg.ignore_index)
            loss.backward()
            opts[role].step()

        return step

    for role in nets:
        s = _time(network_step(role), warmup, repeat)
        rows.append({"what": f"network:{role}", "images_per_step": cfg.batch_size, "step_s": s})

    teachers = {r: nets[r] for r in plan.teacher_specs}

    def stage1():
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        with autocast(device, amp):
            out = teacher_step(teachers, lab, unl, cfg=cfg, plan=plan, step=50, total=100)
            sup = L.supervised_loss(nets["student"](lab["image"]), lab["mask"], cfg.ignore_index)
        (out["loss"] + sup).backward()
        for o in opts.values():
            o.step()

    rows.append(
        {
            "what": "stage:teachers (+ student beside them)",
            "images_per_step": cfg.batch_size + 2 * cfg.unlabeled_batch_size,
            "step_s": _time(stage1, warmup, repeat),
        }
    )
    frozen = {r: m.eval().requires_grad_(False) for r, m in teachers.items()}

    def stage2():
        opts["student"].zero_grad(set_to_none=True)
        with autocast(device, amp):
            out = student_step(nets["student"], frozen, lab, unl, cfg=cfg, plan=plan, step=51, total=100)
        out["loss"].backward()
        opts["student"].step()

    rows.append(
        {
            "what": "stage:student",
            "images_per_step": cfg.batch_size + cfg.unlabeled_batch_size,
            "step_s": _time(stage2, warmup, repeat),
        }
    )
    for row in rows:
        row["images_per_s"] = round(row["images_per_step"] / row["step_s"], 2)
        row["step_s"] = round(row["step_s"], 4)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated: {', '.join(MODES)}")
    p.add_argument("--crop", type=int, default=APP_DEFAULT_CONFIG["crop_size"])
    p.add_argument("--batch", type=int, default=APP_DEFAULT_CONFIG["batch_size"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--other-load", default="", help="what else ran on the machine (recorded)")
    p.add_argument("--results", default=str(DEFAULT_RESULTS))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    cfg = TrainConfig.from_dict(
        {**APP_DEFAULT_CONFIG, "num_classes": 11, "batch_size": args.batch, "unlabeled_batch_size": args.batch}
    )
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    for mode in args.modes.split(","):
        if mode not in MODES:
            p.error(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        started = time.perf_counter()
        rows = measure(mode, cfg, args.crop, args.warmup, args.repeat, device)
        for row in rows:
            record = {
                "mode": mode,
                **row,
                "crop": args.crop,
                "batch": args.batch,
                "device": str(device),
                "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                "cpu": cpu_model(),
                "cpu_native_bf16": cpu_has_native_bf16(),
                "threads": torch.get_num_threads(),
                "mode_wall_s": round(time.perf_counter() - started, 1),
                "other_load": args.other_load,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            print(json.dumps(record), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
