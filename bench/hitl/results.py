"""The results file read back: version-2 records by strategy, round and seed, the Markdown
tables (mean ± std over seeds) and the verdicts on issue 12's and issue 13's targets."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from .config import (
    ACCEPTED_SHARE_TARGET,
    AHEAD_OF_RANDOM_POINTS,
    AUDIT,
    BENCH_VERSION,
    CLICKS,
    COST_COUNTS,
    FULL_SUPERVISION,
    FULL_SUPERVISION_95,
    MODE_SUFFIXES,
    OLD_STRATEGY_NAMES,
    OTHER_SEQUENCE,
    OUTSIDE_QUEUE,
    QUARTER,
    QUEUE_STRATEGIES,
    REGION,
    REGION_COST_SHARE,
    SCRATCH,
    SEQUENCES,
    STRATEGIES,
    WHOLE,
)

PICK_KIND_ORDER = ("doubtful", "typical", "random", "least_confident", AUDIT, OUTSIDE_QUEUE)
PLOT_STYLES = {  # colour, marker, label, x offset (share of the train images) so error bars stay apart
    "diverse": ("tab:green", "o", "diverse queue", -0.004),
    "least_confident": ("tab:blue", "s", "least confident first", 0.0),
    "random": ("tab:orange", "^", "random labeling", 0.004),
}

Rounds = dict[str, dict[int, dict[int, dict]]]  # strategy -> round -> seed -> record


def load_records(
    results: Path,
    profile: str | None = None,
    overrides: dict | None = None,
    bench: str = "hitl",
    version: int | None = BENCH_VERSION,
) -> list[dict]:
    """`bench` records (rounds, or "hitl_pool" scores) of one bench version, one profile and
    the same --set overrides (None: any), in file order; old strategy names are mapped."""
    if not results.exists():
        return []
    out = []
    for line in results.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if (
            r.get("bench") == bench
            and (version is None or r.get("version") == version)
            and (profile is None or r.get("profile") == profile)
            and (overrides is None or r.get("overrides", {}) == overrides)
        ):
            strategy = OLD_STRATEGY_NAMES.get(r["strategy"], r["strategy"])
            mode = strategy + MODE_SUFFIXES.get(r.get("reviewer", WHOLE), "")
            out.append({**r, "strategy": strategy, "mode": mode})
    return out


def by_round(records: list[dict]) -> Rounds:
    """mode -> round -> seed -> its latest record (a rerun's line replaces the earlier one). The
    mode is the strategy, or "<strategy>+region" for a queue strategy reviewed by region."""
    out: Rounds = {}
    for r in records:
        out.setdefault(r.get("mode", r["strategy"]), {}).setdefault(r["round"], {})[r["seed"]] = r
    return out


def full_supervision_at(rounds: Rounds, round_number: int) -> tuple[int | None, list[float]]:
    """(round, val mIoU per seed) of full supervision after as many rounds as `round_number`
    (the same training), or after the nearest round below; (None, []) if it has not run."""
    full = rounds.get(FULL_SUPERVISION, {})
    done = [n for n in full if n <= round_number]
    if not done:
        return None, []
    return max(done), [r["val_miou"] for r in full[max(done)].values()]


def _share_of_full(miou: list[float], full: list[float]) -> float | None:
    """Mean mIoU over seeds as a share of full supervision's (None without a usable line)."""
    return statistics.mean(miou) / statistics.mean(full) if full and statistics.mean(full) > 0 else None


def _pm(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """mean ± sample standard deviation (only the mean for a single value)."""
    text = f"{scale * statistics.mean(values):.{digits}f}"
    return text + (f" ± {scale * statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def _count(values: list[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else _pm(values, 1, 1)


def _last_round(per_round: dict[int, dict]) -> tuple[int, list[dict]]:
    n = max(per_round)
    return n, list(per_round[n].values())


def curve_table(rounds: Rounds, pools: Rounds) -> list[str]:
    """Per strategy and budget: val mIoU over seeds against full supervision after as many rounds."""
    lines = [
        "| strategy | round | images touched | val mIoU (mean ± std) | seeds | full supervision, same round | "
        "% of full | accepted pseudo-labels, % of unlabeled | train pool mIoU (human + student) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for strategy in STRATEGIES:
        for n, per_seed in sorted(rounds.get(strategy, {}).items()):
            records = list(per_seed.values())
            miou = [r["val_miou"] for r in records]
            full_round, full = full_supervision_at(rounds, n)
            share = _share_of_full(miou, full)
            full_cells = "n/a | n/a"
            if share is not None:
                note = "" if full_round == n else f" (round {full_round})"
                full_cells = f"{_pm(full)}{note} | {100 * share:.0f} %"
            pool = [p["pool_miou"] for p in pools.get(strategy, {}).get(n, {}).values()]
            lines.append(
                f"| {strategy} | {n} | {_count([r['human_images_touched'] for r in records])} | {_pm(miou)} | "
                f"{len(records)} | {full_cells} | {_pm([r['accepted_share'] for r in records])} | "
                f"{_pm(pool) if pool else 'n/a'} |"
            )
    return lines


def _audited(records: list[dict]) -> str:
    estimates = [r["audited_error"] for r in records if r["audited_error"]["mean"] is not None]
    if not estimates:
        return "no audits"
    highs = [e["high"] for e in estimates if e["high"] is not None]
    upper = f", upper bound up to {100 * max(highs):.1f} %" if highs else ""
    return (
        f"{_pm([e['mean'] for e in estimates])} %{upper} "
        f"({sum(e['n'] for e in estimates)} audits, {len(estimates)} seeds)"
    )


def _true_error(records: list[dict]) -> str:
    errors = [r["accepted_true_error"] for r in records if r["accepted_true_error"] is not None]
    return f"{_pm(errors)} %" if errors else "nothing accepted"


def _threshold(records: list[dict]) -> str:
    statuses = Counter(r["threshold_calibration"].get("status", "not calibrated") for r in records)
    return (
        f"{_pm([r['review_threshold_effective'] for r in records], 1, 2)} "
        f"({', '.join(f'{s} x{c}' for s, c in statuses.items())})"
    )


def auto_accept_table(rounds: Rounds) -> list[str]:
    """Per strategy at its last round: what the app accepted, audited against true error."""
    lines = [
        "| strategy | round | seeds | accepted pseudo-labels | % of unlabeled | threshold (calibration) | "
        "audited error (mean ± std over seeds) | true error of accepted (pixel-weighted) | target error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for strategy in STRATEGIES:
        if strategy not in rounds:
            continue
        n, records = _last_round(rounds[strategy])
        lines.append(
            f"| {strategy} | {n} | {len(records)} | {_pm([r['accepted_pseudo_labels'] for r in records], 1, 0)} | "
            f"{_pm([r['accepted_share'] for r in records])} | {_threshold(records)} | {_audited(records)} | "
            f"{_true_error(records)} | {100 * records[0]['target_pixel_error']:.1f} % |"
        )
    return lines


def _kinds(records: list[dict]) -> str:
    totals = Counter()
    for r in records:
        totals.update(r["pick_kinds"])
    order = [k for k in PICK_KIND_ORDER if totals[k]] + sorted(set(totals) - set(PICK_KIND_ORDER))
    return ", ".join(f"{k} {totals[k] / len(records):.1f}" for k in order) or "-"


def sequence_table(rounds: Rounds) -> list[str]:
    """Where each strategy's human-touched images come from (mean over seeds, last round),
    against the train set (full supervision's line), and what kinds of picks they were."""
    rows = [(s, *_last_round(rounds[s])) for s in (*STRATEGIES, FULL_SUPERVISION) if s in rounds]
    sequences = list(SEQUENCES) + (
        [OTHER_SEQUENCE]
        if any(OTHER_SEQUENCE in r["touched_by_sequence"] for _, _, records in rows for r in records)
        else []
    )
    lines = [
        f"| strategy | round | {' | '.join(sequences)} | reviewer's picks per seed, all rounds |",
        "|---|---|" + "---|" * len(sequences) + "---|",
    ]
    for strategy, n, records in rows:
        counts = [_pm([r["touched_by_sequence"].get(s, 0) for r in records], 1, 1) for s in sequences]
        label = "all train images" if strategy == FULL_SUPERVISION else strategy
        lines.append(f"| {label} | {n} | {' | '.join(counts)} | {_kinds(records)} |")
    return lines


def target_verdicts(rounds: Rounds) -> list[str]:
    return [*_diverse_against_random(rounds), *_near_full_supervision(rounds), *_auto_accept_used(rounds)]


def _diverse_against_random(rounds: Rounds) -> list[str]:
    """Diverse minus random, mIoU points, by budget: the mean over the seeds both have."""
    diverse, rand = rounds.get("diverse", {}), rounds.get("random", {})
    gaps = []  # (images touched, points, seeds)
    for n in sorted(set(diverse) & set(rand) - {0}):  # round 0 is shared
        seeds = sorted(set(diverse[n]) & set(rand[n]))
        if seeds:
            points = 100 * statistics.mean(diverse[n][s]["val_miou"] - rand[n][s]["val_miou"] for s in seeds)
            gaps.append((diverse[n][seeds[0]]["human_images_touched"], points, len(seeds)))
    if not gaps:
        return ["- diverse against random: no common round after round 0 yet"]
    detail = ", ".join(f"{touched}: {points:+.1f} ({seeds} seeds)" for touched, points, seeds in gaps)
    average = statistics.mean(points for _, points, _ in gaps)
    every = all(points >= 0 for _, points, _ in gaps)
    return [
        f"- diverse ≥ random at every budget (mean of seeds): {'met' if every else 'missed'} "
        f"(diverse minus random, mIoU points, by images touched: {detail})",
        f"- diverse ahead of random by ≥ {AHEAD_OF_RANDOM_POINTS:.0f} points averaged over the budgets: "
        f"{'met' if average >= AHEAD_OF_RANDOM_POINTS else 'missed'} ({average:+.1f})",
    ]


def _near_full_supervision(rounds: Rounds) -> list[str]:
    """Per strategy, its last round within a quarter of the images (the most human labels the
    target allows), against full supervision after as many rounds (equal training). The last
    round, not the best: an early round's share flatters when full supervision has trained
    only one round too."""
    if FULL_SUPERVISION not in rounds:
        return ["- 95 % of full supervision within a quarter of the images: full supervision not run yet"]
    out = []
    for strategy in STRATEGIES:
        if strategy not in rounds:
            continue
        best = None  # (share of full, round, records)
        for n, per_seed in rounds[strategy].items():
            records = list(per_seed.values())
            if max(r["human_images_touched"] for r in records) > QUARTER * records[0]["train_images"]:
                continue
            share = _share_of_full([r["val_miou"] for r in records], full_supervision_at(rounds, n)[1])
            if share is not None and (best is None or n > best[1]):
                best = (share, n, records)
        if best is None:
            out.append(f"- {strategy}: no round within a quarter of the images")
        else:
            share, n, records = best
            out.append(
                f"- {strategy}: within a quarter of the images, last at round {n} "
                f"({_count([r['human_images_touched'] for r in records])} touched): "
                f"{_pm([r['val_miou'] for r in records])} = {100 * share:.0f} % of full supervision "
                f"({'meets' if share >= FULL_SUPERVISION_95 else 'misses'} the 95 % target)"
            )
    return out


def _auto_accept_used(rounds: Rounds) -> list[str]:
    """At the last round: a third of the unlabeled images accepted, audited error within target."""
    out = []
    for strategy in STRATEGIES:
        if strategy not in rounds:
            continue
        n, records = _last_round(rounds[strategy])
        share = statistics.mean(r["accepted_share"] for r in records)
        audited = [r["audited_error"]["mean"] for r in records if r["audited_error"]["mean"] is not None]
        target = records[0]["target_pixel_error"]
        met = share >= ACCEPTED_SHARE_TARGET and bool(audited) and statistics.mean(audited) <= target
        audited_text = f"{100 * statistics.mean(audited):.1f} %" if audited else "no audits"
        out.append(
            f"- {strategy}, round {n}: auto-accepted {100 * share:.0f} % of the unlabeled images "
            f"(target ≥ {100 * ACCEPTED_SHARE_TARGET:.0f} %), audited error {audited_text} "
            f"(target ≤ {100 * target:.1f} %), true error {_true_error(records)}: "
            f"{'met' if met else 'missed'}"
        )
    return out


REVIEWER_LABELS = {
    WHOLE: "whole-image correction",
    REGION: "region review",
    CLICKS: "region review, clicks only",
    SCRATCH: "painting from scratch",
}


def _cost_modes(rounds: Rounds) -> list[str]:
    order = [m for s in QUEUE_STRATEGIES for m in (s, *(s + x for x in MODE_SUFFIXES.values()))]
    order += ["random", FULL_SUPERVISION]
    return [m for m in order if m in rounds]


def _reviewer_label(mode: str) -> str:
    for reviewer, suffix in MODE_SUFFIXES.items():
        if mode.endswith(suffix):
            return REVIEWER_LABELS[reviewer]
    return REVIEWER_LABELS[WHOLE if mode in QUEUE_STRATEGIES else SCRATCH]


def _costed(records: list[dict]) -> bool:
    return all(r.get("human_seconds") is not None for r in records)


def human_seconds_table(rounds: Rounds) -> list[str]:
    """Per mode and round: val mIoU against the estimated human hours (cumulative, cost model
    in bench/hitl/__init__.py), mean ± std over seeds, with region review's clicks, brush pixels
    and regions checked."""
    lines = [
        "| mode | how | round | images touched | human hours | val mIoU | clicks | brush pixels | regions checked |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode in _cost_modes(rounds):
        for n, per_seed in sorted(rounds[mode].items()):
            records = list(per_seed.values())
            hours = _pm([r["human_seconds"] for r in records], 1 / 3600, 2) if _costed(records) else "n/a"
            counts = [_pm([r.get(key, 0) for r in records], 1, 0) for key in COST_COUNTS]
            lines.append(
                f"| {mode} | {_reviewer_label(mode)} | {n} | "
                f"{_count([r['human_images_touched'] for r in records])} | {hours} | "
                f"{_pm([r['val_miou'] for r in records])} | {' | '.join(counts)} |"
            )
    return lines


def _curve(per_round: dict[int, dict]) -> list[tuple[int, float, float]]:
    """(round, mean human seconds, mean val mIoU) by round, over the seeds; rounds with a
    record that has no seconds are left out."""
    out = []
    for n in sorted(per_round):
        records = list(per_round[n].values())
        if _costed(records):
            out.append(
                (
                    n,
                    statistics.mean(r["human_seconds"] for r in records),
                    statistics.mean(r["val_miou"] for r in records),
                )
            )
    return out


def _seconds_to_reach(curve: list[tuple[int, float, float]], miou: float) -> float | None:
    """Human seconds at which a curve first reaches `miou` (linear between its rounds)."""
    for (_, s0, m0), (_, s1, m1) in zip([(None, None, None), *curve], curve, strict=False):
        if m1 >= miou:
            if s0 is None or m0 >= miou:
                return s1
            return s0 + (miou - m0) / (m1 - m0) * (s1 - s0)
    return None


def _miou_at(curve: list[tuple[int, float, float]], seconds: float) -> float:
    """A curve's mIoU at `seconds`: linear between its rounds, flat past its ends."""
    if seconds <= curve[0][1]:
        return curve[0][2]
    for (_, s0, m0), (_, s1, m1) in zip(curve, curve[1:], strict=False):
        if seconds <= s1:
            return m0 if s1 == s0 else m0 + (seconds - s0) / (s1 - s0) * (m1 - m0)
    return curve[-1][2]


def _reviewing(curve: list[tuple[int, float, float]], round0_seconds: float) -> list:
    """The curve with round 0's seconds (the seed painting before any review) taken off."""
    return [(n, seconds - round0_seconds, miou) for n, seconds, miou in curve]


def _round0_seconds(curve: list[tuple[int, float, float]]) -> float:
    return next((seconds for n, seconds, _ in curve if n == 0), 0.0)


def _cost_shares(region: list, whole: list) -> tuple[bool, list[str]]:
    """(every share within REGION_COST_SHARE, each round's share of the seconds whole-image
    correction needed for the same mIoU)."""
    shares, unmet = [], False
    for n, seconds, miou in region:
        needed = _seconds_to_reach(whole, miou)
        if needed is None:
            shares.append(f"round {n}: whole correction never reached {100 * miou:.1f}")
            unmet |= seconds > REGION_COST_SHARE * whole[-1][1]
        else:
            share = seconds / needed if needed else float("inf")
            shares.append(f"round {n}: {100 * share:.0f} %")
            unmet |= share > REGION_COST_SHARE
    return not unmet, shares


def region_verdicts(rounds: Rounds) -> list[str]:
    """Issue 13's targets for each queue strategy reviewed both ways (means over seeds)."""
    out = []
    for strategy, suffix in ((s, x) for s in QUEUE_STRATEGIES for x in MODE_SUFFIXES.values()):
        region_mode = strategy + suffix
        if region_mode not in rounds or strategy not in rounds:
            continue
        region_all, whole = _curve(rounds[region_mode]), _curve(rounds[strategy])
        region = [p for p in region_all if p[0] > 0]  # round 0 is shared
        scratch = _curve(rounds.get("random", {}))
        if not region or not whole:
            out.append(f"- {region_mode}: no costed round after round 0 yet")
            continue
        # The target compares the reviewing: round 0's seed masks, painted from scratch before
        # any review, are the same hours in every mode; counted in, they pull every ratio to 1.
        reviewing, review_shares = _cost_shares(
            _reviewing(region, _round0_seconds(region_all)), _reviewing(whole, _round0_seconds(whole))
        )
        _, cumulative = _cost_shares(region, whole)
        out.append(
            f"- {region_mode}: region review at most {100 * REGION_COST_SHARE:.0f} % of whole-image "
            f"correction's reviewing seconds at equal mIoU: {'met' if reviewing else 'missed'} "
            f"({'; '.join(review_shares)}); counting round 0's shared seed painting too: {'; '.join(cumulative)}"
        )
        for label, other in (("whole-image correction", whole), ("painting from scratch", scratch)):
            if not other:
                out.append(f"- {region_mode}: region review above {label}: {label} not run yet")
                continue
            gaps = [(n, 100 * (miou - _miou_at(other, seconds))) for n, seconds, miou in region]
            detail = ", ".join(f"round {n}: {gap:+.1f}" for n, gap in gaps)
            out.append(
                f"- {region_mode}: region review above {label} at every budget: "
                f"{'met' if all(gap > 0 for _, gap in gaps) else 'missed'} "
                f"(mIoU points at region review's human seconds: {detail})"
            )
    return out or ["- region review: not run yet"]


def table(results: Path, profile: str, overrides: dict) -> str:
    """The version-2 rounds as Markdown (mean ± std over seeds), then issue 12's targets."""
    rounds = by_round(load_records(results, profile, overrides))
    pools = by_round(load_records(results, profile, overrides, bench="hitl_pool"))
    seeds = sorted({s for per_round in rounds.values() for per_seed in per_round.values() for s in per_seed})
    title = (
        f"HITL simulation, profile {profile}"
        + (f" {json.dumps(overrides)}" if overrides else "")
        + f", bench version {BENCH_VERSION}, seeds {', '.join(map(str, seeds)) or 'none yet'}"
    )
    if not rounds:
        return title
    return "\n".join(
        [
            title,
            "",
            *curve_table(rounds, pools),
            "",
            "Auto-accept at each strategy's last round:",
            "",
            *auto_accept_table(rounds),
            "",
            "Human-touched images by CamVid sequence at the last round (mean of seeds):",
            "",
            *sequence_table(rounds),
            "",
            "Targets (issue 12):",
            "",
            *target_verdicts(rounds),
            "",
            "Human seconds (estimated; cost model in bench/hitl/__init__.py):",
            "",
            *human_seconds_table(rounds),
            "",
            "Targets (issue 13):",
            "",
            *region_verdicts(rounds),
        ]
    )
