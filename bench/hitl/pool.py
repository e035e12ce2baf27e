"""The training pool's labels after each recorded round (``--pool-eval``): human masks where
humans labeled, the served student's prediction everywhere else. Django, webapp and ml
imports sit inside the functions (see bench/hitl/app.py)."""

from __future__ import annotations

import time

import numpy as np
from harness import AppEnvironment  # bench/ is on sys.path when a script runs
from PIL import Image as PILImage
from report import git_commit, machine_summary

from .app import actors
from .config import BENCH_VERSION, VOID, SimulationConfig
from .data import ground_truth
from .rounds import now_text, record_append
from .state import SimulationState, state_load

NOTHING_TO_EVALUATE = "{path} holds no simulation to evaluate."


def run_pool_eval(config: SimulationConfig) -> None:
    """The whole training pool's labels after each recorded round of a strategy and seed:
    human masks where humans labeled, the served student's prediction everywhere else,
    against CamVid's ground truth. That is the dataset a team takes home, on the
    distribution of all the train sequences (val holds one sequence only)."""
    state_dir = config.strategy_dir
    state = state_load(state_dir)
    if state is None:
        raise RuntimeError(NOTHING_TO_EVALUATE.format(path=state_dir))
    env = AppEnvironment(state_dir, config.threads)
    env.start()
    try:
        for record in state.history:
            record_append(config.results, pool_record(state, record, config))
    finally:
        env.stop()


def pool_record(state: SimulationState, record: dict, config: SimulationConfig) -> dict:
    import torch  # here, as ml below: --table and --help need no torch

    from ml.checkpoints import load_model
    from ml.infer import image_to_tensor, student_predict
    from ml.metrics import ConfusionMatrix
    from webapp.images.models import Image, Mask, MaskSource
    from webapp.training.files import models_root
    from webapp.training.models import ModelVersion, TrainingRun

    project, _, _ = actors(state)
    run = TrainingRun.objects.get(pk=record["run"]["run_id"])
    labeled = set(
        Mask.objects.filter(image__project=project, source=MaskSource.HUMAN, created_at__lt=run.created_at).values_list(
            "image_id", flat=True
        )
    )
    version = ModelVersion.objects.get(project=project, number=record["model_version"])
    model, _ = load_model(models_root() / version.student_path, map_location="cpu")
    pool, rest = ConfusionMatrix(11, VOID), ConfusionMatrix(11, VOID)
    started = time.monotonic()
    with torch.inference_mode():
        for image in Image.objects.filter(project=project).order_by("id"):
            gt = torch.from_numpy(
                ground_truth(state.gt[str(image.pk)], image.width, image.height)[None].astype(np.int64)
            )
            if image.pk in labeled:
                pool.update(gt, gt)
                continue
            with image.file.open("rb") as handle, PILImage.open(handle) as im:
                pred, _ = student_predict(model, image_to_tensor(im)[None])
            pool.update(pred, gt)
            rest.update(pred, gt)
    return {
        "bench": "hitl_pool",
        "version": BENCH_VERSION,
        "strategy": config.strategy,
        "seed": config.seed,
        "round": record["round"],
        "human_images_touched": record["human_images_touched"],
        "labeled_before_run": len(labeled),
        "pool_miou": pool.miou(),
        "unlabeled_miou": rest.miou(),
        "pool_images": len(state.gt),
        "model_version": record["model_version"],
        "hitl_record_date": record["date"],
        "profile": record["profile"],
        "overrides": record["overrides"],
        "eval_s": round(time.monotonic() - started, 1),
        "machine": machine_summary(),
        "git_commit": git_commit(),
        "date": now_text(),
    }
