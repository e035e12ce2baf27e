"""Rounds of a strategy, and the full-supervision line: label, train through the app's worker,
evaluate, record; each seed's round 0 is trained once and branched from by its other
strategies. Calls continue where the last one stopped (the state folder's state.json)."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path

from django.db import connections
from harness import AppEnvironment  # bench/ is on sys.path when a script runs
from report import git_commit, jsonl_append, machine_summary

from .app import actors, evaluate_active, set_queue_strategy, set_target_error, setup_project, train_and_wait
from .config import (
    BENCH_VERSION,
    COST_COUNTS,
    COST_MODEL,
    FULL_SUPERVISION,
    QUEUE_STRATEGIES,
    SimulationConfig,
    reviewer_of,
)
from .measures import auto_accept_measures
from .review import paint_seconds, random_round, review_round, scratch_seconds_of, seed_round
from .state import STATE_FILE, SimulationState, state_load, state_save

SNAPSHOT_IGNORE = shutil.ignore_patterns("redis.sock", "redis", "worker.log")
SNAPSHOT_MISMATCH = (
    "The round-0 snapshot in {path} was trained with another profile or --set; "
    "use another --work-dir for this configuration."
)
INTERRUPTED_SETUP = "{path} holds a database but no state.json (an interrupted setup): remove it."
FULL_MISMATCH = "{path} was trained with another profile or --set; use another --work-dir."
SUMMARY_LEFT_OUT = ("train_config", "per_class_iou")  # too long for the progress line


def record_append(results: Path, record: dict) -> None:
    """A record into the results file, and its short form on stdout."""
    jsonl_append(results, record)
    print(json.dumps({k: v for k, v in record.items() if k not in SUMMARY_LEFT_OUT}), flush=True)


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _round1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def round_record(
    config: SimulationConfig,
    state: SimulationState,
    strategy: str,
    round_number: int,
    work: dict,
    run: dict,
    ev: dict,
    wall: float,
    profile_source: str,
    train_config: dict,
) -> dict:
    return {
        "bench": "hitl",
        "version": BENCH_VERSION,
        "strategy": strategy,
        "seed": config.seed,
        "round": round_number,
        "human_images_touched": state.touched,
        "human_corrected": state.corrected,
        "human_accepted": state.accepted,
        "pixels_corrected": state.pixels_corrected,
        "round_corrected": work.get("corrected", 0),
        "round_accepted": work.get("accepted", 0),
        "round_pixels_corrected": work.get("pixels_corrected", 0),
        "pick_kinds": state.pick_kinds,
        "round_pick_kinds": work.get("pick_kinds", {}),
        "round_detail": {
            k: v
            for k, v in work.items()
            if k
            not in (
                "corrected",
                "accepted",
                "pixels_corrected",
                "pick_kinds",
                "reviewer",
                "human_seconds",
                *COST_COUNTS,
            )
        },
        "reviewer": reviewer_of(strategy, config.reviewer),
        "human_seconds": _round1(state.human_seconds),
        "round_human_seconds": _round1(work.get("human_seconds", 0.0)),
        **{key: getattr(state, key) for key in COST_COUNTS},
        **{f"round_{key}": work.get(key, 0) for key in COST_COUNTS},
        "cost_model": COST_MODEL,
        **auto_accept_measures(state),
        "val_miou": ev["val_miou"],
        "val_pixel_accuracy": ev["val_pixel_accuracy"],
        "per_class_iou": ev["per_class_iou"],
        "val_images": ev["val_images"],
        "model_version": ev["model_version"],
        "wall_s": round(wall, 1),
        "run": run,
        "profile": config.profile,
        "profile_source": profile_source,
        "overrides": config.overrides,
        "budget": config.budget,
        "accept": config.accept,
        "seed_labels": config.seed_labels,
        "review_threshold": config.review_threshold,
        "threads": config.threads,
        "train_images": state.train_images,
        "data": str(config.data),
        "machine": machine_summary(),
        "git_commit": git_commit(),
        "date": now_text(),
        "train_config": train_config,
    }


# --------------------------------------------------------------------------- round 0 shared by a seed's strategies


def _branch_from_round0(config: SimulationConfig, state_dir: Path, train_config: dict) -> bool:
    """Start a strategy from its seed's round-0 snapshot, if one exists."""
    round0 = config.round0_dir
    snapshot = state_load(round0)
    if snapshot is None:
        return False
    if snapshot.train_config != train_config:
        raise RuntimeError(SNAPSHOT_MISMATCH.format(path=round0))
    shutil.copytree(round0, state_dir, ignore=SNAPSHOT_IGNORE)
    return True


def _snapshot_round0(config: SimulationConfig, state_dir: Path) -> None:
    round0 = config.round0_dir
    if round0.exists():
        return
    partial = round0.with_name("round0.part")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(state_dir, partial, ignore=SNAPSHOT_IGNORE)
    partial.replace(round0)


def _open_strategy_state(
    config: SimulationConfig, state_dir: Path, train_config: dict, source: str, branched: bool
) -> SimulationState:
    """The strategy's state: branched from round 0 (its round-0 line re-recorded under this
    strategy's name), continued, or a new project."""
    state = state_load(state_dir)
    if branched and state is not None:
        state.branched_from_round0 = True
        _backfill_seconds(state)  # a snapshot made before the cost model
        state_save(state_dir, state)
        round0 = state.history[0]
        record_append(
            config.results,
            dict(
                round0,
                strategy=config.strategy,
                from_round0_snapshot=True,
                reviewer=config.reviewer_kind,
                human_seconds=round0.get("human_seconds", _round1(state.human_seconds)),
                cost_model=COST_MODEL,
                date=now_text(),
            ),
        )
    elif state is None:
        state = setup_project(config, train_config, with_masks=False)
        state.profile_source = source
        state_save(state_dir, state)
    _backfill_seconds(state)
    if state.train_config != train_config:
        print(
            "note: the profile/overrides differ from the ones this state started with; "
            "the project's training config is updated",
            flush=True,
        )
        project, _, _ = actors(state)
        project.training_config = train_config
        project.save(update_fields=["training_config"])
        state.train_config = train_config
    return state


# --------------------------------------------------------------------------- the humans' totals


def label_round(config: SimulationConfig, state: SimulationState, round_number: int) -> dict:
    """The humans' work before round `round_number` trains."""
    if round_number == 0:
        return seed_round(state, config.seed_labels, config.seed)
    if config.strategy in QUEUE_STRATEGIES:
        return review_round(state, config.budget, config.accept, config.reviewer)
    return random_round(state, config.budget, config.seed, round_number)


def _add_work(state: SimulationState, work: dict, round_number: int) -> None:
    """A labelled round's work into the totals: images, pixels, picks, estimated seconds and
    region-review counts."""
    state.corrected += work["corrected"]
    state.accepted += work["accepted"]
    state.touched = state.corrected + state.accepted
    state.pixels_corrected += work["pixels_corrected"]
    if state.human_seconds is not None:  # None: an old state whose seconds are unknown
        state.human_seconds += work.get("human_seconds", 0.0)
    for key in COST_COUNTS:
        setattr(state, key, getattr(state, key) + work.get(key, 0))
    state.pick_kinds = dict(Counter(state.pick_kinds) + Counter(work["pick_kinds"]))
    state.labelled_round = round_number
    state.pending_work = work
    state.pending_started = time.time()


def _backfill_seconds(state: SimulationState) -> None:
    """A state from before the cost model: its seconds from its painted pixels, exact when all
    images have one size (whole correction and painting from scratch cost their share of the
    area); left out (None) otherwise."""
    if state.seconds_recorded:
        return
    from webapp.images.models import Image  # after django.setup() (see bench/hitl/app.py)

    project, _, _ = actors(state)
    sizes = set(Image.objects.filter(project=project).values_list("width", "height").distinct())
    if len(sizes) == 1:
        width, height = sizes.pop()
        state.human_seconds = paint_seconds(state.pixels_corrected, width * height)
    else:
        state.human_seconds = None
    state.seconds_recorded = True


def _past_max_rounds(config: SimulationConfig, round_number: int) -> bool:
    if config.max_rounds is not None and round_number > config.max_rounds:
        print(f"round {round_number} is past --max-rounds {config.max_rounds}; stopping", flush=True)
        return True
    return False


# --------------------------------------------------------------------------- a strategy's rounds


def run_strategy_round(
    env: AppEnvironment,
    config: SimulationConfig,
    state_dir: Path,
    state: SimulationState,
    round_number: int,
    train_config: dict,
    source: str,
) -> None:
    """Label (once, even if the call is interrupted and rerun), train, evaluate, record."""
    if state.labelled_round < round_number:
        work = label_round(config, state, round_number)
        _add_work(state, work, round_number)
        state_save(state_dir, state)
        print(f"round {round_number}: labelling done {json.dumps(work)}", flush=True)
    work = state.pending_work
    run = train_and_wait(env, state, config.round_timeout)
    ev = evaluate_active(state, config, train_config)
    wall = time.time() - state.pending_started  # labelling + training + evaluation
    record = round_record(config, state, str(config.strategy), round_number, work, run, ev, wall, source, train_config)
    state.history.append(record)
    state.rounds_done = round_number
    state_save(state_dir, state)
    record_append(config.results, record)
    if round_number == 0:
        # The worker is idle (its run is over) and this process closes its connections, so
        # the SQLite file is quiescent while the folder is copied.
        connections.close_all()
        _snapshot_round0(config, state_dir)


def run_strategy(config: SimulationConfig) -> None:
    train_config, source = config.train_config()
    state_dir = config.strategy_dir
    branched = not state_dir.exists() and _branch_from_round0(config, state_dir, train_config)
    if state_load(state_dir) is None and (state_dir / "db.sqlite3").exists():
        raise RuntimeError(INTERRUPTED_SETUP.format(path=state_dir))
    env = AppEnvironment(state_dir, config.threads, config.device)
    env.start()
    try:
        state = _open_strategy_state(config, state_dir, train_config, source, branched)
        set_queue_strategy(state, str(config.strategy), config.budget)
        set_target_error(state, config.target_error)
        for _ in range(config.rounds):
            round_number = state.rounds_done + 1
            if _past_max_rounds(config, round_number):
                break
            run_strategy_round(env, config, state_dir, state, round_number, train_config, source)
    finally:
        env.stop()


# --------------------------------------------------------------------------- full supervision


def run_full_supervision(config: SimulationConfig) -> None:
    """Every train image labeled, trained through the same app path for as many rounds as the
    strategies (each round warm-starts from the last, as theirs do): the reference line at a
    matching training budget, per seed. Continues where the last call stopped."""
    train_config, source = config.train_config()
    state_dir = config.seed_dir / FULL_SUPERVISION
    if not (state_dir / STATE_FILE).exists():
        shutil.rmtree(state_dir, ignore_errors=True)  # an interrupted setup starts over
    env = AppEnvironment(state_dir, config.threads, config.device)
    env.start()
    try:
        state = state_load(state_dir)
        if state is None:
            state = setup_project(config, train_config, with_masks=True)
            state.touched = state.corrected = state.train_images
            state.human_seconds = scratch_seconds_of(state, state.gt)  # every image painted from scratch
            state_save(state_dir, state)
        elif state.train_config != train_config:
            raise RuntimeError(FULL_MISMATCH.format(path=state_dir))
        elif not state.seconds_recorded:  # a state from before the cost model
            state.human_seconds = scratch_seconds_of(state, state.gt)
            state.seconds_recorded = True
            state_save(state_dir, state)
        for _ in range(config.rounds):
            round_number = state.rounds_done + 1
            if _past_max_rounds(config, round_number):
                break
            started = time.time()
            run = train_and_wait(env, state, config.round_timeout)
            ev = evaluate_active(state, config, train_config)
            record = round_record(
                config, state, FULL_SUPERVISION, round_number, {}, run, ev, time.time() - started, source, train_config
            )
            state.history.append(record)
            state.rounds_done = round_number
            state_save(state_dir, state)
            record_append(config.results, record)
    finally:
        env.stop()
