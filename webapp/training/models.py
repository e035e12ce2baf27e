"""Training rounds and the model versions they produce. The run row is the whole state."""

from django.conf import settings
from django.db import models

from webapp.projects.models import Project


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunTrigger(models.TextChoices):
    ADMIN = "admin", "Django admin"
    PAGE = "page", "Training page"
    API = "api", "REST API"
    AUTO = "auto", "Automatic (new human masks)"
    COMMAND = "command", "Command line"


class TrainingRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    config = models.JSONField(default=dict, blank=True)
    # Where this round reads its starting checkpoints (the previous round, or a dead run).
    resumed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    checkpoint_dir = models.CharField(max_length=500, blank=True)
    # Progress: phase is "training" or "pseudo-labelling"; stage is "teachers" or "student".
    phase = models.CharField(max_length=20, blank=True)
    stage = models.CharField(max_length=20, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    losses = models.JSONField(default=dict, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    mask_ratio = models.FloatField(null=True, blank=True)
    val_history = models.JSONField(default=list, blank=True, help_text="[{stage, step, miou}]")
    # Wall-clock bookkeeping for the page: stage start, first step seen (a resumed run starts
    # above 0), seconds spent per phase. Free-form so the worker can add to it without a migration.
    timings = models.JSONField(default=dict, blank=True)
    # Where each network's starting weights come from: [{role, encoder, source, detail, warning}]
    # (ml WeightSource.to_dict(); source is file, hub, package or random). Resolved when the run
    # starts, replaced by what the networks were actually built from once training is done.
    weight_sources = models.JSONField(default=list, blank=True)
    pseudo_done = models.PositiveIntegerField(default=0)
    pseudo_total = models.PositiveIntegerField(default=0)
    # What the round trained on.
    num_labeled = models.PositiveIntegerField(default=0)
    num_pseudo = models.PositiveIntegerField(default=0)
    num_unlabeled = models.PositiveIntegerField(default=0)
    num_validation = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    celery_task_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The database itself refuses a second active run for a project.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_run_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.project} ({self.status})"


class ModelVersion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    number = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    # Checkpoint files, relative to settings.MODELS_ROOT.
    student_path = models.CharField(max_length=500)
    su_teacher_path = models.CharField(max_length=500, blank=True)
    ru_teacher_path = models.CharField(max_length=500, blank=True)
    miou = models.FloatField(null=True, blank=True)
    per_class_iou = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_model_number"),
            models.UniqueConstraint(fields=["project"], condition=models.Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"{self.project} model v{self.number}"
