"""Projects, their label classes and who may do what in them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Colours are written #rrggbb.")


class QueueStrategy(models.TextChoices):
    DIVERSE = "diverse", "Diverse: one pick per group of similar images, most doubtful first"
    LEAST_CONFIDENT = "least_confident", "Least confident first"
    RANDOM = "random", "Random"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects")
    # Images whose pseudo-label scores below this go to the review queue.
    review_threshold = models.FloatField(default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    # How the review queue is ordered (recomputed when a round re-scores it, and on change).
    queue_strategy = models.CharField(max_length=16, choices=QueueStrategy.choices, default=QueueStrategy.DIVERSE)
    # Picks a reviewer works through between rounds; the diverse order forms this many groups.
    review_batch_size = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    # Auto-accept is calibrated so accepted pseudo-labels have at most this share of wrong pixels.
    target_pixel_error = models.FloatField(default=0.05, validators=[MinValueValidator(0.001), MaxValueValidator(0.5)])
    # Share of would-be auto-accepted pseudo-labels sent to the queue as audits instead.
    audit_share = models.FloatField(default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)])
    # The last calibration of the threshold (ml.calibration.Calibration as a dict, plus "at");
    # empty until a round has calibrated. review_threshold stays the fallback.
    threshold_calibration = models.JSONField(default=dict, blank=True)
    # Share of human masks held out as the project's fixed validation set.
    validation_share = models.FloatField(default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)])
    # Retrain automatically after this many new human masks (empty: only by hand).
    auto_retrain_after = models.PositiveIntegerField(null=True, blank=True)
    # Training settings for this project's rounds (ml.train.TrainConfig fields).
    training_config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Not a column: the requesting user's membership, set by access.project_get_for_user.
    membership: "Membership"

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def ignore_index(self) -> int | None:
        """The index of the class that losses and metrics skip, if the project has one."""
        ignore = next((c for c in self.label_classes.all() if c.is_ignore), None)
        return ignore.index if ignore else None

    @property
    def num_classes(self) -> int:
        """Number of trainable classes (the ignore class is not predicted)."""
        return sum(1 for c in self.label_classes.all() if not c.is_ignore)


class LabelClass(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_classes")
    index = models.PositiveSmallIntegerField(validators=[MaxValueValidator(255)])
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, validators=[HEX_COLOUR])
    # Pixels of an ignore class ("void", "unlabelled") are skipped by losses and metrics.
    is_ignore = models.BooleanField(default=False)

    class Meta:
        ordering = ["project", "index"]
        constraints = [
            models.UniqueConstraint(fields=["project", "index"], name="unique_class_index"),
            models.UniqueConstraint(fields=["project", "name"], name="unique_class_name"),
        ]

    def __str__(self) -> str:
        return f"{self.index}: {self.name}"


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    """A user's roles in one project. Admins may do everything; the others what they name."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    is_annotator = models.BooleanField(default=True)
    is_reviewer = models.BooleanField(default=False)
    is_admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project}"

    def has_role(self, role: str) -> bool:
        if self.is_admin:
            return True
        roles: dict[str, bool] = {Role.ANNOTATOR: self.is_annotator, Role.REVIEWER: self.is_reviewer}
        return roles.get(role, False)

    @property
    def roles(self) -> list[str]:
        return [r.value for r in Role if self.has_role(r)]
