"""Which networks a config trains and which loss terms it switches on."""

from __future__ import annotations

from dataclasses import dataclass

from ml.models import ModelSpec
from ml.models.weights import WeightSource, resolve_weight_source

from .config import TrainConfig


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The networks and loss terms of one config. Stage 1 runs CPS whenever it has two teachers
    (one teacher: self-training on its own confident labels), so no switch says so."""

    teacher_specs: dict[str, ModelSpec]  # role ("su" | "ru") -> spec, trained in stage 1
    student_spec: ModelSpec
    student_mode: str  # "distill" | "supervised" | "mean_teacher"
    use_dl: bool = False
    use_gcl: bool = False
    use_lrl: bool = False

    @property
    def teacher_roles(self) -> tuple[str, ...]:
        return tuple(self.teacher_specs)


def _spec(kind: str, encoder: str, extra: dict, cfg: TrainConfig) -> ModelSpec:
    return ModelSpec(kind=kind, encoder=encoder, num_classes=cfg.num_classes, ignore_index=cfg.ignore_index, **extra)


def make_plan(cfg: TrainConfig) -> Plan:
    """Resolve method + ablation switches into networks and loss terms.

    igl_dt: SU + RU (or one of them) teachers, sup + CPS (+ DL), student sup + PL + GCL + LRL.
    cps: two CNN teachers (the "su" slot holds a second RU-type network, separately
        initialised), sup + CPS, then the student distils their fused pseudo-labels (no GCL/LRL).
    supervised / mean_teacher: no stage 1.
    """
    su = _spec("su", cfg.su_encoder, cfg.su_kwargs, cfg)
    ru = _spec("ru", cfg.ru_encoder, cfg.ru_kwargs, cfg)
    student = _spec("student", cfg.student_encoder, cfg.student_kwargs, cfg)
    if cfg.method in ("supervised", "mean_teacher"):
        return Plan(teacher_specs={}, student_spec=student, student_mode=cfg.method)
    if cfg.method == "cps":
        return Plan(teacher_specs={"su": ru, "ru": ru}, student_spec=student, student_mode="distill")
    teachers = {"both": {"su": su, "ru": ru}, "su": {"su": su}, "ru": {"ru": ru}}[cfg.teachers]
    return Plan(
        teacher_specs=teachers,
        student_spec=student,
        student_mode="distill",
        use_dl=cfg.use_dl and len(teachers) == 2,  # discrepancy needs two teachers
        use_gcl=cfg.use_gcl,
        use_lrl=cfg.use_lrl,
    )


def weight_sources(cfg: TrainConfig) -> dict[str, WeightSource]:
    """Where each network of this config would get its starting weights (nothing is loaded).

    role -> WeightSource for the networks the method trains (teachers, then "student").
    Raises WeightsUnavailableError / FileNotFoundError for a source that cannot be had.
    """
    plan = make_plan(cfg)
    specs = {**plan.teacher_specs, "student": plan.student_spec}
    return {
        role: resolve_weight_source(
            role, spec.encoder, pretrained=role in cfg.pretrained, request=cfg.weights.get(role)
        )
        for role, spec in specs.items()
    }
