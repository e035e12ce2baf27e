"""Writes for projects, classes and memberships."""
from dataclasses import dataclass

from django.db import transaction

from webapp.projects.models import LabelClass, Membership, Project

# CamVid-like default palette for projects created without colours.
DEFAULT_COLOURS = [
    "#808080", "#800000", "#c0c080", "#804080", "#3c28de", "#808000",
    "#c08080", "#404080", "#400080", "#404000", "#0080c0", "#000000",
]


# Masks are 8-bit PNGs of class indices: indices 0..255, so at most 256 classes.
MAX_CLASSES = 256
TOO_MANY_CLASSES = (
    "A project has at most {limit} classes (masks store class indices 0 to {last} in 8 bits); "
    "{count} were given."
)


@dataclass(frozen=True)
class ClassSpec:
    name: str
    color: str = ""
    is_ignore: bool = False


@transaction.atomic
def project_create(
    *,
    owner,
    name: str,
    classes: list[ClassSpec],
    description: str = "",
    review_threshold: float = 0.9,
) -> Project:
    """Create a project whose owner is its first admin. Class indices follow list order."""
    if not classes:
        raise ValueError("A project needs at least one label class.")
    if len(classes) > MAX_CLASSES:
        # Here, not only in a form or serializer: bulk_create below skips the field validators.
        raise ValueError(TOO_MANY_CLASSES.format(limit=MAX_CLASSES, last=MAX_CLASSES - 1, count=len(classes)))
    names = [c.name.strip() for c in classes]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ValueError("Class names must be given and distinct.")
    if sum(c.is_ignore for c in classes) > 1:
        raise ValueError("A project has at most one ignore class.")
    if any(c.is_ignore for c in classes[:-1]):
        # Models predict indices 0..n-1 of the trainable classes; the ignore class sits after them.
        raise ValueError("The ignore class must be the last class.")
    project = Project.objects.create(
        owner=owner, name=name, description=description, review_threshold=review_threshold
    )
    LabelClass.objects.bulk_create(
        LabelClass(
            project=project,
            index=i,
            name=spec.name.strip(),
            color=spec.color or DEFAULT_COLOURS[i % len(DEFAULT_COLOURS)],
            is_ignore=spec.is_ignore,
        )
        for i, spec in enumerate(classes)
    )
    Membership.objects.create(project=project, user=owner, is_annotator=True, is_reviewer=True, is_admin=True)
    return project


def membership_set(
    *, project: Project, user, annotator: bool = True, reviewer: bool = False, admin: bool = False
) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        project=project,
        user=user,
        defaults={"is_annotator": annotator, "is_reviewer": reviewer, "is_admin": admin},
    )
    return membership
