"""Project pages: list, create, detail (the image gallery) and members.

Any logged-in user may create a project and becomes its owner and first admin. Everything
inside a project goes through project_get_for_user: outsiders get 404, members without the
role get 403.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe

from webapp.converters import parse_id
from webapp.images.models import ImageStatus
from webapp.images.selectors import SEED_PHASE_LABELED_MAX, embedding_progress, seed_suggestions_for
from webapp.projects import services
from webapp.projects.access import project_get_for_user
from webapp.projects.forms import (
    LabelClassFormSet,
    MemberAddForm,
    MemberRemoveForm,
    MemberRolesForm,
    ProjectForm,
    class_specs,
    label_class_initial,
)
from webapp.projects.models import Membership, Role
from webapp.projects.selectors import ALL, project_images_page, project_list_for_user, project_status_counts

CREATED = "Project “{name}” created. Upload images to start."
MEMBER_ADDED = "{username} was added to the project."
ROLES_SAVED = "Roles of {username} saved."
MEMBER_REMOVED = "{username} was removed from the project; their masks stay."
STATUS_TABS = [(ALL, "All"), *ImageStatus.choices]


@login_required
@require_safe
def project_list(request):
    return TemplateResponse(request, "projects/list.html", {"summaries": project_list_for_user(user=request.user)})


@login_required
def project_create(request):
    form = ProjectForm(request.POST or None)
    classes = LabelClassFormSet(request.POST or None, initial=None if request.POST else label_class_initial())
    if request.method == "POST" and form.is_valid() and classes.is_valid():
        try:
            project = services.project_create(owner=request.user, classes=class_specs(classes), **form.cleaned_data)
        except ValueError as error:  # the service's messages are written for users
            form.add_error(None, str(error))
        else:
            messages.success(request, CREATED.format(name=project.name))
            return redirect("projects:detail", project_id=project.id)
    return TemplateResponse(request, "projects/create.html", {"form": form, "classes": classes})


@login_required
@require_safe
def project_detail(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    status = request.GET.get("status", ALL)
    if status not in dict(STATUS_TABS):
        status = ALL
    page = project_images_page(
        project=project, status=status,
        after=parse_id(request.GET.get("after")), before=parse_id(request.GET.get("before")),
    )
    counts = project_status_counts(project=project)
    can_annotate = project.membership.has_role(Role.ANNOTATOR)
    context = {
        "project": project, "page": page, "status": status,
        "tabs": [(value, label, counts[value]) for value, label in STATUS_TABS],
        "can_annotate": can_annotate,
        "can_review": project.membership.has_role(Role.REVIEWER),
        "is_admin": project.membership.is_admin,
    }
    if request.htmx and not request.htmx.boosted:
        return TemplateResponse(request, "projects/detail.html#gallery", context)
    # The strip sits outside the gallery (tab switches do not recompute it), and only while
    # the project is in its seed phase (the status counts are cached for big projects).
    if can_annotate and counts[ImageStatus.LABELED] < SEED_PHASE_LABELED_MAX:
        context["embeddings"] = progress = embedding_progress(project=project)
        context["suggestions"] = seed_suggestions_for(project=project) if progress.analysed else []
    return TemplateResponse(request, "projects/detail.html", context)


@login_required
def project_members(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    form = MemberAddForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, MEMBER_ADDED.format(username=form.cleaned_data["username"]))
        return redirect("projects:members", project_id=project.id)
    memberships = project.memberships.select_related("user", "project").order_by("user__username")
    rows = [(m, MemberRolesForm(membership=m)) for m in memberships]
    return TemplateResponse(request, "projects/members.html", {"project": project, "form": form, "rows": rows})


@login_required
@require_POST
def member_update(request, project_id: int, membership_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    membership = get_object_or_404(Membership.objects.select_related("user", "project"), project=project, pk=membership_id)
    form = MemberRolesForm(request.POST, membership=membership)
    saved = form.is_valid()
    if saved:
        membership = form.save()
        form = MemberRolesForm(membership=membership)
    if not request.htmx:  # a plain form post: back to the page, with the outcome as a message
        if saved:
            messages.success(request, ROLES_SAVED.format(username=membership.user.get_username()))
        else:
            messages.error(request, " ".join(form.non_field_errors()))
        return redirect("projects:members", project_id=project.id)
    # The row is swapped in place either way (htmx does not swap 4xx answers), errors inside it.
    context = {"project": project, "membership": membership, "roles_form": form, "saved": saved}
    return TemplateResponse(request, "projects/members.html#member-row", context)


@login_required
@require_POST
def member_remove(request, project_id: int, membership_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    membership = get_object_or_404(Membership.objects.select_related("user", "project"), project=project, pk=membership_id)
    form = MemberRemoveForm(request.POST, membership=membership)
    if form.is_valid():
        form.save()
        messages.success(request, MEMBER_REMOVED.format(username=membership.user.get_username()))
    else:
        messages.error(request, " ".join(form.non_field_errors()))
    return redirect("projects:members", project_id=project.id)
