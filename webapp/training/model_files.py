"""The served student as TorchScript or ONNX, exported once per model version and kept on disk.

Files live in MODELS_ROOT/exports/<version id>-<checkpoint mtime>/, so a rewritten checkpoint
gets a fresh export; each export is written to a temporary folder and renamed into place, so
two requests at once never hand out half a file.
"""

import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from webapp.training.files import checkpoint_local
from webapp.training.models import ModelVersion

FORMATS = {"torchscript": ".ts", "onnx": ".onnx"}
CHECKPOINT_MISSING = "The checkpoint of model v{number} is missing on the server."


class ModelFileMissing(Exception):
    pass


def student_export_path(*, version: ModelVersion, fmt: str) -> Path:
    """The exported file, made now if it is not cached yet."""
    from ml.export import export_student  # imports torch: kept off web start-up

    try:
        checkpoint = checkpoint_local(version.student_path)
        mtime = int(checkpoint.stat().st_mtime_ns)
    except OSError as err:
        raise ModelFileMissing(CHECKPOINT_MISSING.format(number=version.number)) from err
    folder = Path(settings.MODELS_ROOT) / "exports" / f"{version.pk}-{mtime}"
    target = folder / f"student{FORMATS[fmt]}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=folder))
    try:
        made = export_student(checkpoint, scratch, formats=(fmt,))[fmt]
        made.replace(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
