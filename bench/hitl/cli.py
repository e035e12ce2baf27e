"""The command line of bench/hitl_simulation.py."""

from __future__ import annotations

from .config import parse_args
from .plot import plot
from .pool import run_pool_eval
from .results import table
from .rounds import run_full_supervision, run_strategy


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.strategy and config.pool_eval:
        run_pool_eval(config)
    elif config.strategy:
        run_strategy(config)
    elif config.full_supervision:
        run_full_supervision(config)
    if config.plot:
        print(f"wrote {plot(config.results, config.profile, config.overrides, config.plot_out)}", flush=True)
    if config.table:
        print(table(config.results, config.profile, config.overrides))
    return 0
