"""TrainConfig: every knob of one IGL-DT training round, with documented defaults.

Choices the paper leaves open ("[ours]" in docs/method.md) are options here; the
defaults are the project's choice and the CamVid ablation benchmark shows their effect.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METHODS = ("igl_dt", "supervised", "mean_teacher", "cps")
TEACHERS = ("both", "su", "ru")
LR_SCALING = ("linear", "sqrt", "none")


@dataclass
class TrainConfig:
    # ---- what to train -------------------------------------------------------------
    method: str = "igl_dt"
    """"igl_dt" (both stages), "supervised" (student on labels only), "mean_teacher"
    (student + EMA teacher, FixMatch-style confidence-masked pseudo-labels on CutMix-ed
    strong views), "cps" (stage 1 with two CNN teachers, sup + CPS, no DL; stage 2
    distils their fused pseudo-labels into the student without GCL/LRL)."""
    teachers: str = "both"
    """igl_dt only: "both", or one teacher ("su" / "ru") for the one-teacher ablation. With
    one teacher stage 1 is sup + self-training (its own weak-view pseudo-labels on the strong
    view) and stage 2 takes GCL and LRL targets from that teacher."""
    use_gcl: bool = True
    """igl_dt: Global Context Learning term (student vs SU class-map GAP)."""
    use_lrl: bool = True
    """igl_dt: Local Regional Learning term (student vs RU, r x r pooled class maps)."""
    use_dl: bool = True
    """igl_dt with two teachers: Discrepancy Learning term in stage 1."""

    # ---- classes -------------------------------------------------------------------
    num_classes: int = 2
    ignore_index: int = 255
    """label of void / unlabelled / unconfident pixels, ignored by losses and metrics."""
    remap: dict = field(default_factory=dict)
    """raw mask value -> class index, applied when reading masks (CamVid: {11: 255})."""
    class_names: list | None = None

    # ---- models (timm encoder names + extra ModelSpec fields) ------------------------
    su_encoder: str = "swin_tiny_patch4_window7_224"
    su_kwargs: dict = field(default_factory=dict)
    """extra ModelSpec fields for SU: encoder_kwargs, decoder_depth, ..."""
    ru_encoder: str = "resnet34"
    ru_kwargs: dict = field(default_factory=dict)
    student_encoder: str = "resnet18"
    student_kwargs: dict = field(default_factory=dict)
    pretrained: list = field(default_factory=lambda: ["su", "ru", "student"])
    """roles ("su", "ru", "student") whose encoder starts from ImageNet weights, resolved in
    the order file > hub (when downloads are allowed) > package (EfficientNet-Lite0/Lite2)
    > random (reported). Default: all three."""
    weights: dict = field(default_factory=dict)
    """role -> a local weights file (.pth/.safetensors, whole network or encoder), or "hub" /
    "package" / "random" to insist on one source (an unavailable one is an error)."""

    # ---- data --------------------------------------------------------------------------
    crop_size: int = 256
    long_side: int | None = None
    """resize every image once at load so its longer side is this (None: keep)."""
    scale_range: tuple = (0.5, 2.0)
    """random scale of the weak augmentation."""
    cutmix_prob: float = 0.5
    """probability that a strong-view sample gets a CutMix box."""
    batch_size: int = 4
    """labeled (+ pseudo-labeled) images per step, per rank: a round on N GPUs (gpus) trains
    on global batches of N x batch_size, each rank on its share (and its BatchNorm sees the
    batch a one-GPU round of the same config sees)."""
    unlabeled_batch_size: int = 4
    """unlabeled images per step, per rank (as batch_size)."""
    pseudo_label_weight: float = 1.0
    """per-pixel CE weight of pseudo-labeled images (accepted pseudo-labels) vs ground truth."""
    cache_images: bool = True
    """decode every image once and keep it in memory (and fail early on bad masks)."""
    num_workers: int = 0

    # ---- optimisation ------------------------------------------------------------------
    teacher_steps: int = 2000
    student_steps: int = 2000
    lr: float = 5e-4
    """AdamW learning rate of one rank, decayed with a poly(0.9) schedule over each stage. N
    ranks train at lr x N (lr_scaling), since their global batch is N times larger."""
    weight_decay: float = 1e-4
    seed: int = 0

    # ---- losses ------------------------------------------------------------------------
    tau: float = 0.95
    """confidence threshold of pseudo-labels (CPS and student); 0 = no masking."""
    pseudo_normalize: str = "valid"
    """"valid": sum(CE*m)/#valid pixels (UniMatch); "confident": mean over confident pixels."""
    lambda_cps: float = 1.0
    lambda_dis: float = 0.1
    dl_eps: float = 1e-2
    """eps of L_dis = 1/(mean|p_SU - p_RU)| + eps); bounds L_dis by 1/eps."""
    dl_decay_power: float = 1.0
    """lambda_dis(t) = lambda_dis * (1 - t/T) ** power over stage 1 (0 = constant)."""
    lambda_u: float = 1.0
    lambda_glo: float = 1.0
    lambda_loc: float = 1.0
    lrl_r: int = 8
    """LRL region size r (r x r average pooling)."""
    rampup_frac: float = 0.2
    """sigmoid ramp-up of lambda_cps and lambda_u over this fraction of each stage."""
    alternate_states: bool = True
    """student's unlabeled input alternates weak / strong(+CutMix) per step; False: always strong."""
    ema_decay: float = 0.99
    """mean_teacher only: EMA decay of the teacher."""

    # ---- loop / checkpoints ------------------------------------------------------------
    eval_every: int = 500
    """evaluate on val (and keep the best checkpoint) every N steps and at each stage end."""
    save_every: int = 100
    """write the *_latest.pt checkpoints every N steps (and on cancel / stage end)."""
    eval_window: int | None = None
    """sliding-window size for validation (None: whole image)."""
    resume_weights: str = "best"
    """which checkpoints of the previous round a new round starts from: "best" or "latest"."""
    device: str = "auto"
    """"auto" (CUDA if present), "cpu", "cuda", "cuda:1", ... A device with an index pins the
    round to that one GPU (gpus does not apply)."""
    gpus: int | None = 1
    """the most GPUs one round trains on, data-parallel (DDP, NCCL): N = min(gpus, visible GPUs)
    ranks, one per GPU; 0 or None: every visible GPU. The rule for N > 1: each rank takes
    batch_size (and unlabeled_batch_size) images per step, so the global batch is N x
    batch_size, and the learning rate follows lr_scaling (default linear: lr x N). Step counts
    (and max_minutes plans) are in steps, so N GPUs see N times the images per step. Rank 0
    writes the checkpoints and reports progress; a failed rank fails the round, and the next
    run resumes from the latest checkpoints (docs/workers.md, "Several GPUs per round")."""
    cpu_ranks: int = 1
    """with device cpu (or auto without CUDA): the number of gloo processes that train the
    round data-parallel, by the same rule as gpus. They share the machine's cores, so this is
    for tests and for checking the distributed path without GPUs, not for speed."""
    lr_scaling: str = "linear"
    """how the learning rate follows the number of ranks N: "linear" (lr x N, Goyal et al. 2017:
    the global batch is N times larger), "sqrt" (lr x sqrt(N), gentler for AdamW at large N) or
    "none" (lr as configured)."""
    amp: bool = True
    """bf16 autocast on CUDA, and on CPUs with native bf16 (AMX / AVX512-BF16)."""
    channels_last: bool = False
    """train in channels_last memory format (see bench/train_throughput.py for when it pays)."""
    compile: bool = False
    """torch.compile the networks (pays only for long rounds: the first compiled step of a small
    U-Net took 2.4 min on one CPU core; see docs/benchmarks.md)."""
    max_minutes: float | None = None
    """time budget of the whole round, pseudo-labelling of the unlabeled images included:
    the step counts are planned from step times measured at the start (teacher_steps :
    student_steps keeps its ratio) and re-planned when stage 2 starts. None: the configured
    step counts."""
    min_teacher_steps: int = 0
    """with max_minutes (igl_dt, cps): the fewest teacher steps worth training. When the plan
    leaves the teachers fewer (a short budget on a slow machine), the round skips stage 1:
    the student trains supervised for the whole budget and pseudo-labels the unlabeled images
    itself, and the result's gate says why. Teachers that cannot beat the student would only
    take its time (docs/benchmarks.md). 0: always train the teachers."""
    teacher_gate: bool = True
    """igl_dt / cps: train the student on labels alongside the teachers in stage 1, and let
    teacher pseudo-labels guide it in stage 2 only if a teacher beats it on the validation
    images; otherwise stage 2 trains supervised and the result says why."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {list(METHODS)}")
        if self.teachers not in TEACHERS:
            raise ValueError(f"unknown teachers {self.teachers!r}; valid: {list(TEACHERS)}")
        if self.resume_weights not in ("best", "latest"):
            raise ValueError("resume_weights must be 'best' or 'latest'")
        if self.lr_scaling not in LR_SCALING:
            raise ValueError(f"unknown lr_scaling {self.lr_scaling!r}; valid: {list(LR_SCALING)}")
        if self.gpus is not None and (isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0):
            raise ValueError(f"gpus must be a whole number >= 0 (0 or None: every visible GPU), got {self.gpus!r}")
        if isinstance(self.cpu_ranks, bool) or not isinstance(self.cpu_ranks, int) or self.cpu_ranks < 1:
            raise ValueError(f"cpu_ranks must be a whole number >= 1, got {self.cpu_ranks!r}")
        if self.pseudo_normalize not in ("valid", "confident"):
            raise ValueError("pseudo_normalize must be 'valid' or 'confident'")
        bad = [r for r in [*self.pretrained, *self.weights] if r not in ("su", "ru", "student")]
        if bad:
            raise ValueError(f"roles {bad} unknown in pretrained / weights; valid: su, ru, student")
        if self.max_minutes is not None and not 0 < float(self.max_minutes) <= 7 * 24 * 60:
            raise ValueError(f"max_minutes must be between 0 and a week, got {self.max_minutes}")
        self.scale_range = tuple(float(s) for s in self.scale_range)
        self.remap = {int(k): int(v) for k, v in (self.remap or {}).items()}
        for name in (
            "teacher_steps",
            "student_steps",
            "min_teacher_steps",
            "batch_size",
            "crop_size",
            "eval_every",
            "save_every",
        ):
            if getattr(self, name) < (0 if name.endswith("steps") else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    # ---- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["scale_range"] = list(self.scale_range)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainConfig:
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of TrainConfig keys")
        return cls.from_dict(data)

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
