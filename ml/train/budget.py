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
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ml.runtime import autocast

if TYPE_CHECKING:
    from .config import TrainConfig

PROBE_STEPS = 2  # timed steps per stage, after one warm-up step
REPLAN_AFTER = 5  # real steps of a stage before its count is corrected from measured time
REPLANS_PER_STAGE = 20  # then corrected again every twentieth of the stage, from the latest step times
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
        for m, w in zip(models, was, strict=True):
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


class RoundBudget:
    """The round's deadline and its plan; re-plans a stage from its measured step time."""

    def __init__(self, cfg: TrainConfig, t0: float, device: torch.device, pending: dict) -> None:
        """t0: when the round started (time.monotonic); pending: where the loop picks up a new
        or changed plan for its next progress event."""
        self.cfg, self.deadline = cfg, t0 + float(cfg.max_minutes or 0) * 60
        self.device, self.pending = device, pending
        self.plan: TimePlan | None = None
        self.eval_s = {"teachers": 0.0, "student": 0.0}
        self.pseudo_hw: tuple[int, int] | None = None
        self.pseudo_images = 0

    def make(
        self,
        probe_t: Callable[[], torch.Tensor] | None,
        probe_s: Callable[[], torch.Tensor],
        stage1_nets: list[nn.Module],
        student: nn.Module,
        teachers: list[nn.Module],
        pseudo_hw: tuple[int, int] | None,
        pseudo_images: int,
        val_hw: tuple[int, int] | None,
        val_images: int,
        pseudo_per_image: float | None = None,
    ) -> TimePlan:
        cfg, device = self.cfg, self.device
        self.pseudo_hw, self.pseudo_images = pseudo_hw, pseudo_images
        started = time.monotonic()
        t1 = time_step(probe_t) if probe_t is not None else 0.0
        t2 = time_step(probe_s)
        # one validation pass per stage end, plus one every eval_every steps (spread per step)
        val_t = val_s = 0.0
        if val_hw is not None and val_images:
            if stage1_nets:
                val_t = val_images * inference_seconds(stage1_nets, val_hw, device, False)
            val_s = val_images * inference_seconds([student], val_hw, device, False)
        t1_eff, t2_eff = t1 + val_t / cfg.eval_every, t2 + val_s / cfg.eval_every
        pseudo_s = 0.0
        if teachers and pseudo_images and pseudo_per_image is not None:
            pseudo_s = pseudo_images * pseudo_per_image  # measured by the caller (its last round)
        elif teachers and pseudo_hw is not None and pseudo_images:
            pseudo_s = pseudo_images * self._pseudo_seconds_per_image(teachers)
        probe_s_took = time.monotonic() - started
        left = self.deadline - time.monotonic() - pseudo_s - val_t - val_s
        n1, n2 = split_budget(left, t1_eff, t2_eff, cfg.teacher_steps if probe_t else 0, cfg.student_steps)
        self.eval_s = {"teachers": val_t, "student": val_s}  # the stage-end passes; periodic ones are per step
        t1, t2 = t1_eff, t2_eff
        note = ""
        if left <= 0:
            note = (
                f"The budget of {cfg.max_minutes} min is spent by evaluation and pseudo-labelling "
                f"alone; the round trains one step per stage and will run late."
            )
        self.plan = TimePlan(
            budget_s=float(cfg.max_minutes or 0) * 60,
            teacher_steps=n1,
            student_steps=n2,
            teacher_step_s=t1,
            student_step_s=t2,
            pseudo_s=pseudo_s,
            pseudo_images=pseudo_images,
            eval_s=val_t + val_s + (n1 * val_t + n2 * val_s) / cfg.eval_every,
            probe_s=probe_s_took,
            note=note,
        )
        self.pending["plan"] = self.plan.to_dict()
        return self.plan

    @property
    def made(self) -> TimePlan:
        """The plan; make() runs before the round reads or re-plans it."""
        if self.plan is None:
            raise RuntimeError("RoundBudget.make() has not run yet")
        return self.plan

    def _pseudo_seconds_per_image(self, labellers: list[nn.Module]) -> float:
        if self.pseudo_hw is None:
            return PSEUDO_IO_S
        return inference_seconds(labellers, self.pseudo_hw, self.device, self.cfg.amp) * PSEUDO_OVERHEAD + PSEUDO_IO_S

    def pseudo_label_with(self, labeller: nn.Module) -> None:
        """The teachers lost the gate, so the caller pseudo-labels with the student (one
        network instead of two): reserve its time instead of theirs, and let stage 2 have the
        difference."""
        if not self.pseudo_images or self.pseudo_hw is None:
            return
        self.made.pseudo_s = self.pseudo_images * self._pseudo_seconds_per_image([labeller])
        self.pending["plan"] = self.made.to_dict()

    def replan(self, st: Any, step_s: float) -> None:
        """Set st.total so the stage, and what follows it, ends by the deadline."""
        plan = self.made
        step_s += self.eval_s[st.name] / self.cfg.eval_every  # its share of periodic validation
        after = plan.pseudo_s + self.eval_s["student"]
        if st.name == "teachers":
            after += plan.student_steps * plan.student_step_s + self.eval_s["teachers"]
            plan.teacher_step_s = step_s
        else:
            plan.student_step_s = step_s
        total = st.step + steps_that_fit(self.deadline - time.monotonic() - after, step_s) - 1
        st.total = max(st.step + 1, total)
        if st.name == "teachers":
            plan.teacher_steps = st.total
        else:
            plan.student_steps = st.total
        self.pending["plan"] = plan.to_dict()

    def start_student_stage(self, st: Any) -> None:
        """Stage 2's steps from the time really left (stage 1 may have run long or short)."""
        left = self.deadline - time.monotonic() - self.made.pseudo_s - self.eval_s["student"]
        st.total = steps_that_fit(left, self.made.student_step_s)
        self.made.student_steps = st.total
        self.pending["plan"] = self.made.to_dict()
