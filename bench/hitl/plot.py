"""``--plot``: val mIoU against images touched, mean ± std over seeds per strategy."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

from .config import FULL_SUPERVISION_95, QUARTER  # noqa: E402
from .results import PLOT_STYLES, by_round, full_supervision_at, load_records  # noqa: E402


def plot(results: Path, profile: str, overrides: dict, out: Path) -> Path:
    """val mIoU against images touched, mean ± std over seeds per strategy."""
    rounds = by_round(load_records(results, profile, overrides))
    fig, ax = plt.subplots(figsize=(7.5, 5))
    last, total = None, None
    for strategy, (colour, marker, label, dx) in PLOT_STYLES.items():
        per_round = rounds.get(strategy)
        if not per_round:
            continue
        points = [list(per_round[n].values()) for n in sorted(per_round)]
        total = points[-1][0]["train_images"]
        miou = [[100 * r["val_miou"] for r in records] for records in points]
        seeds = max(len(records) for records in points)
        ax.errorbar(
            [statistics.mean(r["human_images_touched"] for r in records) + dx * total for records in points],
            [statistics.mean(m) for m in miou],
            yerr=[statistics.stdev(m) if len(m) > 1 else 0 for m in miou],
            color=colour,
            marker=marker,
            capsize=3,
            label=f"{label} (mean ± std, {seeds} seed{'s' if seeds > 1 else ''})",
        )
        last = max(last or 0, max(per_round))
    full_round, full = full_supervision_at(rounds, last) if last is not None else (None, [])
    if full:
        mean = 100 * statistics.mean(full)
        ax.axhline(mean, color="black", linewidth=1, label=f"full supervision, round {full_round} ({mean:.1f})")
        ax.axhline(FULL_SUPERVISION_95 * mean, color="black", linestyle=":", linewidth=1, label="95 % of full")
    if total:
        ax.axvline(QUARTER * total, color="grey", linestyle="--", linewidth=1, label="a quarter of the images")
        ax.set_xlim(0, max(ax.get_xlim()[1], QUARTER * total * 1.08))
    ax.set_xlabel("human images touched (seed labels + reviewed or labeled, audits included)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(f"HITL simulation, profile {profile}" + (f" {json.dumps(overrides)}" if overrides else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
