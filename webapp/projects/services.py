"""Writes for projects, classes and memberships, and the project's training settings."""

import math
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from webapp.projects.access import user_has_role
from webapp.projects.models import LabelClass, Membership, Project, Role
from webapp.training.config import training_config_for_project

# CamVid-like default palette for projects created without colours.
DEFAULT_COLOURS = [
    "#808080",
    "#800000",
    "#c0c080",
    "#804080",
    "#3c28de",
    "#808000",
    "#c08080",
    "#404080",
    "#400080",
    "#404000",
    "#0080c0",
    "#000000",
]


# Masks are 8-bit PNGs of class indices: indices 0..255, so at most 256 classes.
MAX_CLASSES = 256
TOO_MANY_CLASSES = (
    "A project has at most {limit} classes (masks store class indices 0 to {last} in 8 bits); {count} were given."
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
    project = Project.objects.create(owner=owner, name=name, description=description, review_threshold=review_threshold)
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
    """Give `user` these roles, adding them when needed (set-up code: fixtures, commands).
    Pages, the API and the admin site go through membership_add / _update / _remove."""
    membership, _ = Membership.objects.update_or_create(
        project=project,
        user=user,
        defaults={"is_annotator": annotator, "is_reviewer": reviewer, "is_admin": admin},
    )
    return membership


# ------------------------------------------------------------------ members

ALREADY_MEMBER = "{username} is already a member; change their roles in the table."
OWNER_STAYS_ADMIN = "The project's owner ({username}) stays an admin and cannot be removed."
LAST_ADMIN = "{username} is the project's last admin: make another member an admin first."


class MembershipRefused(ValueError):
    """The change breaks a membership rule; the message is for people. Nothing was changed."""


def _locked_membership(membership: Membership) -> Membership:
    return Membership.objects.select_for_update().select_related("project", "user").get(pk=membership.pk)


def _other_admins(membership: Membership) -> bool:
    return (
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, is_admin=True)
        .exclude(pk=membership.pk)
        .exists()
    )


def _refuse_losing_admin(membership: Membership) -> None:
    """The owner stays an admin; a project never loses its last admin."""
    username = membership.user.get_username()
    if membership.user_id == membership.project.owner_id:
        raise MembershipRefused(OWNER_STAYS_ADMIN.format(username=username))
    if membership.is_admin and not _other_admins(membership):
        raise MembershipRefused(LAST_ADMIN.format(username=username))


@transaction.atomic
def membership_add(
    *, project: Project, user, annotator: bool = True, reviewer: bool = False, admin: bool = False
) -> Membership:
    """Add `user` to the project with these roles; MembershipRefused if already a member."""
    refused = MembershipRefused(ALREADY_MEMBER.format(username=user.get_username()))
    if Membership.objects.filter(project=project, user=user).exists():
        raise refused
    try:
        with transaction.atomic():  # a concurrent add of the same user meets the unique constraint
            return Membership.objects.create(
                project=project, user=user, is_annotator=annotator, is_reviewer=reviewer, is_admin=admin
            )
    except IntegrityError as error:
        raise refused from error


@transaction.atomic
def membership_update(*, membership: Membership, annotator: bool, reviewer: bool, admin: bool) -> Membership:
    """Change a member's roles. The owner keeps the admin role, and so does the last admin
    (MembershipRefused, nothing changed). The row is locked, so two admins demoting each
    other at once cannot leave the project without one."""
    locked = _locked_membership(membership)
    if locked.is_admin and not admin:
        _refuse_losing_admin(locked)
    locked.is_annotator, locked.is_reviewer, locked.is_admin = annotator, reviewer, admin
    locked.save(update_fields=["is_annotator", "is_reviewer", "is_admin"])
    return locked


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member; their masks stay (Mask.author is kept). Never the owner or the last
    admin (MembershipRefused, nothing changed)."""
    locked = _locked_membership(membership)
    if locked.user_id == locked.project.owner_id or locked.is_admin:
        _refuse_losing_admin(locked)
    locked.delete()


# ------------------------------------------------------------------ training settings

TRAINING_ADMINS_ONLY = "Only project admins can change the training settings."
AUTO_RETRAIN_INVALID = "Retrain after a whole number of new masks from 1 to {limit}, or leave it empty."
MAX_MINUTES_INVALID = "The round's time budget is a number of minutes above 0 and at most {limit}."
CONFIG_NOT_AN_OBJECT = "The training config must be a JSON object of TrainConfig fields."
CONFIG_OWN_FIELD = "Set {key} in its own field, not in the training config."
CONFIG_INVALID = "The training config is invalid: {error}"
AUTO_RETRAIN_MAX = 1_000_000
MAX_MINUTES_MAX = 7 * 24 * 60  # TrainConfig's own bound: a week
# Keys the training start sets from the project itself (classes) or that have their own field.
CONFIG_DERIVED_KEYS = ("num_classes", "ignore_index", "class_names")


class SettingsRefused(ValueError):
    """A setting is invalid; the message is for people, `field` names it. Nothing was changed."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def project_training_settings_update(
    *, project: Project, user, auto_retrain_after: int | None, max_minutes: float | None, training_config: dict
) -> list[str]:
    """Auto-retrain after N new human masks (None: only by hand), the round's time budget
    (training_config["max_minutes"]; None: the default) and the other TrainConfig fields.

    The config is checked as the training start checks it: the round's merged config
    (defaults <- settings <- this project) through ml.train.TrainConfig.from_dict, so a
    config saved here does not fail the next start. Returns the fields that changed."""
    # Here, not at the top: ml.train imports torch, which web processes load only when an
    # admin saves training settings or starts a round, never at start-up.
    from ml.train import TrainConfig

    if not user_has_role(user=user, project=project, role=Role.ADMIN):
        raise PermissionDenied(TRAINING_ADMINS_ONLY)
    if auto_retrain_after is not None and not 1 <= auto_retrain_after <= AUTO_RETRAIN_MAX:
        raise SettingsRefused(AUTO_RETRAIN_INVALID.format(limit=AUTO_RETRAIN_MAX), field="auto_retrain_after")
    if max_minutes is not None and not (0 < max_minutes <= MAX_MINUTES_MAX and math.isfinite(max_minutes)):
        raise SettingsRefused(MAX_MINUTES_INVALID.format(limit=MAX_MINUTES_MAX), field="max_minutes")
    if not isinstance(training_config, dict):
        raise SettingsRefused(CONFIG_NOT_AN_OBJECT, field="training_config")
    own = next((key for key in ("max_minutes", *CONFIG_DERIVED_KEYS) if key in training_config), None)
    if own is not None:
        raise SettingsRefused(CONFIG_OWN_FIELD.format(key=own), field="training_config")
    config = dict(training_config)
    if max_minutes is not None:
        config["max_minutes"] = max_minutes
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        locked.training_config = config
        try:
            TrainConfig.from_dict(training_config_for_project(project=locked))
        except (TypeError, ValueError) as error:
            raise SettingsRefused(CONFIG_INVALID.format(error=error), field="training_config") from error
        values = {"auto_retrain_after": auto_retrain_after, "training_config": config}
        changed = [name for name, value in values.items() if getattr(project, name) != value]
        for name in changed:
            setattr(project, name, values[name])
        if changed:
            project.save(update_fields=changed)
    return changed
