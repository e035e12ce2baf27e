"""Images and their masks (label maps of class indices, with a full version history)."""

from django.conf import settings
from django.db import models

from webapp.projects.models import Project


class ImageStatus(models.TextChoices):
    UNLABELED = "unlabeled", "Unlabeled"
    PSEUDO_LABELED = "pseudo", "Pseudo-labeled"
    IN_REVIEW = "in_review", "In review"
    LABELED = "labeled", "Labeled"


def image_upload_to(instance: "Image", filename: str) -> str:
    return f"projects/{instance.project_id}/images/{instance.checksum[:2]}/{instance.checksum}{_suffix(filename)}"


def thumbnail_upload_to(instance: "Image", filename: str) -> str:
    return f"projects/{instance.project_id}/thumbnails/{instance.checksum[:2]}/{instance.checksum}.jpg"


def superpixels_upload_to(instance: "Image", filename: str) -> str:
    return f"projects/{instance.project_id}/superpixels/{instance.checksum[:2]}/{instance.checksum}.png"


def display_upload_to(instance: "Image", filename: str) -> str:
    return f"projects/{instance.project_id}/display/{instance.checksum[:2]}/{instance.checksum}{_suffix(filename)}"


def mask_upload_to(instance: "Mask", filename: str) -> str:
    return f"projects/{instance.image.project_id}/masks/{instance.image_id}/v{instance.version}-{instance.source}.png"


def _suffix(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot != -1 else ""


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    # The file as uploaded. width and height are those of the upright picture (after EXIF
    # orientation), which masks must match: not read from the file (webapp.images.display).
    file = models.ImageField(upload_to=image_upload_to)
    original_name = models.CharField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # The upright 8-bit picture (L or RGB PNG, or JPEG for a rotated photo) where the original
    # cannot stand for it: a TIFF, a 16-bit or float image, an EXIF-rotated photo. Empty when
    # the original is shown and read as it is. Read pixels through pixels_file.
    display = models.FileField(upload_to=display_upload_to, blank=True)
    # For 16-bit, 32-bit and float images: the window the display was made with (low maps to
    # black, high to white) and the range of the finite values (the editor's slider bounds).
    window_low = models.FloatField(null=True, blank=True)
    window_high = models.FloatField(null=True, blank=True)
    value_low = models.FloatField(null=True, blank=True)
    value_high = models.FloatField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file's bytes.")
    status = models.CharField(max_length=16, choices=ImageStatus.choices, default=ImageStatus.UNLABELED)
    thumbnail = models.ImageField(upload_to=thumbnail_upload_to, blank=True)
    # The mask that counts now; older and conflicting versions stay in Mask rows.
    current_mask = models.ForeignKey("Mask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Held out from training to measure the project's models; fixed once chosen.
    is_validation = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Pooled features of a pretrained encoder (float32 bytes, L2-normalised: ml.features),
    # for seed suggestions before any model; embedding_encoder names the encoder.
    embedding = models.BinaryField(null=True, blank=True)
    embedding_encoder = models.CharField(max_length=100, blank=True)
    # Superpixels at full resolution (ml.superpixels): an RGB PNG, region id = R + 256 G +
    # 65536 B; computed by the default-queue worker after import (webapp.images.superpixels).
    superpixels = models.FileField(upload_to=superpixels_upload_to, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "checksum"], name="unique_image_per_project")]
        indexes = [models.Index(fields=["project", "status", "id"], name="image_project_status")]

    def __str__(self) -> str:
        return self.original_name

    @property
    def pixels_file(self):
        """The file everything that reads or shows pixels reads: the display file, if any, else
        the original. Its pixels are upright, 8-bit and width x height."""
        return self.display if self.display else self.file

    @property
    def pixels_name(self) -> str:
        """The original's name, with the display file's suffix when pixels_file is the display."""
        if not self.display:
            return self.original_name
        stem = self.original_name.rsplit(".", 1)[0] if "." in self.original_name else self.original_name
        return stem + _suffix(self.display.name or "")

    @property
    def has_window(self) -> bool:
        return None not in (self.window_low, self.window_high, self.value_low, self.value_high)

    @property
    def mask_version(self) -> int:
        """Version of the current mask, 0 when there is none; editors send it back on save."""
        return self.current_mask.version if self.current_mask is not None else 0


class MaskSource(models.TextChoices):
    HUMAN = "human", "Human"
    PSEUDO = "pseudo", "Pseudo-label"
    MODEL = "model", "Model prediction"


class Mask(models.Model):
    """One version of an image's label map: a single-channel PNG of class indices."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="masks")
    version = models.PositiveIntegerField(help_text="Sequence number within the image's history.")
    file = models.FileField(upload_to=mask_upload_to)
    source = models.CharField(max_length=8, choices=MaskSource.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # The version the author started from; a save whose base is stale is kept as a conflict.
    based_on_version = models.PositiveIntegerField(default=0)
    is_conflict = models.BooleanField(default=False)
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="masks"
    )
    # Scores of a pseudo or model mask (ml.infer): mean confidence, share of pixels >= tau,
    # and the share where the two teachers disagree.
    mean_confidence = models.FloatField(null=True, blank=True)
    confident_fraction = models.FloatField(null=True, blank=True)
    disagreement = models.FloatField(null=True, blank=True)
    # Active editing time of the human who made this version.
    editing_seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image", "version"]
        constraints = [models.UniqueConstraint(fields=["image", "version"], name="unique_mask_version")]

    def __str__(self) -> str:
        return f"{self.image} v{self.version} ({self.source})"
