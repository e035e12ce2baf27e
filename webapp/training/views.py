"""The training page: the run in progress (polled by htmx), run history, model versions.

Every member may look; starting, cancelling and activating are for project admins (403).
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe

from webapp.projects.access import project_get_for_user, user_has_role
from webapp.projects.models import Project, Role
from webapp.training.charts import miou_chart
from webapp.training.models import ACTIVE_STATUSES, ModelVersion, RunTrigger, TrainingRun
from webapp.training.selectors import (
    format_duration,
    model_versions_for_project,
    run_facts,
    run_seconds_left,
    training_run_active,
    training_runs_for_project,
    training_set_counts,
)
from webapp.training.services import (
    TrainingRefused,
    training_run_cancel,
    training_run_start,
    training_runs_reap,
)
from webapp.training.versions import model_version_activate

PAGE = "training/page.html"
RUN_STARTED = "Run {run_id} queued: a training worker will pick it up."
CANCEL_REQUESTED = "Run {run_id}: cancelling; the worker stops after its current step."
VERSION_ACTIVATED = "Model v{number} is now served."


def _progress_context(project: Project, *, user: Any) -> dict[str, Any]:
    training_runs_reap(project=project)  # a dead worker is noticed on every poll
    run = training_run_active(project=project) or TrainingRun.objects.filter(project=project).first()
    teacher_steps = int((run.config or {}).get("teacher_steps", 0)) if run else 0
    return {
        "project": project,
        "is_admin": user_has_role(user=user, project=project, role=Role.ADMIN),
        "run": run,
        "run_active": run is not None and run.status in ACTIVE_STATUSES,
        "chart": miou_chart(run.val_history, teacher_steps=teacher_steps) if run else None,
        "time_left": format_duration(run_seconds_left(run)) if run else "",
        "facts": run_facts(run) if run else None,
    }


def _page_context(project: Project, *, user: Any) -> dict[str, Any]:
    class_names = [c.name for c in project.label_classes.all() if not c.is_ignore]
    versions = model_versions_for_project(project=project)
    # One row per version, one cell per class in class order.
    version_rows = [
        (version, [(version.per_class_iou or {}).get(name) for name in class_names]) for version in versions
    ]
    return {
        **_progress_context(project, user=user),
        "runs": training_runs_for_project(project=project),
        "versions": versions,
        "version_rows": version_rows,
        "class_names": class_names,
        "counts": training_set_counts(project=project),
    }


@login_required
@require_safe
def page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    return TemplateResponse(request, PAGE, _page_context(project, user=request.user))


@login_required
@require_safe
def progress(request: HttpRequest, project_id: int) -> HttpResponse:
    """The progress partial; when the polled run has finished, the whole page reloads so the
    history and model versions show its outcome."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    context = _progress_context(project, user=request.user)
    response = TemplateResponse(request, f"{PAGE}#progress", context)
    polled = request.GET.get("run")
    if polled and not (context["run_active"] and str(context["run"].pk) == polled):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def start(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    try:
        run = training_run_start(project=project, user=request.user, trigger=RunTrigger.PAGE)
    except TrainingRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, RUN_STARTED.format(run_id=run.pk))
    return redirect("training:page", project_id=project.pk)


@login_required
@require_POST
def cancel(request: HttpRequest, project_id: int, run_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    run = get_object_or_404(TrainingRun, pk=run_id, project=project)
    try:
        training_run_cancel(run=run, user=request.user)
    except TrainingRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.info(request, CANCEL_REQUESTED.format(run_id=run.pk))
    return redirect("training:page", project_id=project.pk)


@login_required
@require_POST
def activate(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    version = get_object_or_404(ModelVersion, pk=version_id, project=project)
    model_version_activate(version=version, user=request.user)
    messages.success(request, VERSION_ACTIVATED.format(number=version.number))
    return redirect("training:page", project_id=project.pk)
