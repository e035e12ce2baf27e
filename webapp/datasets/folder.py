"""A folder of images uploaded from the browser, with masks paired to images by name.

A file is a mask when it is a PNG and either sits in a folder named `masks` (any depth, any case:
`masks/street.png`) or its stem ends in `_mask` (`street_mask.png`). It pairs with the upload's one
image of the same stem (`street.jpg`); a mask with no such image, or with several, is refused. A
pair is all or nothing: an image whose mask is refused is not stored either. Hidden files (a part
of the path starting with ".", such as .DS_Store) are ignored and listed as such.
"""

from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from webapp.images.models import Image
from webapp.images.services import image_import
from webapp.images.validation import TOO_LARGE_BYTES, InvalidUpload
from webapp.projects.models import Project

MASK_FOLDER = "masks"
MASK_SUFFIX = "_mask"
MAX_PATH = 1000  # characters of a relative path kept for the report

MASK_WITHOUT_IMAGE = "{path}: a mask, but the upload holds no image called {stem}.*"
MASK_AMBIGUOUS = "{path}: a mask, but the upload holds several images called {stem}.* ({names})"
MASK_TWICE = "{path}: a second mask for {image} (the first is {other})"
MASK_REFUSED = "{image}: not stored, its mask {path} was refused: {reason}"
HIDDEN = "{path}: a hidden file; ignored."


@dataclass(frozen=True)
class FolderResult:
    name: str  # the path as uploaded
    image: Image | None = None
    error: str = ""
    mask: str = ""  # the mask's path when the image came with one
    ignored: bool = False


def clean_path(path: str, fallback: str) -> str:
    """A relative path as the browser sent it, with no root, backslashes or empty parts."""
    parts = [p for p in (path or "").replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts)[:MAX_PATH] or fallback


def is_mask(path: str) -> bool:
    pure = PurePosixPath(path)
    if pure.suffix.lower() != ".png":
        return False
    return any(p.lower() == MASK_FOLDER for p in pure.parts[:-1]) or pure.stem.lower().endswith(MASK_SUFFIX)


def mask_stem(path: str) -> str:
    stem = PurePosixPath(path).stem
    return stem[: -len(MASK_SUFFIX)] if stem.lower().endswith(MASK_SUFFIX) else stem


def folder_import(*, project: Project, files: list[tuple[str, UploadedFile]], user) -> list[FolderResult]:
    """Store every image (with its paired mask) that passes; a result per file, refused or not."""
    results: list[FolderResult] = []
    images: list[tuple[str, UploadedFile]] = []
    masks: list[tuple[str, UploadedFile]] = []
    for path, upload in files:
        if any(part.startswith(".") for part in PurePosixPath(path).parts):
            results.append(FolderResult(name=path, error=HIDDEN.format(path=path), ignored=True))
        elif is_mask(path):
            masks.append((path, upload))
        else:
            images.append((path, upload))
    by_stem: dict[str, list[str]] = {}
    for path, _ in images:
        by_stem.setdefault(PurePosixPath(path).stem, []).append(path)
    paired: dict[str, tuple[str, UploadedFile]] = {}
    for path, upload in masks:
        stem = mask_stem(path)
        found = by_stem.get(stem, [])
        if not found:
            results.append(FolderResult(name=path, error=MASK_WITHOUT_IMAGE.format(path=path, stem=stem)))
        elif len(found) > 1:
            names = ", ".join(found[:5])
            results.append(FolderResult(name=path, error=MASK_AMBIGUOUS.format(path=path, stem=stem, names=names)))
        elif found[0] in paired:
            other = paired[found[0]][0]
            results.append(FolderResult(name=path, error=MASK_TWICE.format(path=path, image=found[0], other=other)))
        else:
            paired[found[0]] = (path, upload)
    for path, upload in images:
        results.append(_import_one(project=project, path=path, upload=upload, mask=paired.get(path), user=user))
    return results


def _import_one(
    *, project: Project, path: str, upload: UploadedFile, mask: tuple[str, UploadedFile] | None, user
) -> FolderResult:
    name = PurePosixPath(path).name
    mask_path = mask[0] if mask else ""
    limit = settings.SEGLOOP_MAX_UPLOAD_BYTES
    try:
        # Refused before it is read into memory; image_import checks the bytes again.
        if (upload.size or 0) > limit:
            raise InvalidUpload(
                TOO_LARGE_BYTES.format(name=name, size_mb=(upload.size or 0) / 2**20, limit_mb=limit / 2**20)
            )
        data = upload.read()
        mask_data = None
        if mask:
            if (mask[1].size or 0) > limit:
                reason = TOO_LARGE_BYTES.format(
                    name=mask_path, size_mb=(mask[1].size or 0) / 2**20, limit_mb=limit / 2**20
                )
                raise InvalidUpload(MASK_REFUSED.format(image=name, path=mask_path, reason=reason))
            mask_data = mask[1].read()
        image = image_import(project=project, name=name, data=data, uploaded_by=user, mask_data=mask_data)
    except InvalidUpload as refused:
        message = str(refused)
        if mask and not message.startswith(name) and not message.startswith(f"{name}: not stored"):
            message = MASK_REFUSED.format(image=name, path=mask_path, reason=message)
        return FolderResult(name=path, error=message, mask=mask_path)
    return FolderResult(name=path, image=image, mask=mask_path)
