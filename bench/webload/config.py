"""The web load benchmark's constants and configuration (the command line as a dataclass)."""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_JSONL = REPO / "bench" / "results" / "web_load.jsonl"
DESCRIPTION = "Web load benchmark: segloop served as in production, under concurrent annotators and reviewers."
EPILOG = """\
    .venv/bin/python bench/web_load.py                       # 50 users, 100,000 images, 2 x 60 s
    .venv/bin/python bench/web_load.py --users 3 --duration 3 --images 300 --no-jsonl  # smoke
"""
WIDTH, HEIGHT = 480, 360
CLASSES = [("background", False), ("road", False), ("car", False), ("void", True)]
PASSWORD = "bench-password-8231"
TARGET_MASK_SAVE_P95_MS = 150.0
TARGET_REVIEW_NEXT_P95_MS = 30.0
ITEM_RE = re.compile(r'data-item="(\d+)"')
SCENARIOS = ("annotate", "browse")
UNKNOWN_SCENARIOS = "unknown scenarios {names}; choose from {known}"


@dataclass(frozen=True)
class WebLoadConfig:
    """One run: load shape, data size, servers (see parse_args for each option's meaning)."""

    users: int = 50
    duration: float = 60.0
    spawn_rate: float = 25.0
    think: float = 1.0
    scenarios: tuple[str, ...] = SCENARIOS
    images: int = 100_000
    review_share: float = 0.4
    pseudo_share: float = 0.2
    edit_pool: int = 1000
    workers: int = 3
    threads: int = 4
    login_concurrency: int = 4
    pg: str = "postgres://postgres@127.0.0.1:5432"
    db_name: str = "segloop_bench"
    redis: str = "redis://127.0.0.1:6379"
    redis_db: int = 13
    port: int = 0
    seed: int = 0
    explain: bool = False
    query_profile: bool = False
    baseline: float = 10.0
    keep_alive: int = 5
    jsonl: Path = DEFAULT_JSONL
    no_jsonl: bool = False
    write_docs: bool = False

    def as_record(self) -> dict:
        """The options as the record's "config" (paths as text, scenarios as the option gave them)."""
        out = asdict(self)
        out["jsonl"] = str(self.jsonl)
        out["scenarios"] = ",".join(self.scenarios)
        return out


def parse_args(argv: list[str] | None = None) -> WebLoadConfig:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per scenario")
    parser.add_argument("--spawn-rate", type=float, default=25.0, help="users started per second")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between a user's actions (s)")
    parser.add_argument("--scenarios", default="annotate,browse")
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--review-share", type=float, default=0.4, help="share of images with a pending review item")
    parser.add_argument("--pseudo-share", type=float, default=0.2, help="share of pseudo-labeled images")
    parser.add_argument("--edit-pool", type=int, default=1000, help="unlabeled images the annotators pick from")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="segloop_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the hot queries after seeding")
    parser.add_argument(
        "--query-profile",
        action="store_true",
        help="queries and in-process time per endpoint (one request each) after seeding",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        default=10.0,
        help="seconds of each scenario with one user and no think time first (0: skip)",
    )
    parser.add_argument("--keep-alive", type=int, default=5, help="gunicorn keep-alive seconds")
    parser.add_argument("--jsonl", type=Path, default=DEFAULT_JSONL)
    parser.add_argument("--no-jsonl", action="store_true")
    parser.add_argument(
        "--write-docs", action="store_true", help="replace the '## Web load' section of docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(UNKNOWN_SCENARIOS.format(names=sorted(unknown), known=", ".join(SCENARIOS)))
    return WebLoadConfig(**{**vars(args), "scenarios": scenarios})
