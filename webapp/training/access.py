"""Who may change training: project admins only (starting, cancelling, activating)."""

from django.core.exceptions import PermissionDenied

from webapp.projects.access import membership_get
from webapp.projects.models import Project

ADMIN_ONLY = "Only project admins can start, cancel or change training."


def training_admin_require(*, project: Project, user) -> None:
    """Raise PermissionDenied(ADMIN_ONLY) unless the user administers the project."""
    membership = membership_get(user=user, project=project) if user is not None else None
    if membership is None or not membership.is_admin:
        raise PermissionDenied(ADMIN_ONLY)
