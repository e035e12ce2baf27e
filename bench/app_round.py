"""The app's default round, tried as a new user would, against a supervised fine-tune given
the same wall time.

Through the app itself (bench/hitl_simulation.py's harness: a fresh SQLite database and media
folder, the embedded Redis, a real Celery worker): the CamVid preset project, all 367 train
images imported at full resolution, ``--labels`` of them (seeded) given their human masks,
the project's default validation share, and one round started with ``training_run_start``
with the app's default config (ml/train/defaults.py). While it runs, the page's time-left
estimate (``run_seconds_left``) is sampled, so the docs can say how honest it was. The served
student is then scored on CamVid val.

The baseline is the same project and labels with ``{"method": "supervised", "max_minutes": M}``
where M is the default round's measured wall time (training and pseudo-labelling): plain
fine-tuning of the same pretrained student for the same time.

    python bench/app_round.py --seed 0                 # default round, then the baseline
    python bench/app_round.py --seed 0 --only default  # just the default round
    python bench/app_round.py --table                  # Markdown table of the results

One JSON line per round goes to bench/results/app_round.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import hitl_simulation as hitl  # noqa: E402
from cpu_info import cpu_model  # noqa: E402

DEFAULT_RESULTS = ROOT / "bench" / "results" / "app_round.jsonl"
DEFAULT_WORK = ROOT / "runs" / "app_round"


def _args_for_harness(args) -> argparse.Namespace:
    return argparse.Namespace(
        data=args.data, train_limit=args.train_limit, val_limit=args.val_limit, review_threshold=0.9, profile="cpu"
    )


def run_round(name: str, config: dict, args) -> dict:
    """A fresh project with --labels human masks, one round with ``config``, scored on val."""
    from ml.train import APP_DEFAULT_CONFIG

    state_dir = Path(args.work_dir) / f"{name}_s{args.seed}"
    if state_dir.exists():
        shutil.rmtree(state_dir)
    env = hitl.Environment(state_dir, threads=args.threads)
    env.start()
    try:
        harness = _args_for_harness(args)
        train_config = {**APP_DEFAULT_CONFIG, "seed": args.seed, **config}
        share = _default_validation_share() if args.validation_share is None else args.validation_share
        state = hitl.setup_project(harness, train_config, with_masks=False, validation_share=share)
        hitl.seed_labels(state, args.labels, args.seed)
        run = train_and_sample_estimates(env, state, args.round_timeout)
        evaluation = hitl.evaluate_active(state, harness, train_config)
    finally:
        env.stop()
    share = _default_validation_share() if args.validation_share is None else args.validation_share
    record = {
        "round": name,
        "seed": args.seed,
        "labels": args.labels,
        **run,
        **evaluation,
        "config": config,
        "validation_share": share,
        "cpu": cpu_model(),
        "threads": args.threads,
        "other_load": args.other_load,
        "git_commit": hitl._git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("per_class_iou", "timings")}), flush=True)
    return record


def _default_validation_share() -> float:
    """A new user keeps the project's default share of images flagged for validation."""
    from webapp.projects.models import Project

    return Project._meta.get_field("validation_share").default


def train_and_sample_estimates(env, state: dict, timeout_s: float) -> dict:
    """hitl.train_and_wait, sampling the page's estimate of the total time at every poll."""
    from webapp.training.models import RunStatus
    from webapp.training.selectors import run_seconds_left

    estimates = []

    def sample(row, elapsed: float) -> None:
        left = run_seconds_left(row) if row.status == RunStatus.RUNNING else None
        if left is not None:
            estimates.append(
                {
                    "elapsed_s": round(elapsed, 1),
                    "predicted_total_s": round(elapsed + left, 1),
                    "phase": row.phase,
                    "stage": row.stage,
                    "step": row.step,
                }
            )

    run = hitl.train_and_wait(env, state, timeout_s, on_poll=sample)
    total = run["run_wall_s"]
    return {
        **run,
        "estimate_error": estimate_error(estimates, total),
        "estimates": estimates[:: max(1, len(estimates) // 60)],
    }


def estimate_error(estimates: list[dict], total: float) -> dict:
    """How far the page's predicted total was from the real one, once steps were measured:
    the worst relative error after the first 10 % of the run, and at 10 / 25 / 50 %."""
    out: dict = {}
    later = [e for e in estimates if e["elapsed_s"] >= 0.1 * total]
    if later:
        out["max_rel_after_10pct"] = round(max(abs(e["predicted_total_s"] - total) / total for e in later), 3)
    for share in (0.1, 0.25, 0.5):
        near = [e for e in estimates if e["elapsed_s"] >= share * total]
        if near:
            out[f"rel_at_{int(share * 100)}pct"] = round((near[0]["predicted_total_s"] - total) / total, 3)
    return out


def _last(results: Path, name: str, seed: int) -> dict:
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["round"] == name and r["seed"] == seed][-1]


def table(results: Path) -> str:
    rows: dict[str, list[dict]] = {}
    for line in results.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            overrides = {k: v for k, v in r["config"].items() if k != "max_minutes"}
            name = r["round"] + (f" {json.dumps(overrides)}" if r["round"] == "default" and overrides else "")
            if (r["timings"].get("gate") or {}).get("skipped"):  # min_teacher_steps (from 2026-12-07)
                name += " [teachers skipped]"
            if r["round"] == "supervised_same_time":
                name += f" ({r['config']['max_minutes']:g} min)"
            rows.setdefault(name, []).append(r)
    lines = [
        "| round | seeds | val mIoU (student) | teachers' val mIoU (in-run) | wall (min) | "
        "page estimate, worst error after 10 % | gate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rs in rows.items():
        mious = [r["val_miou"] * 100 for r in rs]
        spread = f" ± {statistics.stdev(mious):.1f}" if len(mious) > 1 else ""
        gates = {(r["timings"].get("gate") or {}).get("used") for r in rs}
        teacher = []
        for r in rs:
            g = r["timings"].get("gate") or {}
            teacher.append(
                ", ".join(f"{k.upper()} {v * 100:.1f}" for k, v in (g.get("teachers") or {}).items() if v is not None)
            )
        err = [r["estimate_error"].get("max_rel_after_10pct") for r in rs if r.get("estimate_error")]
        lines.append(
            f"| {name} | {len(rs)} | {statistics.mean(mious):.1f}{spread} | "
            f"{'; '.join(t for t in teacher if t) or '-'} | "
            f"{statistics.mean(r['run_wall_s'] for r in rs) / 60:.1f} | "
            f"{', '.join(f'{e * 100:.0f} %' for e in err if e is not None) or '-'} | "
            f"{', '.join(str(g) for g in gates if g is not None) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", type=int, default=45, help="human masks before the round")
    p.add_argument("--only", choices=("default", "supervised"), help="run one of the two rounds")
    p.add_argument(
        "--baseline-minutes",
        type=float,
        help="the supervised round's budget (default: the default round's measured wall time)",
    )
    p.add_argument("--set", help="JSON of TrainConfig overrides for the default round")
    p.add_argument(
        "--validation-share",
        type=float,
        help="share of images flagged for validation (default: the project default, 0.2)",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--data", type=Path, default=hitl.DEFAULT_DATA)
    p.add_argument("--train-limit", type=int)
    p.add_argument("--val-limit", type=int)
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--round-timeout", type=float, default=3 * 3600)
    p.add_argument("--other-load", default="")
    p.add_argument("--table", action="store_true")
    args = p.parse_args(argv)
    if args.table:
        print(table(Path(args.results)))
        return 0
    if args.only is None:
        # Django binds to one database per process: each round runs in a process of its own.
        base = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])]
        subprocess.run([*base, "--only", "default"], check=True)
        minutes = args.baseline_minutes or _last(Path(args.results), "default", args.seed)["run_wall_s"] / 60
        subprocess.run([*base, "--only", "supervised", "--baseline-minutes", f"{minutes:.2f}"], check=True)
    elif args.only == "default":
        run_round("default", json.loads(args.set or "{}"), args)
    else:
        if args.baseline_minutes is None:
            p.error("--only supervised needs --baseline-minutes")
        run_round("supervised_same_time", {"method": "supervised", "max_minutes": args.baseline_minutes}, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
