"""Project pages: list, create and detail (the image gallery); settings and members are in
settings_views.

Any logged-in user may create a project and becomes its owner and first admin. Everything
inside a project goes through project_get_for_user: outsiders get 404, members without the
role get 403.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from webapp.converters import parse_id
from webapp.images.models import ImageStatus
from webapp.images.selectors import SEED_PHASE_LABELED_MAX, embedding_progress, seed_suggestions_for
from webapp.projects import services
from webapp.projects.access import project_get_for_user
from webapp.projects.forms import LabelClassFormSet, ProjectForm, class_specs, label_class_initial
from webapp.projects.models import Role
from webapp.projects.selectors import ALL, project_images_page, project_list_for_user, project_status_counts

CREATED = "Project “{name}” created. Upload images to start."
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
        project=project,
        status=status,
        after=parse_id(request.GET.get("after")),
        before=parse_id(request.GET.get("before")),
    )
    counts = project_status_counts(project=project)
    can_annotate = project.membership.has_role(Role.ANNOTATOR)
    context = {
        "project": project,
        "page": page,
        "status": status,
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
