"""The review queue: pseudo-labels the model doubts, and audits of accepted ones, in the
project's order (webapp.review.queue)."""

from django.conf import settings
from django.db import models

from webapp.images.models import Image, Mask
from webapp.projects.models import Project


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    CORRECTED = "corrected", "Corrected"
    REJECTED = "rejected", "Rejected"


class ReviewItem(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_items")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_items")
    pseudo_mask = models.ForeignKey(Mask, on_delete=models.CASCADE, related_name="review_items")
    run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL)
    # The image's score (lower = more doubtful); the queue is ordered by it.
    score = models.FloatField()
    mean_confidence = models.FloatField()
    confident_fraction = models.FloatField()
    disagreement = models.FloatField()
    # Per-pixel maps for the reviewer (8-bit grayscale PNGs).
    confidence_map = models.FileField(upload_to="review/confidence/", blank=True)
    disagreement_map = models.FileField(upload_to="review/disagreement/", blank=True)
    # Each teacher's label (argmax, 8-bit PNG of class indices), for review by region: the
    # reviewer may take either teacher's label for a region (webapp.review.regions).
    su_label = models.FileField(upload_to="review/su/", blank=True)
    ru_label = models.FileField(upload_to="review/ru/", blank=True)
    # Pooled encoder features of both teachers (float32 bytes, L2-normalised: ml.features),
    # and the class-balanced uncertainty (ml.infer.class_balanced_uncertainty).
    features = models.BinaryField(null=True, blank=True)
    class_uncertainty = models.FloatField(null=True, blank=True)
    # Position in the project's queue order, and why it is there (ml.selection.Pick).
    queue_rank = models.PositiveIntegerField(null=True, blank=True)
    pick_kind = models.CharField(max_length=16, blank=True)
    pick_group_size = models.PositiveIntegerField(default=0)
    # An auto-accepted pseudo-label drawn for a spot check of the calibrated threshold.
    is_audit = models.BooleanField(default=False)
    # Share of pixels the reviewer changed (0 when accepted, 1 when rejected).
    pixel_error = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    # One reviewer at a time holds an item until the lease expires.
    leased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.FloatField(default=0.0)
    # Review by region: what the reviewer did per region (time, keys, choices) and how the
    # item was finished; the human mask it made, and the share of that mask left at the
    # ignore index by a partial finish (the round also trains on it as unlabeled data).
    region_log = models.JSONField(null=True, blank=True)
    region_mask = models.ForeignKey(Mask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    unlabeled_share = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["queue_rank", "score", "id"]
        indexes = [
            models.Index(fields=["project", "status", "score", "id"], name="review_queue_order"),
            models.Index(fields=["project", "status", "queue_rank", "score", "id"], name="review_queue_rank"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["image"], condition=models.Q(status="pending"), name="one_pending_review_per_image"
            )
        ]

    def __str__(self) -> str:
        return f"Review of {self.image} ({self.status}, {self.score:.3f})"
