"""What the API reads and writes. Reads only here; writes go through the apps' services."""

import re

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from rest_framework import serializers

from ml.calibration import CALIBRATED, TOO_FEW, UNMET
from webapp.images.models import Image, ImageStatus, Mask
from webapp.projects.models import HEX_COLOUR, LabelClass, Project, QueueStrategy
from webapp.serving.models import BulkPrediction
from webapp.training.models import ModelVersion, TrainingRun


class LabelClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["index", "name", "color", "is_ignore"]
        read_only_fields = ["index"]


def _pattern(regex: str | re.Pattern[str]) -> str:
    """A RegexValidator's pattern text (it keeps the pattern compiled, the stubs allow either)."""
    return regex if isinstance(regex, str) else regex.pattern


class ClassInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    color = serializers.RegexField(
        _pattern(HEX_COLOUR.regex) + "|^$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": HEX_COLOUR.message},
        help_text="#rrggbb; a default palette colour when empty.",
    )
    is_ignore = serializers.BooleanField(default=False)


class ThresholdCalibrationSerializer(serializers.Serializer):
    """The last learned auto-accept threshold; an empty object until a round has calibrated
    (so no field is required)."""

    threshold = serializers.FloatField(
        required=False, help_text="The score at or above which pseudo-labels are accepted."
    )
    status = serializers.ChoiceField(
        required=False,
        choices=[
            (CALIBRATED, "Learned from the decisions"),
            (TOO_FEW, "Too few decisions: the project's threshold"),
            (UNMET, "No score range met the target: just above the highest reviewed score"),
        ],
    )
    support = serializers.IntegerField(required=False, help_text="Decisions at or above the threshold.")
    decisions = serializers.IntegerField(required=False, help_text="Decisions the threshold was learned from.")
    mean_error = serializers.FloatField(
        required=False, allow_null=True, help_text="Their mean share of wrong pixels (calibrated only)."
    )
    target = serializers.FloatField(required=False, help_text="The target pixel error it was learned for (a fraction).")
    at = serializers.DateTimeField(required=False)

    def to_representation(self, instance: dict) -> dict:
        return {name: value for name, value in super().to_representation(instance).items() if name in instance}


class ProjectSerializer(serializers.ModelSerializer):
    classes = LabelClassSerializer(source="label_classes", many=True, read_only=True)
    roles = serializers.SerializerMethodField()
    image_count = serializers.IntegerField(read_only=True, required=False)
    threshold_calibration = ThresholdCalibrationSerializer(read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "review_threshold",
            "validation_share",
            "queue_strategy",
            "review_batch_size",
            "target_pixel_error",
            "audit_share",
            "threshold_calibration",
            "created_at",
            "classes",
            "roles",
            "image_count",
        ]
        read_only_fields = ["queue_strategy", "review_batch_size", "target_pixel_error", "audit_share"]

    def get_roles(self, project) -> list[str]:
        membership = getattr(project, "membership", None)
        if membership is None:
            user = self.context["request"].user
            membership = next((m for m in project.memberships.all() if m.user_id == user.id), None)
        return membership.roles if membership else []


def _project_field(name: str) -> models.Field:
    field = Project._meta.get_field(name)
    assert isinstance(field, models.Field), f"{name} is a relation"  # only called with the settings' columns
    return field


def _default(name: str):
    return _project_field(name).get_default()


def _bounds(name: str) -> dict:
    """min_value / max_value of a project field, from the model's validators."""
    validators = _project_field(name).validators
    return {
        key: v.limit_value
        for v in validators
        for kind, key in ((MinValueValidator, "min_value"), (MaxValueValidator, "max_value"))
        if type(v) is kind
    }


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    review_threshold = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.9)
    queue_strategy = serializers.ChoiceField(choices=QueueStrategy.choices, default=_default("queue_strategy"))
    review_batch_size = serializers.IntegerField(**_bounds("review_batch_size"), default=_default("review_batch_size"))
    target_pixel_error = serializers.FloatField(
        **_bounds("target_pixel_error"),
        default=_default("target_pixel_error"),
        help_text="A fraction: 0.05 = at most 5 % wrong pixels.",
    )
    audit_share = serializers.FloatField(
        **_bounds("audit_share"),
        default=_default("audit_share"),
        help_text="A fraction of the would-be auto-accepted pseudo-labels.",
    )
    classes = ClassInputSerializer(many=True, help_text="In index order; an ignore class must come last.")


class MaskVersionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", default=None, read_only=True, allow_null=True)
    model_version = serializers.IntegerField(
        source="model_version.number", default=None, read_only=True, allow_null=True
    )
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = Mask
        fields = [
            "version",
            "source",
            "author",
            "based_on_version",
            "is_conflict",
            "is_current",
            "model_version",
            "mean_confidence",
            "confident_fraction",
            "disagreement",
            "editing_seconds",
            "created_at",
        ]

    def get_is_current(self, mask) -> bool:
        return mask.image.current_mask_id == mask.pk


class ImageSerializer(serializers.ModelSerializer):
    mask_version = serializers.IntegerField(read_only=True)
    mask_source = serializers.CharField(source="current_mask.source", default=None, read_only=True, allow_null=True)
    file_url = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "original_name",
            "width",
            "height",
            "size_bytes",
            "checksum",
            "status",
            "is_validation",
            "mask_version",
            "mask_source",
            "created_at",
            "file_url",
            "mask_url",
        ]

    def get_file_url(self, image) -> str:
        return self._url("api:image-file", image)

    def get_mask_url(self, image) -> str | None:
        return self._url("api:image-mask", image) if image.current_mask_id else None

    def _url(self, name: str, image) -> str:
        path = reverse(name, kwargs={"project_id": image.project_id, "image_id": image.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        help_text="One or more image files (PNG, JPEG, TIFF, BMP, WebP).",
    )


class UploadResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    image = ImageSerializer(allow_null=True)
    error = serializers.CharField(allow_null=True)


class UploadReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = UploadResultSerializer(many=True)


class ImportClassesSerializer(serializers.Serializer):
    matched = serializers.ListField(
        child=serializers.CharField(), help_text="The dataset's classes found here by name."
    )
    unknown = serializers.ListField(
        child=serializers.CharField(), help_text="The dataset's classes this project lacks."
    )
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="This project's classes the dataset lacks."
    )
    unknown_to = serializers.IntegerField(allow_null=True, help_text="The class index unknown classes' pixels go to.")


class ImportReportSerializer(UploadReportSerializer):
    detail = serializers.CharField(required=False, help_text="Why nothing was imported, when nothing was.")
    format = serializers.CharField(required=False)
    classes = ImportClassesSerializer(required=False)
    masks_added = serializers.IntegerField(required=False, help_text="New mask versions of images already here.")


class ImportAnalysisSerializer(ImportReportSerializer):
    confirmed = serializers.BooleanField(help_text="Always false: an analysis stores nothing.")
    images = serializers.IntegerField()
    with_mask = serializers.IntegerField()
    can_import = serializers.BooleanField()


class ImageStatusFilterSerializer(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=ImageStatus.choices, required=False)


class TrainingRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "status",
            "trigger",
            "phase",
            "stage",
            "step",
            "total_steps",
            "progress",
            "losses",
            "learning_rate",
            "mask_ratio",
            "val_history",
            "pseudo_done",
            "pseudo_total",
            "num_labeled",
            "num_pseudo",
            "num_unlabeled",
            "num_validation",
            "cancel_requested",
            "error",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]

    def get_progress(self, run) -> float:
        """Share of the round's steps done, 0..1."""
        return round(run.step / run.total_steps, 4) if run.total_steps else 0.0


class BulkPredictionSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(
        source="model_version.number", allow_null=True, read_only=True, help_text="Set once the job has started."
    )
    progress = serializers.SerializerMethodField()

    class Meta:
        model = BulkPrediction
        fields = [
            "id",
            "status",
            "done",
            "total",
            "skipped",
            "progress",
            "model_version",
            "precision",
            "error",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]

    def get_progress(self, job) -> float:
        """Share of the project's images done, 0..1."""
        return round(job.done / job.total, 4) if job.total else 0.0


class ModelVersionSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id", allow_null=True, read_only=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "number", "is_active", "miou", "per_class_iou", "run", "created_at"]


class ReviewItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id")
    pseudo_mask_version = serializers.IntegerField(source="pseudo_mask.version")
    status = serializers.CharField()
    score = serializers.FloatField()
    mean_confidence = serializers.FloatField()
    confident_fraction = serializers.FloatField()
    disagreement = serializers.FloatField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", default=None, allow_null=True)
    seconds_spent = serializers.FloatField()
    image_url = serializers.SerializerMethodField()
    pseudo_mask_url = serializers.SerializerMethodField()

    def get_image_url(self, item) -> str:
        return self._url("api:image-file", item, {})

    def get_pseudo_mask_url(self, item) -> str:
        return self._url("api:mask-version", item, {"version": item.pseudo_mask.version})

    def _url(self, name, item, extra) -> str:
        path = reverse(name, kwargs={"project_id": item.project_id, "image_id": item.image_id, **extra})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ReviewDecisionSerializer(serializers.Serializer):
    seconds = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=86400,
        help_text="Time spent on the item; measured from the lease when left out.",
    )
