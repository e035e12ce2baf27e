"""Reads: what a project serves, and its int8 check."""

from dataclasses import dataclass
from pathlib import Path

from webapp.projects.models import Project
from webapp.serving.models import BulkPrediction, CheckStatus, Int8Check, Precision, ProjectServing
from webapp.training.files import checkpoint_local
from webapp.training.models import ModelVersion


def serving_precision(*, project: Project) -> str:
    """The admin's choice (fp32 until one is made)."""
    chosen = ProjectServing.objects.filter(project=project).values_list("precision", flat=True).first()
    return chosen or Precision.FP32


def int8_served_path(*, version: ModelVersion) -> Path | None:
    """The int8 model to serve for ``version``: its project chose int8 and its check passed."""
    relative = (
        Int8Check.objects.filter(
            version=version, status=CheckStatus.PASSED, version__project__serving__precision=Precision.INT8
        )
        .values_list("int8_path", flat=True)
        .first()
    )
    if not relative:
        return None
    try:
        path = checkpoint_local(relative)
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


@dataclass(frozen=True)
class ServingState:
    precision: str  # the admin's choice
    version: ModelVersion | None  # the active one
    check: Int8Check | None  # the active version's int8 check
    bulk: BulkPrediction | None  # the latest bulk prediction

    @property
    def serves(self) -> str:
        """What predictions run in now."""
        passed = self.check is not None and self.check.status == CheckStatus.PASSED
        return Precision.INT8 if self.precision == Precision.INT8 and passed else Precision.FP32

    @property
    def checking(self) -> bool:
        return self.check is not None and self.check.status in (CheckStatus.QUEUED, CheckStatus.RUNNING)

    @property
    def busy(self) -> bool:
        """A check or a bulk prediction is under way: the section polls."""
        return self.checking or (self.bulk is not None and self.bulk.active)


def serving_state(*, project: Project) -> ServingState:
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    check = Int8Check.objects.filter(version=version).first() if version is not None else None
    bulk = BulkPrediction.objects.filter(project=project).select_related("model_version").first()
    return ServingState(precision=serving_precision(project=project), version=version, check=check, bulk=bulk)
