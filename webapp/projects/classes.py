"""A project's label classes after creation: add, rename, recolour, choose the ignore class,
remove.

Masks store class indices, and the layout is fixed (as project_create makes it): the
trainable classes take indices 0..n-1, the ignore class (at most one) sits after them. So
removing a class, making another class the ignore class, or adding a class while there is an
ignore class moves indices, and every stored mask that holds a moved index would change
meaning. Such a change is refused while an image's current mask holds an affected index,
unless the admin asks for the remap: each affected current mask is then rewritten as a NEW
version through images.services.mask_save (older versions stay as they were), in the same
transaction as the class change. A mask saved meanwhile (after the page showed the classes'
use, or between reading a mask and rewriting it) aborts the whole change.

"In use" is read from the stored current masks (one pass over their PNGs, only when an index
would move): older versions are history and are not rewritten.
"""

from dataclasses import dataclass

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from webapp.images.models import Image, Mask
from webapp.images.services import MaskConflict, MaskScores, mask_read, mask_save
from webapp.projects.access import user_has_role
from webapp.projects.models import LabelClass, Project, Role
from webapp.projects.services import DEFAULT_COLOURS, MAX_CLASSES, TOO_MANY_CLASSES

ADMINS_ONLY = "Only project admins can change the classes."
NAME_REQUIRED = "Give the class a name."
NAME_TAKEN = "There is already a class called {name}."
CLASS_IN_USE = (
    "{name} is painted in {count} current mask(s): choose the class its pixels become, "
    "and tick the box to rewrite those masks."
)
REMAP_NEEDED = (
    "This change renumbers classes that {count} current mask(s) use ({classes}). Tick the box to "
    "rewrite those masks as new versions (their history stays), or leave the classes as they are."
)
REMAP_CONFLICT = (
    "Masks were saved after this page showed the classes' use (image {image}): nothing was changed. "
    "Reload the page and try again."
)
INTO_ITSELF = "Choose another class for its pixels to become."
INTO_UNKNOWN = "The class its pixels should become is not in this project."
LAST_CLASS = "A project keeps at least one class."
IGNORE_ONLY_CLASS = "The ignore class cannot be the project's only class: add a trainable class first."


class ClassChangeRefused(ValueError):
    """The change is not allowed as asked; the message is for people. Nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field  # the form field the message belongs to, when there is one


@dataclass(frozen=True)
class _Row:
    """A class in the new layout: an existing one (label) or a new one (label None)."""

    label: LabelClass | None
    name: str
    color: str
    is_ignore: bool


@dataclass(frozen=True)
class ClassUse:
    """Per class index, the number of current masks holding it; and the project's mask state."""

    masks: dict[int, int]
    masks_seen: int  # the latest mask id: a later save means the use may have changed


def masks_seen(*, project: Project) -> int:
    """The latest mask id of the project (0 without masks); passed back to detect saves meanwhile."""
    return Mask.objects.filter(image__project=project).aggregate(last=Max("id"))["last"] or 0


def class_use(*, project: Project) -> ClassUse:
    """How many current masks hold each class index (reads every current mask's PNG)."""
    seen = masks_seen(project=project)
    counts = np.zeros(256, dtype=np.int64)
    for mask in _current_masks(project):
        counts += np.bincount(mask_read(mask).ravel(), minlength=256)[:256] > 0
    return ClassUse(masks={index: int(n) for index, n in enumerate(counts) if n}, masks_seen=seen)


def _current_masks(project: Project):
    current = Image.objects.filter(project=project, current_mask__isnull=False).values("current_mask_id")
    return Mask.objects.filter(pk__in=current).order_by("image_id").iterator(chunk_size=200)


def _require_admin(*, project: Project, user) -> None:
    """Admins only; and one class change at a time per project (the project row is locked
    until the caller's transaction ends, so the layout it reads is the one it stores)."""
    if not user_has_role(user=user, project=project, role=Role.ADMIN):
        raise PermissionDenied(ADMINS_ONLY)
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))


def _is(row: _Row, label: LabelClass) -> bool:
    return row.label is not None and row.label.pk == label.pk


def _rows(project: Project) -> list[_Row]:
    return [_Row(c, c.name, c.color, c.is_ignore) for c in project.label_classes.order_by("index")]


def _class_of(project: Project, label_class: LabelClass) -> LabelClass:
    if label_class.project_id != project.pk:
        raise ClassChangeRefused(INTO_UNKNOWN, field="into")
    return label_class


# ------------------------------------------------------------------ the services


@transaction.atomic
def label_class_add(
    *, project: Project, user, name: str, color: str = "", rewrite_masks: bool = False, masks_seen: int | None = None
) -> LabelClass:
    """A new trainable class after the others (the ignore class, if any, moves one up: with
    an ignore class in use that is a remap, see the module docstring)."""
    _require_admin(project=project, user=user)
    rows = _rows(project)
    trainable = [r for r in rows if not r.is_ignore]
    ignore = [r for r in rows if r.is_ignore]
    new = _Row(None, name.strip(), color or DEFAULT_COLOURS[len(rows) % len(DEFAULT_COLOURS)], False)
    _relayout(
        project=project, user=user, rows=[*trainable, new, *ignore], rewrite_masks=rewrite_masks, masks_seen=masks_seen
    )
    return project.label_classes.get(name=new.name)


@transaction.atomic
def label_class_update(*, project: Project, user, label_class: LabelClass, name: str, color: str) -> LabelClass:
    """Rename or recolour a class (no index moves, so no mask changes)."""
    _require_admin(project=project, user=user)
    label = _class_of(project, label_class)
    rows = [_Row(r.label, name.strip(), color, r.is_ignore) if _is(r, label) else r for r in _rows(project)]
    _relayout(project=project, user=user, rows=rows, rewrite_masks=False, masks_seen=None)
    return LabelClass.objects.get(pk=label.pk)


@transaction.atomic
def label_class_ignore_set(
    *,
    project: Project,
    user,
    label_class: LabelClass | None,
    rewrite_masks: bool = False,
    masks_seen: int | None = None,
) -> None:
    """Make `label_class` the ignore class (None: no ignore class). The ignore class moves
    after the trainable ones, the old one becomes trainable."""
    _require_admin(project=project, user=user)
    rows = [_Row(r.label, r.name, r.color, False) for r in _rows(project)]
    if label_class is not None:
        label = _class_of(project, label_class)
        chosen = next(r for r in rows if _is(r, label))
        rows = [*(r for r in rows if r is not chosen), _Row(chosen.label, chosen.name, chosen.color, True)]
    _relayout(project=project, user=user, rows=rows, rewrite_masks=rewrite_masks, masks_seen=masks_seen)


@transaction.atomic
def label_class_remove(
    *,
    project: Project,
    user,
    label_class: LabelClass,
    into: LabelClass | None = None,
    rewrite_masks: bool = False,
    masks_seen: int | None = None,
) -> None:
    """Remove a class; its pixels in current masks become `into` (needed when it is in use),
    the classes after it move down one index."""
    _require_admin(project=project, user=user)
    label = _class_of(project, label_class)
    if into is not None:
        _class_of(project, into)
        if into.pk == label.pk:
            raise ClassChangeRefused(INTO_ITSELF, field="into")
    rows = [r for r in _rows(project) if not _is(r, label)]
    if not rows:
        raise ClassChangeRefused(LAST_CLASS)
    _relayout(
        project=project,
        user=user,
        rows=rows,
        removed=label,
        into=into,
        rewrite_masks=rewrite_masks,
        masks_seen=masks_seen,
    )


# ------------------------------------------------------------------ the one way classes change


def _check_rows(rows: list[_Row]) -> None:
    if len(rows) > MAX_CLASSES:
        raise ClassChangeRefused(
            TOO_MANY_CLASSES.format(limit=MAX_CLASSES, last=MAX_CLASSES - 1, count=len(rows)), field="name"
        )
    names = [r.name for r in rows]
    if any(not n for n in names):
        raise ClassChangeRefused(NAME_REQUIRED, field="name")
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ClassChangeRefused(NAME_TAKEN.format(name=duplicate), field="name")
    if rows and rows[-1].is_ignore and len(rows) == 1:
        raise ClassChangeRefused(IGNORE_ONLY_CLASS, field="ignore")


def _relayout(
    *,
    project: Project,
    user,
    rows: list[_Row],
    rewrite_masks: bool,
    masks_seen: int | None,
    removed: LabelClass | None = None,
    into: LabelClass | None = None,
) -> None:
    """Give the classes `rows`' order (index = position), rewriting current masks whose
    indices move when `rewrite_masks`; refused (ClassChangeRefused) otherwise. Runs inside
    the caller's transaction."""
    _check_rows(rows)
    new_index = {r.label.index: n for n, r in enumerate(rows) if r.label is not None}
    mapping = {old: new for old, new in new_index.items() if old != new}
    if removed is not None:
        if into is not None:
            mapping[removed.index] = new_index[into.index]
    if mapping or removed is not None:
        _refuse_if_saved_meanwhile(project, masks_seen)
        plan = _remap_plan(project, mapping, removed=removed if into is None else None)
        if plan and not rewrite_masks:
            moved = sorted({i for _, _, used in plan for i in used})
            names = ", ".join(LabelClass.objects.get(project=project, index=i).name for i in moved)
            raise ClassChangeRefused(REMAP_NEEDED.format(count=len(plan), classes=names), field="rewrite_masks")
    else:
        plan = []
    _store_rows(project, rows, removed)
    _rewrite(project=project, user=user, plan=plan)


def _refuse_if_saved_meanwhile(project: Project, seen: int | None) -> None:
    if seen is None:
        return
    later = (
        Mask.objects.filter(image__project=project, pk__gt=seen)
        .order_by("pk")
        .values_list("image_id", flat=True)
        .first()
    )
    if later is not None:
        raise ClassChangeRefused(REMAP_CONFLICT.format(image=later), field="rewrite_masks")


def _remap_plan(project: Project, mapping: dict[int, int], *, removed: LabelClass | None):
    """(mask, new array, moved indices it holds) for each current mask the mapping changes.
    A removed class with nowhere to go that a mask holds refuses the change."""
    lookup = np.arange(256, dtype=np.uint8)
    for old, new in mapping.items():
        lookup[old] = new
    plan = []
    in_removed = 0
    for mask in _current_masks(project):
        array = mask_read(mask)
        present = np.flatnonzero(np.bincount(array.ravel(), minlength=256))
        if removed is not None and removed.index in present:
            in_removed += 1
            continue
        used = [int(i) for i in present if int(i) in mapping]
        if used:
            plan.append((mask, lookup[array], used))
    if removed is not None and in_removed:
        raise ClassChangeRefused(CLASS_IN_USE.format(name=removed.name, count=in_removed), field="into")
    return plan


def _store_rows(project: Project, rows: list[_Row], removed: LabelClass | None) -> None:
    if removed is not None:
        removed.delete()
    # Indices are unique per project: park the moving ones out of the way first.
    moving = [r.label for n, r in enumerate(rows) if r.label is not None and r.label.index != n]
    for label in moving:
        LabelClass.objects.filter(pk=label.pk).update(index=1000 + label.index)
    for n, row in enumerate(rows):
        if row.label is None:
            continue
        row.label.index, row.label.name, row.label.color, row.label.is_ignore = n, row.name, row.color, row.is_ignore
        _validated(row.label).save(update_fields=["index", "name", "color", "is_ignore"])
    for n, row in enumerate(rows):
        if row.label is None:
            _validated(
                LabelClass(project=project, index=n, name=row.name, color=row.color, is_ignore=row.is_ignore)
            ).save()
    # Readers of project.label_classes in this request see the new layout.
    getattr(project, "_prefetched_objects_cache", {}).pop("label_classes", None)


def _validated(label: LabelClass) -> LabelClass:
    """The model's own checks (a #rrggbb colour, name length), as a refusal at the field."""
    try:
        label.full_clean(exclude=["project"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        field = next(iter(error.message_dict), "name")
        message = " ".join(error.message_dict[field])
        raise ClassChangeRefused(message, field="color" if field == "color" else "name") from error
    return label


def _rewrite(*, project: Project, user, plan) -> None:
    """Each planned mask as a new version from the version it was read at; a save in between
    (MaskConflict) aborts the caller's transaction. Files written before an abort are deleted."""
    written: list[str] = []
    try:
        for mask, array, _ in plan:
            image = Image.objects.get(pk=mask.image_id)
            scores = None
            if mask.mean_confidence is not None:
                scores = MaskScores(mask.mean_confidence, mask.confident_fraction or 0.0, mask.disagreement or 0.0)
            saved = mask_save(
                image=image,
                base_version=mask.version,
                array=array,
                author=user,
                source=mask.source,
                scores=scores,
                model_version=mask.model_version,
                status=image.status,
            )
            written.append(str(saved.file.name))
    except MaskConflict as conflict:
        written.append(str(conflict.saved.file.name))
        _delete_files(written)
        message = REMAP_CONFLICT.format(image=conflict.saved.image_id)
        raise ClassChangeRefused(message, field="rewrite_masks") from conflict
    except BaseException:
        _delete_files(written)
        raise


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
