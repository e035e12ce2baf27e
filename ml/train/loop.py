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
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset

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
from ml.models import ModelSpec, build_segmenter

from .config import TrainConfig
from .plan import Plan, make_plan
from .steps import ema_update, student_step, teacher_step

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _ckpt(out_dir: Path, role: str, kind: str) -> Path:
    return out_dir / f"{role}_{kind}.pt"


def _existing(folder: Path, role: str, prefer: str) -> Path | None:
    for kind in (prefer, "latest" if prefer == "best" else "best"):
        p = _ckpt(folder, role, kind)
        if p.is_file():
            return p
    return None


def _build(spec: ModelSpec, role: str, cfg: TrainConfig, device: torch.device) -> nn.Module:
    torch.manual_seed(cfg.seed * 100 + ROLE_SEED[role])  # same init whatever else is built
    return build_segmenter(spec, pretrained=role in cfg.pretrained).to(device)


def _load_weights(model: nn.Module, path: Path, device: torch.device) -> dict:
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


def _batches(it: Iterator[dict] | None, device: torch.device) -> dict | None:
    if it is None:
        return None
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in next(it).items()}


# --------------------------------------------------------------------------- stage runner

@dataclass
class _Stage:
    """One stage's trainable models with their optimizers and bookkeeping."""

    name: str  # "teachers" | "student"
    models: dict[str, nn.Module]
    total: int
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    step: int = 0
    best: dict[str, float | None] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    ema: nn.Module | None = None


class _Runner:
    def __init__(self, cfg, plan, out_dir, device, data, progress, should_stop, t0):
        self.cfg, self.plan, self.out_dir, self.device = cfg, plan, out_dir, device
        self.data, self.progress, self.should_stop, self.t0 = data, progress, should_stop, t0

    # -- checkpoints --
    def save(self, st: _Stage, role: str, kind: str) -> None:
        extra = {
            "stage": st.name, "step": st.step, "total_steps": st.total,
            "best_score": st.best.get(role), "config": self.cfg.to_dict(), "role": role,
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
        """Continue this round (own latest) or start from the previous round's weights."""
        own = [_ckpt(self.out_dir, r, "latest") for r in st.models]
        if all(p.is_file() for p in own):
            ckpts = {r: _load_weights(st.models[r], p, self.device) for r, p in zip(st.models, own)}
            if all(c.get("stage") == st.name for c in ckpts.values()):
                st.step = min(int(c["step"]) for c in ckpts.values())
                for r, c in ckpts.items():
                    st.optimizers[r].load_state_dict(c["optimizer"])
                    st.best[r] = c.get("best_score")
                    if c.get("metrics"):
                        st.metrics[r] = c["metrics"]
                    if st.ema is not None and "ema" in c:
                        st.ema.load_state_dict(c["ema"])
                return
        if resume_from is not None:
            for r, model in st.models.items():
                p = _existing(resume_from, r, self.cfg.resume_weights)
                if p is not None:
                    _load_weights(model, p, self.device)
            if st.ema is not None:
                st.ema.load_state_dict(st.models["student"].state_dict())

    # -- evaluation --
    def evaluate(self, st: _Stage) -> dict[str, float | None]:
        if self.data["val"] is None:
            return {}
        mious = {}
        for role, model in st.models.items():
            m = evaluate(model, self.data["val"], self.cfg.num_classes, self.cfg.ignore_index,
                         self.device, window=self.cfg.eval_window, class_names=self.cfg.class_names)
            model.train()
            st.metrics[role] = m
            mious[role] = m["miou"]
            if m["miou"] is not None and (st.best.get(role) is None or m["miou"] > st.best[role]):
                st.best[role] = m["miou"]
                self.save(st, role, "best")
        return mious

    # -- the loop --
    def run(self, st: _Stage, step_fn: Callable[[int], dict]) -> None:
        cfg = self.cfg
        for m in st.models.values():
            m.train()
        amp = (torch.autocast("cuda", dtype=torch.bfloat16)
               if cfg.amp and self.device.type == "cuda" else nullcontext())
        while st.step < st.total:
            if self.should_stop is not None and self.should_stop():
                self.save_latest(st)
                raise Cancelled
            lr = cfg.lr * (1 - st.step / st.total) ** 0.9
            for opt in st.optimizers.values():
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=True)
            with amp:
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
            if st.step % cfg.save_every == 0 or st.step == st.total:
                self.save_latest(st)
            self.report(st, out, lr, mious)
        if not all(_ckpt(self.out_dir, r, "latest").is_file() for r in st.models):
            self.save_latest(st)  # zero-step stage: keep the starting weights
        if self.data["val"] is None or not all(_ckpt(self.out_dir, r, "best").is_file() for r in st.models):
            for role in st.models:  # no val set (or no score): best = final weights
                self.save(st, role, "best")

    def report(self, st: _Stage, out: dict, lr: float, mious: dict | None) -> None:
        if self.progress is None:
            return
        losses = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items() if k != "mask_ratio"}
        scored = [v for v in (mious or {}).values() if v is not None]
        self.progress(ProgressEvent(
            stage=st.name, step=st.step, total_steps=st.total, losses=losses,
            mask_ratio=out.get("mask_ratio"), lr=lr, val_miou=max(scored) if scored else None,
            elapsed=time.monotonic() - self.t0, val_mious=mious or None,
        ))


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


# --------------------------------------------------------------------------- data

def _as_pair(item) -> tuple:
    return (item, None) if isinstance(item, (str, Path)) else (item[0], item[1] if len(item) > 1 else None)


def _datasets(cfg: TrainConfig, labeled, unlabeled, val, pseudo_labeled) -> dict:
    common = dict(num_classes=cfg.num_classes, ignore_index=cfg.ignore_index, remap=cfg.remap,
                  long_side=cfg.long_side, cache=cfg.cache_images)
    lab_tf = LabeledTransform(cfg.crop_size, cfg.scale_range, True, cfg.ignore_index)
    parts = [SegmentationDataset(list(labeled), transform=lab_tf, **common)]
    if pseudo_labeled:
        parts.append(SegmentationDataset(list(pseudo_labeled), transform=lab_tf,
                                         weight=cfg.pseudo_label_weight, **common))
    unl = SegmentationDataset([_as_pair(u) for u in unlabeled],
                              transform=UnlabeledTransform(cfg.crop_size, cfg.scale_range), **common)
    val_ds = SegmentationDataset(list(val), transform=EvalTransform(cfg.ignore_index), **common)
    if cfg.cache_images:
        for ds in (*parts, unl, val_ds):
            ds.preload()
    lab = ConcatDataset(parts)
    return {
        "labeled": infinite_loader(lab, cfg.batch_size, seed=cfg.seed, num_workers=cfg.num_workers,
                                   name="labeled"),
        "unlabeled": infinite_loader(unl, cfg.unlabeled_batch_size, seed=cfg.seed + 1,
                                     num_workers=cfg.num_workers, name="unlabeled") if len(unl) else None,
        "val": val_loader(val_ds) if len(val_ds) else None,
    }


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
) -> RoundResult:
    """Run one training round: stage 1 (teachers), then stage 2 (student).

    labeled: (image_path, mask_path) pairs with ground truth. unlabeled: image paths.
    val: (image_path, mask_path) pairs for mIoU and best-checkpoint selection (may be empty).
    pseudo_labeled: (image_path, mask_path) accepted pseudo-labels whose unconfident pixels
    hold ignore_index; trained as labeled data with CE weight cfg.pseudo_label_weight.
    out_dir: where {su,ru,student}_{latest,best}.pt go; if it already holds this round's
    latest checkpoints the round resumes from them (mid-stage), else the models start from
    resume_from's checkpoints (previous round; cfg.resume_weights) or from scratch.
    progress: called with a ProgressEvent after every step. should_stop: polled before
    every step; when it returns True the latest checkpoints are saved and a result with
    status "cancelled" is returned.

    Raises ValueError for an empty labeled set, an unknown backbone, a bad mask or a
    checkpoint that does not match the configured models.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    if not labeled:
        raise ValueError(EMPTY_LABELED)
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    resume_from = Path(resume_from) if resume_from else None
    device = resolve_device(cfg.device)
    set_seed(cfg.seed)
    plan = make_plan(cfg)
    # build every network first: an unknown backbone fails before any data is read
    teachers = {r: _build(s, r, cfg, device) for r, s in plan.teacher_specs.items()}
    student = _build(plan.student_spec, "student", cfg, device)
    data = _datasets(cfg, labeled, unlabeled, val, pseudo_labeled)
    cfg.to_yaml(out_dir / "config.yaml")
    runner = _Runner(cfg, plan, out_dir, device, data, progress, should_stop, t0)

    stages: list[_Stage] = []
    try:
        if teachers:
            st1 = _Stage("teachers", teachers, cfg.teacher_steps,
                         {r: _optimizer(m, cfg) for r, m in teachers.items()})
            stages.append(st1)
            runner.restore(st1, resume_from)
            runner.run(st1, lambda s: teacher_step(
                teachers, _batches(data["labeled"], device), _batches(data["unlabeled"], device),
                cfg=cfg, plan=plan, step=s, total=st1.total))
            for r, m in teachers.items():  # pseudo-labels come from the best teachers
                _load_weights(m, _existing(out_dir, r, "best"), device)
                m.eval().requires_grad_(False)

        st2 = _Stage("student", {"student": student}, cfg.student_steps,
                     {"student": _optimizer(student, cfg)})
        frozen = dict(teachers)
        if plan.student_mode == "mean_teacher":
            st2.ema = copy.deepcopy(student).eval().requires_grad_(False)
            frozen = {"ema": st2.ema}
        elif plan.student_mode == "supervised":
            frozen = {}
        stages.append(st2)
        runner.restore(st2, resume_from)
        unl = data["unlabeled"] if frozen else None
        runner.run(st2, lambda s: student_step(
            student, frozen, _batches(data["labeled"], device), _batches(unl, device),
            cfg=cfg, plan=plan, step=s, total=st2.total))
        status = "completed"
    except Cancelled:
        status = "cancelled"

    roles = [*teachers, "student"]
    result = RoundResult(
        status=status,
        out_dir=out_dir,
        checkpoints={r: {k: _ckpt(out_dir, r, k) for k in ("latest", "best") if _ckpt(out_dir, r, k).is_file()}
                     for r in roles},
        best_miou={r: st.best.get(r) for st in stages for r in st.models},
        metrics={r: st.metrics[r] for st in stages for r in st.models if r in st.metrics},
        steps={st.name: st.step for st in stages},
        elapsed=time.monotonic() - t0,
        method=cfg.method,
    )
    (out_dir / "round.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result
