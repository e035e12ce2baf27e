"""Does the first round learn more from suggested seed images than from random ones?

The HITL simulation (bench/hitl_simulation.py) starts every strategy from 12 random seed
masks. A new project can instead follow "Suggested to label next" (issue 12's seed
suggestions: TypiClust over the pretrained student encoder's features). This script trains
round 0 through the app, exactly as the HITL simulation's round 0 (same profile, same
steps, the training seed = --seed), with the 12 seed masks taken from the suggestions:

* a fresh project (setup_project), every train image imported without a mask;
* embeddings computed with the app's service (webapp.images.embeddings), as the default-queue
  worker does after an upload;
* the first --seed-labels suggestions (webapp.images.selectors.seed_suggestions_for) get
  their ground truth as human masks, one at a time, re-reading the suggestions after each
  mask as the page does;
* one round by a real Celery worker; the served student is evaluated on CamVid val.

One JSON line per seed goes to bench/results/seed_suggestions.jsonl. ``--table`` puts them
beside the HITL simulation's round-0 lines (random seeds) of the same profile:

    python bench/seed_suggestions.py --seed 0 --threads 1     # and --seed 1, --seed 2
    python bench/seed_suggestions.py --table
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # webapp/ and ml/; bench/ is on sys.path when a script runs

from harness import AppEnvironment  # noqa: E402
from hitl.app import actors, evaluate_active, setup_project, train_and_wait  # noqa: E402
from hitl.config import DEFAULT_DATA, PROFILE_NAMES, SEQUENCES, train_config_for  # noqa: E402
from hitl.config import DEFAULT_RESULTS as HITL_RESULTS  # noqa: E402
from hitl.data import ground_truth  # noqa: E402
from hitl.measures import sequence_of  # noqa: E402
from hitl.results import load_records  # noqa: E402
from hitl.rounds import record_append  # noqa: E402
from hitl.state import SimulationState  # noqa: E402
from report import git_commit, machine_summary  # noqa: E402

DEFAULT_RESULTS = ROOT / "bench" / "results" / "seed_suggestions.jsonl"
DEFAULT_WORK = ROOT / "bench" / "results" / "seed_suggestions_work"


def label_suggested(state: SimulationState, n: int) -> list[int]:
    """Follow the project page's suggestions: label the first one, ask again, n times."""
    from webapp.images.embeddings import image_embeddings_compute
    from webapp.images.selectors import seed_suggestions_for
    from webapp.images.services import mask_save

    project, admin, _ = actors(state)
    image_embeddings_compute(project=project)
    chosen = []
    for _ in range(n):
        suggestions = seed_suggestions_for(project=project, n=1)
        if not suggestions:
            break
        image = suggestions[0]
        gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
        mask_save(image=image, base_version=image.mask_version, array=gt, author=admin)
        chosen.append(image.pk)
    return chosen


def run(args) -> dict:
    overrides = json.loads(args.set or "{}")
    train_config, source = train_config_for(profile=args.profile, seed=args.seed, overrides=overrides)
    state_dir = Path(args.work_dir) / f"seed{args.seed}"
    if state_dir.exists():
        raise SystemExit(f"{state_dir} exists: remove it to measure this seed again")
    env = AppEnvironment(state_dir, args.threads)
    env.start()
    try:
        state = setup_project(args, train_config, with_masks=False)
        started = time.monotonic()
        chosen = label_suggested(state, args.seed_labels)
        picking_s = time.monotonic() - started
        run_info = train_and_wait(env, state, args.round_timeout)
        ev = evaluate_active(state, args, train_config)
    finally:
        env.stop()
    record = {
        "bench": "seed_suggestions",
        "strategy": "suggested_seeds",
        "seed": args.seed,
        "round": 0,
        "seed_labels": len(chosen),
        "picking_s": round(picking_s, 1),
        "by_sequence": {**dict.fromkeys(SEQUENCES, 0), **Counter(sequence_of(state.gt[str(i)]) for i in chosen)},
        "val_miou": ev["val_miou"],
        "per_class_iou": ev["per_class_iou"],
        "run": run_info,
        "profile": args.profile,
        "profile_source": source,
        "overrides": overrides,
        "train_config": train_config,
        "threads": args.threads,
        "machine": machine_summary(),
        "git_commit": git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    record_append(Path(args.results), record)
    return record


def _pm(values: list[float]) -> str:
    if not values:
        return "-"
    spread = f" ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{100 * statistics.mean(values):.1f}{spread} (n={len(values)})"


def _sequences(counts: dict) -> str:
    return " / ".join(str(counts.get(s, 0)) for s in SEQUENCES)


def table(args) -> str:
    overrides = json.loads(args.set or "{}")
    suggested = (
        load_records(Path(args.results), args.profile, overrides, bench="seed_suggestions", version=None)
        if Path(args.results).exists()
        else []
    )
    random_round0: dict[int, dict] = {}
    for r in load_records(Path(args.hitl_results), args.profile, overrides):
        if r.get("round") == 0 and r.get("strategy") != "full_supervision":
            random_round0.setdefault(r["seed"], r)  # the strategies of a seed share one round 0
    return "\n".join(
        [
            "| round-0 seed masks | seeds | val mIoU, mean ± std | "
            "images per sequence (0001TP / 0006R0 / 0016E5 / Seq05VD), per seed |",
            "|---|---|---|---|",
            f"| {args.seed_labels} random | {sorted(random_round0)} | "
            f"{_pm([r['val_miou'] for r in random_round0.values()])} | "
            f"{'; '.join(_sequences(r['touched_by_sequence']) for r in random_round0.values())} |",
            f"| {args.seed_labels} suggested | {sorted(r['seed'] for r in suggested)} | "
            f"{_pm([r['val_miou'] for r in suggested])} | "
            f"{'; '.join(_sequences(r['by_sequence']) for r in suggested)} |",
        ]
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="training seed (the suggestions do not depend on it)")
    p.add_argument("--seed-labels", type=int, default=12)
    p.add_argument("--profile", choices=PROFILE_NAMES, default="hitl")
    p.add_argument("--set", help="JSON of TrainConfig overrides")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--train-limit", type=int)
    p.add_argument("--val-limit", type=int)
    p.add_argument("--review-threshold", type=float, default=0.9)
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--hitl-results", type=Path, default=HITL_RESULTS)
    p.add_argument("--round-timeout", type=float, default=3 * 3600)
    p.add_argument("--table", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        print(table(args))
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
