"""The serving section of the project settings page (admins): fp32 or int8, the int8 check's
outcome, and "predict every image" with its progress. It polls itself while either runs."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe

from webapp.projects.access import project_get_for_user
from webapp.projects.models import Project, Role
from webapp.projects.settings_views import HtmxHttpRequest, section_response, settings_context
from webapp.serving.forms import PrecisionForm
from webapp.serving.section import SECTION, TEMPLATE
from webapp.serving.services import BULK_STARTED, ServingRefused, bulk_prediction_start, serving_precision_set


def _admin_project(request: HtmxHttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)


@login_required
@require_POST
def serving_settings(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    form = PrecisionForm(request.POST, prefix=SECTION)
    ok, notice = form.is_valid(), ""
    if ok:
        try:
            notice = serving_precision_set(project=project, precision=form.cleaned_data["precision"])
        except ServingRefused as error:
            form.add_error(None, str(error))
            ok = False
    return section_response(request, project, SECTION, ok=ok, notice=notice, **{SECTION: form})


@login_required
@require_POST
def bulk_prediction(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """Start "predict every image"; a refusal shows in the section."""
    project = _admin_project(request, project_id)
    try:
        bulk_prediction_start(project=project, user=request.user)
    except ServingRefused as error:
        return section_response(request, project, SECTION, ok=False, serving_bulk_error=str(error))
    return section_response(request, project, SECTION, ok=True, notice=BULK_STARTED)


@login_required
@require_safe
def serving_section(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The section alone, for htmx polling while an int8 check runs."""
    project = _admin_project(request, project_id)
    return TemplateResponse(request, TEMPLATE, settings_context(project=project))
