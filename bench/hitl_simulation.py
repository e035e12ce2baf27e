"""Human-effort benchmark: a simulated team labels CamVid through the app itself.

The command documented in docs/benchmarks.md; the simulation itself is the package
bench/hitl/ (its docstring describes strategies, reviewers, the cost model and the full
benchmark's commands):

    python bench/hitl_simulation.py --strategy diverse --seed 0 --rounds 1
    python bench/hitl_simulation.py --table --plot
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for path in (BENCH.parent, BENCH):  # webapp/ and ml/; hitl/, harness and report
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness import AppEnvironment as Environment  # noqa: E402
from hitl.app import actors, evaluate_active, seed_labels, setup_project, train_and_wait  # noqa: E402
from hitl.cli import main  # noqa: E402
from hitl.config import (  # noqa: E402
    DEFAULT_DATA,
    ROOT,
    SECONDS_PER_CLICK,
    SECONDS_PER_IMAGE_FROM_SCRATCH,
    SECONDS_PER_KEPT_REGION,
    SEQUENCES,
    parse_args,
)
from hitl.plot import plot  # noqa: E402
from hitl.results import by_round, full_supervision_at, load_records, table  # noqa: E402
from hitl.review import region_fix  # noqa: E402
from report import git_commit as _git_commit  # noqa: E402

# What bench/app_round.py and the tests reach through this module.
__all__ = [
    "DEFAULT_DATA",
    "ROOT",
    "SECONDS_PER_CLICK",
    "SECONDS_PER_IMAGE_FROM_SCRATCH",
    "SECONDS_PER_KEPT_REGION",
    "SEQUENCES",
    "Environment",
    "_git_commit",
    "actors",
    "by_round",
    "evaluate_active",
    "full_supervision_at",
    "load_records",
    "main",
    "parse_args",
    "plot",
    "region_fix",
    "seed_labels",
    "setup_project",
    "table",
    "train_and_wait",
]

if __name__ == "__main__":
    sys.exit(main())
