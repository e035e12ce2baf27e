"""train_round: one IGL-DT round (stage 1 teachers, stage 2 student), resumable.

Checkpoints in out_dir (via ml.checkpoints): ``{role}_latest.pt`` and ``{role}_best.pt``
for role in su, ru (stage-1 teachers) and student. ``latest`` holds the optimizer, the
stage step and the best score, so an interrupted round resumes mid-stage; ``best`` is the
best val mIoU so far (at the end of a stage without val data it is the final weights).
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset

from ml import losses as L
from ml.checkpoints import load_checkpoint, save_checkpoint
from ml.data import (
    EvalTransform,
    LabeledTransform,
    SegmentationDataset,
    UnlabeledTransform,
    infinite_loader,
    val_loader,
)
from ml.metrics import evaluate
from ml.models import ModelSpec, Segmenter, build_segmenter
from ml.runtime import autocast, resolve_device

from .budget import REPLAN_AFTER, REPLANS_PER_STAGE, RoundBudget
from .config import TrainConfig
from .distributed import Dist, lr_scale, spawn_round, world_size
from .plan import make_plan
from .steps import ema_update, pixel_weight, student_step, teacher_step

EMPTY_LABELED = "no labeled images: a training round needs at least one image with a mask"
ROLE_SEED = {"su": 1, "ru": 2, "student": 3}


@dataclass
class ProgressEvent:
    """What the loop reports after every step (and after every evaluation)."""

    stage: str  # "teachers" | "student"
    step: int  # steps done in this stage
    total_steps: int
    losses: dict[str, float]  # named loss terms and weights of the last step
    mask_ratio: float | None  # share of unlabeled pixels with confidence >= tau
    lr: float
    val_miou: float | None  # set only right after an evaluation (best role's mIoU)
    elapsed: float  # seconds since train_round started
    val_mious: dict[str, float | None] | None = None  # per role, right after an evaluation
    plan: dict | None = None  # the time plan, on the event right after it was made or changed
    note: str | None = None  # something the user should read (the teacher gate's decision), once


@dataclass
class RoundResult:
    """Outcome of train_round."""

    status: str  # "completed" | "cancelled"
    out_dir: Path
    checkpoints: dict[str, dict[str, Path]]  # role -> {"latest": path, "best": path}
    best_miou: dict[str, float | None]  # role -> best val mIoU (None: no val set)
    metrics: dict[str, dict]  # role -> ConfusionMatrix.as_dict() of the last evaluation
    steps: dict[str, int]  # stage -> steps done
    elapsed: float
    method: str = "igl_dt"
    weights: dict[str, dict] = field(default_factory=dict)  # role -> WeightSource.to_dict()
    plan: dict | None = None  # TimePlan.to_dict() when the config has max_minutes
    gate: dict | None = None  # the teacher gate's decision (see _decide_gate)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def student_checkpoint(self) -> Path | None:
        """The checkpoint to serve: the student's best."""
        return self.checkpoints.get("student", {}).get("best")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["checkpoints"] = {r: {k: str(p) for k, p in c.items()} for r, c in self.checkpoints.items()}
        return d


class Cancelled(Exception):
    """Raised inside the loop when should_stop() says so (caught by train_round)."""


# --------------------------------------------------------------------------- helpers


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _ckpt(out_dir: Path, role: str, kind: str) -> Path:
    return out_dir / f"{role}_{kind}.pt"


def _weight_record(model: Segmenter) -> dict:
    if model.weight_source is None:
        raise ValueError("build_segmenter records every model's weight source")
    return model.weight_source.to_dict()


def _existing(folder: Path, role: str, prefer: str) -> Path | None:
    for kind in (prefer, "latest" if prefer == "best" else "best"):
        p = _ckpt(folder, role, kind)
        if p.is_file():
            return p
    return None


def _build(spec: ModelSpec, role: str, cfg: TrainConfig, device: torch.device) -> Segmenter:
    torch.manual_seed(cfg.seed * 100 + ROLE_SEED[role])  # same init whatever else is built
    model = build_segmenter(spec, pretrained=role in cfg.pretrained, weights=cfg.weights.get(role), role=role)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        model.compile()  # in place: state_dict keys (and checkpoints) stay those of the model
    return model


def _load_weights(model: Segmenter, path: Path | None, device: torch.device) -> dict:
    if path is None:
        raise FileNotFoundError(f"no checkpoint of {model.spec.kind}/{model.spec.encoder} was saved")
    ckpt = load_checkpoint(path, map_location=device)
    # Compared as specs, not dicts: a checkpoint written before a ModelSpec field existed
    # holds that field's default.
    if ModelSpec.from_dict(ckpt["spec"]) != model.spec:
        raise ValueError(
            f"{path} holds a {ckpt['spec']['kind']}/{ckpt['spec']['encoder']} model that does not "
            f"match the configured {model.spec.kind}/{model.spec.encoder} ({model.spec.to_dict()})"
        )
    model.load_state_dict(ckpt["model"])
    return ckpt


def _batch(it: Iterator[dict], device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in next(it).items()}


def _batches(it: Iterator[dict] | None, device: torch.device) -> dict | None:
    return None if it is None else _batch(it, device)


# --------------------------------------------------------------------------- stage runner


@dataclass
class _Stage:
    """One stage's trainable models with their optimizers and bookkeeping."""

    name: str  # "teachers" | "student"
    models: dict[str, Segmenter]
    total: int
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    step: int = 0
    best: dict[str, float | None] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)  # last evaluation per role
    best_metrics: dict[str, dict] = field(default_factory=dict)  # evaluation of the best checkpoint
    ema: nn.Module | None = None
    # role -> () -> (steps before this stage, steps of the whole schedule); default: this stage
    schedule: dict[str, Callable[[], tuple[int, int]]] = field(default_factory=dict)


class _Runner:
    def __init__(self, cfg, plan, out_dir, device, data, progress, should_stop, t0, dist: Dist | None = None):
        self.cfg, self.plan, self.out_dir, self.device = cfg, plan, out_dir, device
        self.data, self.progress, self.should_stop, self.t0 = data, progress, should_stop, t0
        self.dist = dist or Dist()
        self.base_lr = cfg.lr * lr_scale(cfg, self.dist.world_size)
        self.trained_this_round: set[str] = set()  # roles a finished stage of this round trained
        self.pending: dict = {}  # plan / note for the next progress event

    # -- checkpoints --
    def save(self, st: _Stage, role: str, kind: str) -> None:
        if not self.dist.main:  # rank 0 writes; the other ranks hold the same weights
            return
        extra = {
            "stage": st.name,
            "step": st.step,
            "total_steps": st.total,
            "best_score": st.best.get(role),
            "config": self.cfg.to_dict(),
            "role": role,
            "metrics": st.metrics.get(role),
        }
        if kind == "latest":
            extra["optimizer"] = st.optimizers[role].state_dict()
            if st.ema is not None:
                extra["ema"] = st.ema.state_dict()
        save_checkpoint(_ckpt(self.out_dir, role, kind), model=st.models[role], extra=extra)

    def save_latest(self, st: _Stage) -> None:
        for role in st.models:
            self.save(st, role, "latest")

    def restore(self, st: _Stage, resume_from: Path | None) -> None:
        """Continue this round (own latest) or start from the previous round's weights.

        A network that already trained in an earlier stage of this round (the student warmed
        up beside the teachers) keeps the weights it has when its stage starts.
        """
        own = {r: _ckpt(self.out_dir, r, "latest") for r in st.models}
        if all(p.is_file() for p in own.values()):
            ckpts = {r: load_checkpoint(p, map_location=self.device) for r, p in own.items()}
            same = [r for r, c in ckpts.items() if c.get("stage") == st.name]
            # the student trained beside the teachers and is in stage 2 already: stage 1 is done
            past = [r for r, c in ckpts.items() if st.name == "teachers" and c.get("stage") == "student"]
            if same and len(same) + len(past) == len(ckpts):
                for r in same:
                    c = _load_weights(st.models[r], own[r], self.device)
                    st.optimizers[r].load_state_dict(c["optimizer"])
                    st.best[r] = c.get("best_score")
                    if c.get("metrics"):
                        st.metrics[r] = st.best_metrics[r] = c["metrics"]
                    if st.ema is not None and "ema" in c:
                        st.ema.load_state_dict(c["ema"])
                st.step = min(int(ckpts[r]["step"]) for r in same)
                if self.cfg.max_minutes:  # keep the dead run's plan (and its LR schedule)
                    st.total = max(int(ckpts[r].get("total_steps") or st.total) for r in same)
                if past:
                    st.step = st.total
                return
        if resume_from is not None:
            for r, model in st.models.items():
                if r in self.trained_this_round:
                    continue
                p = _existing(resume_from, r, self.cfg.resume_weights)
                if p is not None:
                    _load_weights(model, p, self.device)
            if st.ema is not None:
                st.ema.load_state_dict(st.models["student"].state_dict())

    # -- evaluation --
    def evaluate(self, st: _Stage) -> dict[str, float | None]:
        """Rank 0 evaluates (and saves the best checkpoints); every rank gets its scores."""
        if self.data["val"] is None:
            return {}
        mious = self._evaluate(st) if self.dist.main else {}
        if self.dist.active:
            mious, st.best, st.metrics, st.best_metrics = self.dist.agree((mious, st.best, st.metrics, st.best_metrics))
        return mious

    def _evaluate(self, st: _Stage) -> dict[str, float | None]:
        mious = {}
        for role, model in st.models.items():
            m = evaluate(
                model,
                self.data["val"],
                self.cfg.num_classes,
                self.cfg.ignore_index,
                self.device,
                window=self.cfg.eval_window,
                class_names=self.cfg.class_names,
            )
            model.train()
            st.metrics[role] = m
            mious[role] = m["miou"]
            if m["miou"] is not None and (st.best.get(role) is None or m["miou"] > st.best[role]):
                st.best[role] = m["miou"]
                st.best_metrics[role] = m
                self.save(st, role, "best")
        return mious

    def lr(self, st: _Stage, role: str) -> float:
        """poly(0.9) decay over the stage, or over the span st.schedule gives this role (the
        student warmed up beside the teachers follows one schedule across both stages)."""
        offset, total = st.schedule[role]() if role in st.schedule else (0, st.total)
        return self.base_lr * max(0.0, 1 - (offset + st.step) / max(total, 1)) ** 0.9

    # -- the loop --
    def run(
        self, st: _Stage, step_fn: Callable[[int], dict], replan: Callable[[_Stage, float], None] | None = None
    ) -> None:
        """Train ``st`` to its total; ``replan(st, seconds_per_step)`` may change st.total after
        REPLAN_AFTER steps measured here (the first step, which warms up, excluded), then again
        every twentieth of the stage, from the step time since the last re-plan: a worker that
        gets busier or quieter mid-round still ends on time. Counted in steps, not seconds, so
        that every rank re-plans at the same step.
        With several ranks step_fn runs the DDP-wrapped networks, every rank stops at the same
        step, and the stage ends once rank 0 has written its checkpoints."""
        cfg = self.cfg
        for m in st.models.values():
            m.train()
        first: tuple[int, float] | None = None  # (step, time) where the measured window starts
        window = REPLAN_AFTER
        while st.step < st.total:
            if self.dist.any(self.should_stop is not None and self.should_stop()):
                self.save_latest(st)
                raise Cancelled
            lr = self.lr(st, next(iter(st.optimizers)))  # reported
            for role, opt in st.optimizers.items():
                for g in opt.param_groups:
                    g["lr"] = self.lr(st, role)
                opt.zero_grad(set_to_none=True)
            with autocast(self.device, cfg.amp):
                out = step_fn(st.step)
            out["loss"].backward()
            for opt in st.optimizers.values():
                opt.step()
            if st.ema is not None:
                ema_update(st.ema, st.models["student"], cfg.ema_decay)
            st.step += 1
            mious = None
            if st.step % cfg.eval_every == 0 or st.step == st.total:
                mious = self.evaluate(st)
            if replan is not None:
                if first is None:
                    first = (st.step, time.monotonic())
                elif st.step - first[0] >= window and st.step < st.total:
                    replan(st, (time.monotonic() - first[1]) / (st.step - first[0]))
                    first, window = (st.step, time.monotonic()), max(REPLAN_AFTER, st.total // REPLANS_PER_STAGE)
            if st.step % cfg.save_every == 0 or st.step == st.total:
                self.save_latest(st)
            self.report(st, out, lr, mious)
        if not all(_ckpt(self.out_dir, r, "latest").is_file() for r in st.models):
            self.save_latest(st)  # zero-step stage: keep the starting weights
        if self.data["val"] is None or not all(_ckpt(self.out_dir, r, "best").is_file() for r in st.models):
            for role in st.models:  # no val set (or no score): best = final weights
                self.save(st, role, "best")
        self.dist.agree(None)  # the next stage reads what rank 0 wrote

    def report(self, st: _Stage, out: dict, lr: float, mious: dict | None) -> None:
        """The progress event of a step; with several ranks its losses are their mean."""
        if self.progress is None and not self.dist.active:
            return
        values = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items() if v is not None}
        values = self.dist.mean(values)
        if self.progress is None:
            return
        mask_ratio = values.pop("mask_ratio", None)
        losses = values
        scored = [v for v in (mious or {}).values() if v is not None]
        self.progress(
            ProgressEvent(
                stage=st.name,
                step=st.step,
                total_steps=st.total,
                losses=losses,
                mask_ratio=mask_ratio,
                lr=lr,
                val_miou=max(scored) if scored else None,
                elapsed=time.monotonic() - self.t0,
                val_mious=mious or None,
                plan=self.pending.pop("plan", None),
                note=self.pending.pop("note", None),
            )
        )


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


# --------------------------------------------------------------------------- data


def _as_pair(item) -> tuple:
    return (item, None) if isinstance(item, (str, Path)) else (item[0], item[1] if len(item) > 1 else None)


def _datasets(cfg: TrainConfig, labeled, unlabeled, val, pseudo_labeled, dist: Dist) -> dict:
    """The round's loaders: labeled and unlabeled endless (this rank's share of each global
    batch), val whole images (None when empty)."""
    common: dict[str, Any] = dict(
        num_classes=cfg.num_classes,
        ignore_index=cfg.ignore_index,
        remap=cfg.remap,
        long_side=cfg.long_side,
        cache=cfg.cache_images,
    )
    lab_tf = LabeledTransform(cfg.crop_size, cfg.scale_range, True, cfg.ignore_index)
    parts = [SegmentationDataset(list(labeled), transform=lab_tf, **common)]
    if pseudo_labeled:
        parts.append(
            SegmentationDataset(list(pseudo_labeled), transform=lab_tf, weight=cfg.pseudo_label_weight, **common)
        )
    unl = SegmentationDataset(
        [_as_pair(u) for u in unlabeled],
        transform=UnlabeledTransform(cfg.crop_size, cfg.scale_range, ignore_index=cfg.ignore_index),
        **common,
    )
    val_ds = SegmentationDataset(list(val), transform=EvalTransform(cfg.ignore_index), **common)
    if cfg.cache_images:
        for ds in (*parts, unl, val_ds):
            ds.preload()
    lab: ConcatDataset = ConcatDataset(parts)
    shard = {"rank": dist.rank, "world_size": dist.world_size, "num_workers": cfg.num_workers}
    return {
        "labeled": infinite_loader(lab, cfg.batch_size, seed=cfg.seed, name="labeled", **shard),
        "unlabeled": infinite_loader(unl, cfg.unlabeled_batch_size, seed=cfg.seed + 1, name="unlabeled", **shard)
        if len(unl)
        else None,
        "val": val_loader(val_ds) if len(val_ds) else None,
    }


# --------------------------------------------------------------------------- teacher gate

GATE_USED = (
    "Teachers beat the supervised student on validation ({teachers} vs {student}): their pseudo-labels guide stage 2."
)
GATE_LOST = (
    "The teachers did not beat the student trained on the labels alone ({teachers} vs {student}), so stage 2 "
    "trained the student supervised: pseudo-labels from weaker teachers would teach it their mistakes."
)
GATE_NO_VAL = "No validation images: the teacher gate cannot compare, so the teachers guide stage 2 unchecked."
TEACHERS_SKIPPED = (
    "The teachers were skipped this round: {minutes:g} min on this machine leave them {steps} steps, fewer than "
    "the {minimum} they need to beat the student (min_teacher_steps). The student trained on the labels for the "
    "whole budget and pseudo-labels the unlabeled images itself. A GPU worker or a longer max_minutes trains the "
    "teachers."
)


def _skip_teachers(cfg: TrainConfig, planned_steps: int, out_dir: Path) -> bool:
    """Skip stage 1 when the plan leaves the teachers fewer than cfg.min_teacher_steps, unless
    this round already started training them (a resumed run keeps its decision)."""
    if (out_dir / "gate.json").is_file():
        return bool(json.loads((out_dir / "gate.json").read_text()).get("skipped"))
    started = any(_ckpt(out_dir, role, "latest").is_file() for role in ("su", "ru"))
    return not started and planned_steps < cfg.min_teacher_steps


def _skipped_gate(cfg: TrainConfig, planned_steps: int) -> dict:
    """The gate of a round whose plan left the teachers too few steps to be worth training."""
    reason = TEACHERS_SKIPPED.format(minutes=cfg.max_minutes, steps=planned_steps, minimum=cfg.min_teacher_steps)
    return {
        "used": False,
        "skipped": True,
        "planned_teacher_steps": planned_steps,
        "teachers": {},
        "student": None,
        "reason": reason,
    }


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}"


def _decide_gate(best: dict[str, float | None], teacher_roles: list[str], has_val: bool) -> dict:
    """Teachers guide stage 2 only if one of them beats the student trained beside them.

    Returns {"used", "teachers": role -> mIoU, "student": mIoU, "reason"}.
    """
    teachers = {r: best.get(r) for r in teacher_roles}
    student = best.get("student")
    scored = [v for v in teachers.values() if v is not None]
    words = ", ".join(f"{r.upper()} {_pct(v)}" for r, v in teachers.items())
    if not has_val or student is None or not scored:
        return {"used": True, "teachers": teachers, "student": student, "reason": GATE_NO_VAL}
    used = max(scored) > student
    reason = (GATE_USED if used else GATE_LOST).format(teachers=words, student=_pct(student))
    return {"used": used, "teachers": teachers, "student": student, "reason": reason}


# --------------------------------------------------------------------------- time budget


def _image_hw(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


# --------------------------------------------------------------------------- entry point


def train_round(
    config: TrainConfig | dict,
    *,
    labeled: Sequence[tuple],
    unlabeled: Sequence = (),
    val: Sequence[tuple] = (),
    pseudo_labeled: Sequence[tuple] = (),
    out_dir: str | Path,
    resume_from: str | Path | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    pseudo_label_images: int | None = None,
    pseudo_seconds_per_image: float | None = None,
) -> RoundResult:
    """Run one training round: stage 1 (teachers), then stage 2 (student).

    labeled: (image_path, mask_path) pairs with ground truth. unlabeled: image paths, or
    (image_path, mask_path) pairs of partly labeled images (also in labeled): only the pixels
    their mask leaves at ignore_index are unlabeled data (UnlabeledTransform's valid map).
    val: (image_path, mask_path) pairs for mIoU and best-checkpoint selection (may be empty).
    pseudo_labeled: (image_path, mask_path) accepted pseudo-labels whose unconfident pixels
    hold ignore_index; trained as labeled data with CE weight cfg.pseudo_label_weight.
    out_dir: where {su,ru,student}_{latest,best}.pt go; if it already holds this round's
    latest checkpoints the round resumes from them (mid-stage), else the models start from
    resume_from's checkpoints (previous round; cfg.resume_weights) or from their resolved
    starting weights (file, hub, package or random; RoundResult.weights says which).
    progress: called with a ProgressEvent after every step. should_stop: polled before
    every step; when it returns True the latest checkpoints are saved and a result with
    status "cancelled" is returned.
    pseudo_label_images: how many images the caller pseudo-labels after the round (default:
    unlabeled + pseudo_labeled); with cfg.max_minutes the plan reserves time for them, at
    pseudo_seconds_per_image when the caller measured it (its last round), else from the
    teachers' measured inference time.

    With cfg.teacher_gate (igl_dt, cps) the student trains on the labels beside the teachers
    in stage 1; stage 2 uses the teachers only if one beats it on val (RoundResult.gate).

    With more than one rank (cfg.gpus on a multi-GPU machine, cfg.cpu_ranks on the CPU) the
    round is data-parallel (ml.train.distributed): rank 0 writes the files and reports progress,
    and the result is rank 0's.

    Raises ValueError for an empty labeled set, an unknown backbone, a bad mask or a
    checkpoint that does not match the configured models; DistributedRoundError (naming the
    rank and its error) when a rank of a data-parallel round fails.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    if not labeled:
        raise ValueError(EMPTY_LABELED)
    kwargs: dict[str, Any] = dict(
        labeled=list(labeled),
        unlabeled=list(unlabeled),
        val=list(val),
        pseudo_labeled=list(pseudo_labeled),
        out_dir=Path(out_dir),
        resume_from=resume_from,
        pseudo_label_images=pseudo_label_images,
        pseudo_seconds_per_image=pseudo_seconds_per_image,
    )
    world = world_size(cfg)
    if world > 1:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        result: RoundResult = spawn_round(_round, cfg, world, kwargs, progress=progress, should_stop=should_stop)
        return result
    return _round(cfg, Dist(), progress=progress, should_stop=should_stop, **kwargs)


def _round(
    cfg: TrainConfig,
    dist: Dist,
    *,
    labeled: Sequence[tuple],
    unlabeled: Sequence,
    val: Sequence[tuple],
    pseudo_labeled: Sequence[tuple],
    out_dir: Path,
    resume_from: str | Path | None,
    progress: Callable[[ProgressEvent], None] | None,
    should_stop: Callable[[], bool] | None,
    pseudo_label_images: int | None,
    pseudo_seconds_per_image: float | None,
    t0: float | None = None,
) -> RoundResult:
    """train_round in one process: the whole round, or one rank's part of it (``dist``)."""
    t0 = time.monotonic() if t0 is None else t0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    resume_from = Path(resume_from) if resume_from else None
    device = dist.device or resolve_device(cfg.device)
    set_seed(cfg.seed + dist.rank)  # rank 0 as a single process; the others augment differently
    plan = make_plan(cfg)
    # build every network first: an unknown backbone fails before any data is read
    teachers = {r: _build(s, r, cfg, device) for r, s in plan.teacher_specs.items()}
    student = _build(plan.student_spec, "student", cfg, device)
    weights = {r: _weight_record(m) for r, m in {**teachers, "student": student}.items()}
    data = _datasets(cfg, labeled, unlabeled, val, pseudo_labeled, dist)
    if dist.main:
        cfg.to_yaml(out_dir / "config.yaml")
    runner = _Runner(cfg, plan, out_dir, device, data, progress, should_stop, t0, dist)
    # the gate's reference: the student trained on the labels beside the teachers
    warm = bool(teachers) and cfg.teacher_gate and plan.student_mode == "distill"
    stage1_models = {**teachers, "student": student} if warm else dict(teachers)

    def stage1_step(models: Mapping[str, nn.Module], s: int, total: int) -> dict:
        batch_l = _batch(data["labeled"], device)
        t = {r: models[r] for r in teachers}
        out = teacher_step(t, batch_l, _batches(data["unlabeled"], device), cfg=cfg, plan=plan, step=s, total=total)
        if warm:
            sup = L.supervised_loss(
                models["student"](batch_l["image"]), batch_l["mask"], cfg.ignore_index, pixel_weight(batch_l)
            )
            out["loss"] = out["loss"] + sup
            out["student_sup"] = float(sup.detach())
        return out

    def stage2_step(model: nn.Module, frozen: dict, s: int, total: int) -> dict:
        unl = data["unlabeled"] if frozen else None
        return student_step(
            model,
            frozen,
            _batch(data["labeled"], device),
            _batches(unl, device),
            cfg=cfg,
            plan=plan,
            step=s,
            total=total,
        )

    budget = None
    gate: dict | None = None

    def agree_plan() -> None:
        """Every rank follows rank 0's plan (their measured step times differ a little)."""
        if budget is not None and dist.active:
            budget.plan, budget.eval_s = dist.agree((budget.plan, budget.eval_s))
            budget.pending["plan"] = budget.made.to_dict()

    if cfg.max_minutes:
        budget = RoundBudget(cfg, t0, device, runner.pending)
        probe1 = {r: copy.deepcopy(m) for r, m in stage1_models.items()}
        probe2 = copy.deepcopy(student)
        frozen_probe = {r: copy.deepcopy(m).eval().requires_grad_(False) for r, m in teachers.items()}
        if plan.student_mode == "mean_teacher":
            frozen_probe = {"ema": copy.deepcopy(student).eval().requires_grad_(False)}

        def probe_t():
            with autocast(device, cfg.amp):
                return stage1_step(probe1, cfg.teacher_steps // 2, cfg.teacher_steps)["loss"]

        def probe_s():
            with autocast(device, cfg.amp):
                return stage2_step(probe2, frozen_probe, cfg.student_steps // 2, cfg.student_steps)["loss"]

        def probe_supervised():
            with autocast(device, cfg.amp):
                return stage2_step(probe2, {}, cfg.student_steps // 2, cfg.student_steps)["loss"]

        first_unlabeled = next(iter([*unlabeled, *[p for p, _ in pseudo_labeled]]), None)
        first_unlabeled = _as_pair(first_unlabeled)[0] if first_unlabeled is not None else None
        pseudo_hw = _image_hw(first_unlabeled) if first_unlabeled is not None else None
        val_hw = _image_hw(val[0][0]) if val else None
        n_pseudo = pseudo_label_images if pseudo_label_images is not None else len(unlabeled) + len(pseudo_labeled)
        budget.make(
            probe_t if teachers else None,
            probe_s,
            list(stage1_models.values()),
            student,
            list(teachers.values()),
            pseudo_hw,
            n_pseudo,
            val_hw,
            len(val),
            pseudo_seconds_per_image,
        )
        agree_plan()
        if teachers and dist.agree(_skip_teachers(cfg, budget.made.teacher_steps, out_dir)):
            gate = _skipped_gate(cfg, budget.made.teacher_steps)
            if dist.main:
                (out_dir / "gate.json").write_text(json.dumps(gate, indent=2))
            runner.pending["note"] = gate["reason"]
            teachers, stage1_models, warm = {}, {}, False
            weights = {"student": weights["student"]}
            # the plan again for the student alone, labelling with itself (its last measured
            # seconds per image were the teachers')
            budget.make(None, probe_supervised, [], student, [student], pseudo_hw, n_pseudo, val_hw, len(val))
            agree_plan()
        del probe1, probe2, frozen_probe

    def replan(st: _Stage, step_s: float) -> None:
        if budget is not None:
            budget.replan(st, step_s)
            agree_plan()
            st.total = budget.made.teacher_steps if st.name == "teachers" else budget.made.student_steps

    def planned_student_steps() -> int:
        return budget.made.student_steps if budget else cfg.student_steps

    stages: list[_Stage] = []
    try:
        if teachers:
            total1 = budget.made.teacher_steps if budget else cfg.teacher_steps
            st1 = _Stage("teachers", stage1_models, total1, {r: _optimizer(m, cfg) for r, m in stage1_models.items()})
            if warm:  # one schedule over both stages, as a supervised student of as many steps has
                st1.schedule["student"] = lambda: (0, st1.total + planned_student_steps())
            stages.append(st1)
            runner.restore(st1, resume_from)
            resumed_done = st1.step >= st1.total
            nets1 = {r: dist.wrap(m) for r, m in stage1_models.items()}  # DDP with several ranks
            runner.run(st1, lambda s: stage1_step(nets1, s, st1.total), replan=replan if budget else None)
            for r, m in stage1_models.items():  # pseudo-labels come from the best teachers
                _load_weights(m, _existing(out_dir, r, "best"), device)
            for m in teachers.values():
                m.eval().requires_grad_(False)
            runner.trained_this_round.update(stage1_models)
            gate_file = out_dir / "gate.json"
            if warm and resumed_done and gate_file.is_file():
                gate = json.loads(gate_file.read_text())  # decided before the interruption
            elif warm:
                gate = _decide_gate(st1.best, list(teachers), data["val"] is not None)
                runner.pending["note"] = gate["reason"]
                if dist.main:
                    gate_file.write_text(json.dumps(gate, indent=2))
            if budget and gate is not None and not gate["used"]:
                budget.pseudo_label_with(student)  # the caller labels with the better network

        total2 = budget.made.student_steps if budget else cfg.student_steps
        st2 = _Stage("student", {"student": student}, total2, {"student": _optimizer(student, cfg)})
        if warm and teachers:
            st2.optimizers["student"] = st1.optimizers["student"]  # its moments carry on too
            st2.schedule["student"] = lambda: (st1.total, st1.total + st2.total)
        frozen = dict(teachers)
        if plan.student_mode == "mean_teacher":
            st2.ema = copy.deepcopy(student).eval().requires_grad_(False)
            frozen = {"ema": st2.ema}
        elif plan.student_mode == "supervised" or (gate is not None and not gate["used"]):
            frozen = {}
        if warm and teachers:
            st2.best["student"] = st1.best.get("student")  # stage 2 must beat the warmed-up student
            if "student" in st1.best_metrics:
                st2.best_metrics["student"] = st1.best_metrics["student"]
        stages.append(st2)
        if budget and teachers:
            budget.start_student_stage(st2)
            agree_plan()
            st2.total = budget.made.student_steps
        runner.restore(st2, resume_from)
        net2 = dist.wrap(student)
        runner.run(st2, lambda s: stage2_step(net2, frozen, s, st2.total), replan=replan if budget else None)
        status = "completed"
    except Cancelled:
        status = "cancelled"

    roles = [*teachers, "student"]
    student_best = stages[-1].best.get("student") if stages and stages[-1].name == "student" else None
    result = RoundResult(
        status=status,
        out_dir=out_dir,
        checkpoints={
            r: {k: _ckpt(out_dir, r, k) for k in ("latest", "best") if _ckpt(out_dir, r, k).is_file()} for r in roles
        },
        best_miou={
            **{r: st.best.get(r) for st in stages for r in st.models if r != "student"},
            "student": student_best,
        },
        metrics={r: st.best_metrics.get(r) or st.metrics[r] for st in stages for r in st.models if r in st.metrics},
        steps={st.name: st.step for st in stages},
        elapsed=time.monotonic() - t0,
        method=cfg.method,
        weights=weights,
        plan=budget.made.to_dict() if budget else None,
        gate=gate,
    )
    if dist.main:
        (out_dir / "round.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result
