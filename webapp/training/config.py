"""A round's training config: module defaults <- settings.SEGLOOP_TRAIN_CONFIG <- Project.training_config.

The defaults are deliberately small (CPU-friendly, no pretrained downloads) so a fresh install
trains end to end on a laptop; real deployments override them per project or in settings.
"""
from typing import Any

from django.conf import settings

from webapp.env import env_str
from webapp.projects.models import Project

# Small CPU-friendly round: reduced Swin SU teacher, resnet18 RU teacher, random init (no
# downloads). The served student is a MobileNetV3 U-Net whose decoder stops at stride 4: 29 ms
# per 480x360 image in ONNX Runtime on 2 CPU cores (docs/benchmarks.md, "Inference").
DEFAULT_TRAIN_CONFIG: dict[str, Any] = {
    "su_encoder": "swin_tiny_patch4_window7_224",
    "su_kwargs": {
        "encoder_kwargs": {"embed_dim": 48, "depths": [2, 2, 2, 2], "num_heads": [3, 6, 12, 24]},
        "decoder_depth": 1,
    },
    "ru_encoder": "resnet18",
    "ru_kwargs": {"decoder_channels": [128, 64, 32, 16, 16]},
    "student_encoder": "mobilenetv3_large_100",
    "student_kwargs": {"decoder_channels": [64, 32, 24], "output_stride": 4},
    "crop_size": 224,
    "batch_size": 4,
    "unlabeled_batch_size": 4,
    "teacher_steps": 300,
    "student_steps": 300,
    "eval_every": 50,
    "save_every": 25,
    "tau": 0.9,
}

CONFIG_NOT_A_DICT = "The project's training config must be a JSON object of TrainConfig fields."


def _overrides_from_settings() -> dict[str, Any]:
    return dict(getattr(settings, "SEGLOOP_TRAIN_CONFIG", {}) or {})


def training_config_for_project(*, project: Project) -> dict[str, Any]:
    """The plain dict handed to ml.train.TrainConfig for the project's next round.

    num_classes and ignore_index always come from the project's classes: a project's JSON
    cannot make the model disagree with its label classes.
    """
    if not isinstance(project.training_config, dict):
        raise ValueError(CONFIG_NOT_A_DICT)
    config = {**DEFAULT_TRAIN_CONFIG, **_overrides_from_settings(), **project.training_config}
    config["num_classes"] = project.num_classes
    config["ignore_index"] = project_ignore_index(project)
    config["class_names"] = [c.name for c in project.label_classes.all() if not c.is_ignore]
    device = env_str("SEGLOOP_TRAIN_DEVICE")
    if device:
        config["device"] = device
    return config


def project_ignore_index(project: Project) -> int:
    """The label ml skips: the project's ignore class, else 255 (never a real class index)."""
    index = project.ignore_index
    return 255 if index is None else index
