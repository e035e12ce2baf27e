"""Fit a round into a time budget (TrainConfig.max_minutes).

The step counts come from step times measured on this machine, not from a guess: a probe
runs a few steps of each stage on throw-away copies of the networks (so no weight or
BatchNorm statistic moves), then the budget left after evaluation and pseudo-labelling is
shared between the stages in the ratio of the configured step counts. The loop re-plans
when a stage has run a few real steps, so a probe that was off does not make the round late.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ml.runtime import autocast

PROBE_STEPS = 2  # timed steps per stage, after one warm-up step
REPLAN_AFTER = 5  # real steps of a stage before its count is corrected from measured time
SAFETY = 0.95  # share of the time left that steps may fill (checkpoints, logging, jitter)
# Pseudo-labelling one image costs more than the teachers' forward passes: decoding it, fusing,
# scoring, writing the mask and map PNGs and the rows. Fitted on the app's first CamVid round
# (322 images at 480x360, one thread: 1.0 s each against 0.49 s of inference); a project's
# later rounds use the time its last round measured instead.
PSEUDO_OVERHEAD = 1.3
PSEUDO_IO_S = 0.35


@dataclass
class TimePlan:
    """The round's plan, shown on the run page."""

    budget_s: float
    teacher_steps: int
    student_steps: int
    teacher_step_s: float
    student_step_s: float
    pseudo_s: float  # reserved for pseudo-labelling the unlabeled images after training
    pseudo_images: int
    eval_s: float  # reserved for validation passes (each stage's end)
    probe_s: float
    note: str = ""

    def to_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def time_step(step: Callable[[], torch.Tensor], n: int = PROBE_STEPS) -> float:
    """Seconds per call of ``step`` (forward + backward), after one warm-up call."""
    step().backward()
    start = time.perf_counter()
    for _ in range(n):
        step().backward()
    return (time.perf_counter() - start) / n


@torch.no_grad()
def inference_seconds(models: list[nn.Module], hw: tuple[int, int], device: torch.device, amp: bool) -> float:
    """Seconds to run every model in ``models`` once on one image of size hw (eval mode)."""
    x = torch.randn(1, 3, *hw, device=device)
    was = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        with autocast(device, amp):
            for m in models:
                m(x)  # warm-up
            start = time.perf_counter()
            for m in models:
                m(x)
        return time.perf_counter() - start
    finally:
        for m, w in zip(models, was):
            m.train(w)


def split_budget(
    seconds: float, teacher_step_s: float, student_step_s: float, teacher_steps: int, student_steps: int
) -> tuple[int, int]:
    """Steps per stage that fill ``seconds``, keeping teacher_steps : student_steps."""
    total = teacher_steps + student_steps
    if total == 0:
        return 0, 0
    share_t = teacher_steps / total
    # seconds = n * (share_t * t1 + (1 - share_t) * t2), n = total steps
    per_step = share_t * teacher_step_s + (1 - share_t) * student_step_s
    n = max(0.0, seconds * SAFETY) / per_step if per_step > 0 else 0.0
    t = round(n * share_t) if teacher_steps else 0
    s = round(n * (1 - share_t)) if student_steps else 0
    return (max(t, 1) if teacher_steps else 0), (max(s, 1) if student_steps else 0)


def steps_that_fit(seconds_left: float, step_s: float) -> int:
    """Steps of ``step_s`` seconds that fit in ``seconds_left`` (at least 1)."""
    return max(1, int(max(0.0, seconds_left) * SAFETY / max(step_s, 1e-6)))
