"""How a project's model is served: fp32 (PyTorch) or int8 (ONNX Runtime), the accuracy
check each model version passes before it is served in int8, and bulk predictions of every
image of a project."""

from django.conf import settings
from django.db import models

from webapp.images.models import Image
from webapp.projects.models import Project
from webapp.training.models import ModelVersion


class Precision(models.TextChoices):
    FP32 = "fp32", "fp32 (PyTorch)"
    INT8 = "int8", "int8 (ONNX Runtime, statically quantized)"


class ProjectServing(models.Model):
    """The admin's choice; int8 is served only for a version whose Int8Check passed."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="serving")
    precision = models.CharField(max_length=4, choices=Precision.choices, default=Precision.FP32)

    def __str__(self) -> str:
        return f"{self.project}: {self.precision}"


class CheckStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


class Int8Check(models.Model):
    """The int8 model of one version, quantized on the project's images, and its mIoU against
    fp32 on the project's validation images (both in [0, 1])."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="int8_check")
    status = models.CharField(max_length=8, choices=CheckStatus.choices, default=CheckStatus.QUEUED)
    fp32_miou = models.FloatField(null=True, blank=True)
    int8_miou = models.FloatField(null=True, blank=True)
    num_images = models.PositiveIntegerField(default=0, help_text="Validation images compared.")
    int8_path = models.CharField(max_length=500, blank=True, help_text="Relative to MODELS_ROOT.")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last queued, or last reported progress."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"int8 check of {self.version_id}: {self.status}"

    @property
    def miou_loss_points(self) -> float | None:
        if self.fp32_miou is None or self.int8_miou is None:
            return None
        return 100 * (self.fp32_miou - self.int8_miou)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BulkPrediction(models.Model):
    """One "predict every image of the project" job (default queue); the row holds its state."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="bulk_predictions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=9, choices=JobStatus.choices, default=JobStatus.QUEUED)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    precision = models.CharField(max_length=4, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Images that could not be read.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last progress written.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"bulk prediction {self.pk} of {self.project}: {self.status}"

    @property
    def active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)


def prediction_upload_to(instance: "Prediction", filename: str) -> str:
    return f"projects/{instance.image.project_id}/predictions/{instance.image_id}/{filename}"


class Prediction(models.Model):
    """The served model's latest mask of an image: kept apart from its masks (human, pseudo),
    which a prediction never touches. A single-channel PNG of class indices."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="prediction")
    file = models.FileField(upload_to=prediction_upload_to)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    precision = models.CharField(max_length=4)
    mean_confidence = models.FloatField()
    confident_fraction = models.FloatField()
    job = models.ForeignKey(BulkPrediction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"prediction of {self.image_id}"
