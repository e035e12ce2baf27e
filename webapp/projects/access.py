"""Who may see and do what: every page and endpoint fetches its project through here.

Outsiders get 404 (they must not learn that the project exists); members without the
needed role get 403.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, prefetch_related_objects
from django.http import Http404

from webapp.projects.models import Membership, Project, Role

NOT_FOUND = "No such project."
ROLE_REQUIRED = "This needs the {role} role in the project."


def projects_for_user(*, user) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user).distinct()


def membership_get(*, user, project: Project) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).first()


def project_get_for_user(*, user, project_id: int, role: str | None = None, classes: bool = True) -> Project:
    """The project if `user` is a member (with `role`, when given); Http404 / PermissionDenied otherwise.
    `classes`: prefetch the label classes (views that never read them skip the query)."""
    if not user.is_authenticated:
        raise Http404(NOT_FOUND)
    try:
        # One query for both: every page and endpoint runs this first.
        membership = Membership.objects.select_related("project").filter(project_id=project_id, user=user).first()
    except (ValueError, TypeError) as err:
        raise Http404(NOT_FOUND) from err
    if membership is None:
        raise Http404(NOT_FOUND)
    if role is not None and not membership.has_role(role):
        raise PermissionDenied(ROLE_REQUIRED.format(role=Role(role).label.lower()))
    project = membership.project
    if classes:
        prefetch_related_objects([project], "label_classes")
    project.membership = membership  # the caller's roles, for templates and user_has_role
    return project


def user_has_role(*, user, project: Project, role: str) -> bool:
    membership = getattr(project, "membership", None)  # fetched for this user in this request
    if membership is None or membership.user_id != user.pk:
        membership = membership_get(user=user, project=project)
    return membership is not None and membership.has_role(role)
