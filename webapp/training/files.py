"""Local paths for stored files: ml.train reads paths, not Django storage objects.

On a FileSystemStorage (local disk or a shared NFS mount at the same MEDIA_ROOT on every
worker) the file's own path is used. On a remote storage (S3 through django-storages) the
file is downloaded once into a local cache keyed by its storage name; names are content-
addressed or versioned (`.../<checksum>.png`, `.../v3-human.png`), so a cached copy never
goes stale.
"""

from pathlib import Path

from django.conf import settings
from django.db.models.fields.files import FieldFile


def cache_dir() -> Path:
    return Path(settings.SEGLOOP_FILE_CACHE)


def local_path(field: FieldFile) -> str:
    try:
        return field.path
    except NotImplementedError:  # remote storage: no local path
        assert field.name, "FieldFile.path already refused an empty field"
        target = cache_dir() / field.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".part")
            with field.open("rb") as source, open(partial, "wb") as out:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    out.write(chunk)
            partial.replace(target)  # atomic: a concurrent reader never sees half a file
        return str(target)


def models_root() -> Path:
    return Path(settings.MODELS_ROOT)


def run_dir_relative(*, project_id: int, run_id: int) -> str:
    return f"project_{project_id}/run_{run_id}"


def pseudo_training_copy_path(*, project_id: int, image_id: int, mask_version: int) -> Path:
    """Training copy of an accepted pseudo-label: unconfident pixels set to the ignore index."""
    return models_root() / f"project_{project_id}" / "pseudo_train" / f"{image_id}-v{mask_version}.png"
