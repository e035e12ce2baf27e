"""IGL-DT training: config, per-stage step functions and the resumable round loop."""

from .config import METHODS, TrainConfig
from .defaults import APP_DEFAULT_CONFIG
from .distributed import DistributedRoundError, world_size
from .loop import EMPTY_LABELED, ProgressEvent, RoundResult, train_round
from .plan import Plan, make_plan, weight_sources
from .steps import ema_update, student_step, teacher_step

__all__ = [
    "METHODS",
    "TrainConfig",
    "EMPTY_LABELED",
    "ProgressEvent",
    "RoundResult",
    "train_round",
    "Plan",
    "make_plan",
    "weight_sources",
    "APP_DEFAULT_CONFIG",
    "DistributedRoundError",
    "world_size",
    "ema_update",
    "student_step",
    "teacher_step",
]
