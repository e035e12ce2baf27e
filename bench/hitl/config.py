"""The simulation's constants, profiles and configuration (the command line as a dataclass)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = "Human-effort benchmark: a simulated team labels CamVid through the app itself."

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "camvid"
DEFAULT_WORK = ROOT / "bench" / "results" / "hitl_work"
DEFAULT_RESULTS = ROOT / "bench" / "results" / "hitl.jsonl"
DEFAULT_PLOT = ROOT / "docs" / "hitl.png"
BENCH_VERSION = 2  # records of earlier versions (other strategies, no seeds) stay out of the table
VOID = 11  # CamVid's "unlabelled", the preset's ignore class
QUEUE_STRATEGIES = ("diverse", "least_confident")
STRATEGIES = (*QUEUE_STRATEGIES, "random")
FULL_SUPERVISION = "full_supervision"
OLD_STRATEGY_NAMES = {"uncertainty": "least_confident"}
WHOLE, REGION, CLICKS, SCRATCH = "whole", "region", "clicks", "scratch"  # how the humans' work was done
REVIEWERS = (WHOLE, REGION, CLICKS)
REGION_REVIEWERS = (REGION, CLICKS)  # the two ways of reviewing by region
REGION_SUFFIX = "+region"  # the table's name of a queue strategy reviewed by region
CLICKS_SUFFIX = "+clicks"  # ... by region with clicks only (Cai et al.'s dominant-class labels)
MODE_SUFFIXES = {REGION: REGION_SUFFIX, CLICKS: CLICKS_SUFFIX}
# Review by region (webapp.review.regions uses the same rule in the app).
TAU_DEFAULT = 0.95  # ml.train.TrainConfig's tau, for a run whose config has none
# The cost model (sources in bench/hitl/__init__.py's docstring).
SECONDS_PER_CLICK = 1.0
SECONDS_PER_KEPT_REGION = 1.0
SECONDS_PER_IMAGE_FROM_SCRATCH = 5400.0
COST_MODEL = {
    "seconds_per_click": SECONDS_PER_CLICK,
    "seconds_per_kept_region": SECONDS_PER_KEPT_REGION,
    "seconds_per_image_from_scratch": SECONDS_PER_IMAGE_FROM_SCRATCH,
    "painted": "share of the image's area x seconds_per_image_from_scratch",
}
# Issue 13's targets.
REGION_COST_SHARE = 1 / 3  # region review at most a third of whole-image correction's seconds
SEQUENCES = ("0001TP", "0006R0", "0016E5", "Seq05VD")  # CamVid file names start with one
OTHER_SEQUENCE = "other"
AUDIT = "audit"  # the pick kind counted for an audit item (ReviewItem.is_audit)
OUTSIDE_QUEUE = "outside_queue"  # an accepted pseudo-label corrected because the queue ran dry
COST_COUNTS = ("clicks", "brush_pixels", "regions_checked")  # region review's counts, totalled per line
ADMIN, REVIEWER = "hitl-admin", "hitl-reviewer"
POLL_S = 5.0  # longest pause between two reads of the run row (short at first)
# Issue 12's targets.
FULL_SUPERVISION_95 = 0.95
QUARTER = 0.25
AHEAD_OF_RANDOM_POINTS = 2.0
ACCEPTED_SHARE_TARGET = 1 / 3

# The hitl profile's steps per round (the rest is camvid_ssl's cpu profile).
HITL_STEPS = {"teacher_steps": 60, "student_steps": 150}
# Seconds-long rounds on 64x48 images, for the smoke test only.
TINY_PROFILE = {
    "long_side": None,
    "crop_size": 32,
    "batch_size": 2,
    "unlabeled_batch_size": 2,
    "teacher_steps": 2,
    "student_steps": 2,
    "eval_every": 100000,
    "save_every": 100,
    "su_encoder": "swin_tiny_patch4_window7_224",
    "su_kwargs": {
        "encoder_kwargs": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8]},
        "decoder_depth": 1,
    },
    "ru_encoder": "resnet18",
    "ru_kwargs": {"decoder_channels": [16, 16, 16, 16, 16]},
    "student_encoder": "mobilenetv3_small_100",
    "student_kwargs": {"decoder_channels": [16, 16, 16, 16, 16]},
}
PROFILE_NAMES = ("hitl", "cpu", "gpu", "tiny")


def profile_config(name: str) -> tuple[dict, str]:
    """(TrainConfig fields of the profile, where they came from).

    Rounds train the profile's step counts: the app default's time budget (max_minutes) is
    switched off, so every strategy and round gets the same steps."""
    fixed_steps = {"max_minutes": None}
    if name == "tiny":
        return {**TINY_PROFILE, **fixed_steps}, "bench/hitl/config.py TINY_PROFILE"
    from camvid_ssl import PROFILES  # here: camvid_ssl imports torch and the training library

    if name == "hitl":
        return (
            {**PROFILES["cpu"], **HITL_STEPS, **fixed_steps},
            f"bench/camvid_ssl.py PROFILES['cpu'] with bench/hitl/config.py HITL_STEPS {HITL_STEPS}",
        )
    return {**PROFILES[name], **fixed_steps}, f"bench/camvid_ssl.py PROFILES[{name!r}]"


def train_config_for(*, profile: str, seed: int, overrides: dict) -> tuple[dict, str]:
    """The profile, the seed's training seed, then --set."""
    base, source = profile_config(profile)
    return {**base, "seed": seed, **overrides}, source


class DataSource(Protocol):
    """Where a project's images come from and how it is set up (SimulationConfig, or
    bench/app_round.py's namespace of the same fields)."""

    data: Path
    train_limit: int | None
    val_limit: int | None
    review_threshold: float
    profile: str


def device_for(profile: str) -> str:
    """The gpu profile trains wherever CUDA is ("auto"); the others on the CPU."""
    return "auto" if profile == "gpu" else "cpu"


@dataclass(frozen=True)
class SimulationConfig:
    """One call of the simulation: the command line's options (see parse_args)."""

    strategy: str | None = None
    reviewer: str = WHOLE
    seed: int = 0
    rounds: int = 1
    max_rounds: int | None = None
    full_supervision: bool = False
    pool_eval: bool = False
    plot: bool = False
    table: bool = False
    budget: int = 12
    accept: int = 0
    seed_labels: int = 12
    review_threshold: float = 0.9
    target_error: float | None = None  # the project's target pixel error (None: the app's default)
    profile: str = "hitl"
    overrides: dict = field(default_factory=dict)  # --set
    threads: int = 1
    data: Path = DEFAULT_DATA
    train_limit: int | None = None
    val_limit: int | None = None
    work_dir: Path = DEFAULT_WORK
    results: Path = DEFAULT_RESULTS
    plot_out: Path = DEFAULT_PLOT
    round_timeout: float = 6 * 3600

    def train_config(self) -> tuple[dict, str]:
        return train_config_for(profile=self.profile, seed=self.seed, overrides=self.overrides)

    @property
    def device(self) -> str:
        return device_for(self.profile)

    @property
    def reviewer_kind(self) -> str:
        """How this call's humans work: the queue strategies' --reviewer; the rest paint from scratch."""
        return reviewer_of(self.strategy, self.reviewer)

    @property
    def seed_dir(self) -> Path:
        return self.work_dir / f"seed{self.seed}"

    @property
    def strategy_dir(self) -> Path:
        """The strategy's state folder: one per reviewer, the whole one under the strategy's name."""
        return self.seed_dir / (f"{self.strategy}-{self.reviewer}" if self.reviewer != WHOLE else str(self.strategy))

    @property
    def round0_dir(self) -> Path:
        return self.seed_dir / "round0"


def reviewer_of(strategy: str | None, reviewer: str = WHOLE) -> str:
    """How the humans' work of a line was done: the queue strategies' reviewer; the rest
    painted from scratch."""
    return reviewer if strategy in QUEUE_STRATEGIES else SCRATCH


def parse_args(argv: list[str] | None = None) -> SimulationConfig:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--strategy", choices=STRATEGIES)
    p.add_argument(
        "--reviewer",
        choices=REVIEWERS,
        default=WHOLE,
        help="queue strategies: correct each picked item whole (default), by region (issue 13: clicks, then "
        "the rest of the doubtful regions painted) or by region with clicks only (Cai et al. 2021)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed labels, random picks and training seed; each seed has its own work folder",
    )
    p.add_argument("--rounds", type=int, default=1, help="rounds to run in this call (round 0 = seed labels)")
    p.add_argument("--max-rounds", type=int, help="never go past this round number")
    p.add_argument(
        "--full-supervision", action="store_true", help="every train image labeled; --rounds rounds like a strategy"
    )
    p.add_argument(
        "--pool-eval",
        action="store_true",
        help="with --strategy: score the whole train pool's labels (human + student) after each round",
    )
    p.add_argument("--plot", action="store_true", help=f"write the plot ({DEFAULT_PLOT.relative_to(ROOT)})")
    p.add_argument("--table", action="store_true", help="print the Markdown tables and targets of the results file")
    p.add_argument(
        "--budget",
        type=int,
        default=12,
        help="images touched by humans per round (also the project's review batch size)",
    )
    p.add_argument(
        "--accept",
        type=int,
        default=0,
        help="queue items also accepted unchecked per round, after the budget (default 0)",
    )
    p.add_argument("--seed-labels", type=int, default=12, help="human masks before round 0")
    p.add_argument(
        "--review-threshold",
        type=float,
        default=0.9,
        help="project review threshold: the fallback until the threshold is calibrated",
    )
    p.add_argument(
        "--target-error",
        type=float,
        help="the project's target pixel error for auto-accept (default: the app's, 5 %%)",
    )
    p.add_argument("--profile", choices=PROFILE_NAMES, default="hitl")
    p.add_argument("--set", help="JSON of TrainConfig overrides, e.g. '{\"teacher_steps\": 40}'")
    p.add_argument(
        "--threads",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 2) // 2)),
        help="torch/OMP threads of the worker and the evaluation (default: half the cores)",
    )
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="CamVid-like folder: train/, trainannot/, val/, valannot/"
    )
    p.add_argument("--train-limit", type=int, help="import only the first N train images (smoke tests)")
    p.add_argument("--val-limit", type=int, help="evaluate on the first N val images only (smoke tests)")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--plot-out", type=Path, default=DEFAULT_PLOT)
    p.add_argument("--round-timeout", type=float, default=6 * 3600, help="give up on a run after this many seconds")
    args = p.parse_args(argv)
    try:
        overrides = json.loads(args.set or "{}")
    except json.JSONDecodeError as error:
        p.error(f"--set is not JSON: {error}")
    if not (args.strategy or args.full_supervision or args.plot or args.table):
        p.error("give --strategy, --full-supervision, --plot or --table")
    if args.target_error is not None and not 0.001 <= args.target_error <= 0.5:
        p.error("--target-error is a share of pixels between 0.001 and 0.5 (the project setting's bounds)")
    if args.reviewer in REGION_REVIEWERS and args.strategy not in QUEUE_STRATEGIES:
        p.error(f"--reviewer {args.reviewer} reviews queue items: give --strategy {' or '.join(QUEUE_STRATEGIES)}")
    options = {k: v for k, v in vars(args).items() if k != "set"}
    return SimulationConfig(**options, overrides=overrides)
