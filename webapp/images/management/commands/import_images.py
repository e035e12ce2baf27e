"""Import a folder of images, with their masks when given, into a project.

    python manage.py import_images PROJECT DIR [--masks DIR] [--user USERNAME]

Masks pair with images by file-name stem (`a.jpg` with `a.png`). An image whose mask is
refused is not imported either, so no half of a pair is left behind.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from webapp.images.models import Image
from webapp.images.services import image_import
from webapp.images.validation import InvalidUpload
from webapp.projects.models import Project

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
NO_SUCH_PROJECT = "No project with id or name {value!r}."
AMBIGUOUS_PROJECT = "Several projects are called {value!r} (ids {ids}); give the id."
NO_SUCH_USER = "No user called {value!r}."
NOT_A_FOLDER = "{path} is not a folder."
NO_IMAGES = "{path} holds no image files ({suffixes})."


@dataclass
class ImportSummary:
    created: int = 0
    with_mask: int = 0
    duplicates: list[str] = field(default_factory=list)
    without_mask: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the users' messages, naming the file
    ignored: list[str] = field(default_factory=list)  # files without an image suffix


class Command(BaseCommand):
    help = "Import every image file in DIR (sorted by name) into PROJECT, with masks paired by file stem."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("dir", type=Path, help="folder of images")
        parser.add_argument(
            "--masks", type=Path, help="folder of masks: single-channel PNGs of class indices, same stems"
        )
        parser.add_argument("--user", help="username recorded as uploader and mask author (default: none)")

    def handle(self, *args, **options):
        project = project_from_arg(options["project"])
        user = user_from_arg(options["user"])
        images, others = _image_files(options["dir"])
        masks = options["masks"]
        if masks is not None and not masks.is_dir():
            raise CommandError(NOT_A_FOLDER.format(path=masks))
        summary = ImportSummary(ignored=others)
        for path in tqdm(images, desc=f"Importing into {project.name}", unit="image", disable=None):
            _import_pair(project=project, path=path, mask_dir=masks, user=user, summary=summary)
        self._report(summary, masks is not None)

    def _report(self, summary: ImportSummary, masks_given: bool) -> None:
        line = f"Created {summary.created} images"
        if masks_given:
            line += f" ({summary.with_mask} with a human mask)"
        self.stdout.write(
            self.style.SUCCESS(f"{line}; skipped {len(summary.duplicates)} duplicates; refused {len(summary.refused)}.")
        )
        for name in summary.ignored:
            self.stdout.write(f"  not an image file name, ignored: {name}")
        for name in summary.duplicates:
            self.stdout.write(f"  duplicate, skipped: {name}")
        for name in summary.without_mask:
            self.stdout.write(self.style.WARNING(f"  no mask found, imported unlabeled: {name}"))
        for message in summary.refused:
            self.stdout.write(self.style.ERROR(f"  refused: {message}"))


def _import_pair(*, project, path: Path, mask_dir: Path | None, user, summary: ImportSummary) -> None:
    data = path.read_bytes()
    # Checked here too, so the summary can tell duplicates (expected on re-runs) from errors.
    if Image.objects.filter(project=project, checksum=hashlib.sha256(data).hexdigest()).exists():
        summary.duplicates.append(path.name)
        return
    mask_path = mask_dir / f"{path.stem}.png" if mask_dir else None
    mask_data = mask_path.read_bytes() if mask_path and mask_path.is_file() else None
    try:
        image_import(project=project, name=path.name, data=data, uploaded_by=user, mask_data=mask_data)
    except InvalidUpload as refused:
        message = str(refused)
        # Mask messages do not name the file; the image's own messages do.
        summary.refused.append(message if message.startswith(path.name) else f"{path.name}: {message}")
        return
    summary.created += 1
    summary.with_mask += mask_data is not None
    if mask_dir and mask_data is None:
        summary.without_mask.append(path.name)


def project_from_arg(value: str) -> Project:
    """A project by id or by name (shared with import_dataset)."""
    if value.isdigit():
        project = Project.objects.filter(pk=int(value)).first()
        if project:
            return project
    matches = list(Project.objects.filter(name=value).values_list("id", flat=True))
    if not matches:
        raise CommandError(NO_SUCH_PROJECT.format(value=value))
    if len(matches) > 1:
        raise CommandError(AMBIGUOUS_PROJECT.format(value=value, ids=", ".join(map(str, matches))))
    return Project.objects.get(pk=matches[0])


def user_from_arg(username: str | None):
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(NO_SUCH_USER.format(value=username))
    return user


def _image_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The folder's image files, sorted, and the names of its other (non-hidden) files."""
    if not folder.is_dir():
        raise CommandError(NOT_A_FOLDER.format(path=folder))
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise CommandError(NO_IMAGES.format(path=folder, suffixes=", ".join(sorted(IMAGE_SUFFIXES))))
    return images, [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
