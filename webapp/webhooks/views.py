"""The project's webhooks page (admins): register URLs, enable or disable them, remove them,
read the delivery log. One template, webhooks/webhooks.html; htmx posts get its `hooks`
section back, plain posts redirect to the page with a message."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from webapp.projects.access import project_get_for_user
from webapp.projects.models import Project, Role
from webapp.webhooks.forms import WebhookForm
from webapp.webhooks.models import Webhook
from webapp.webhooks.selectors import deliveries_for_project, webhooks_for_project
from webapp.webhooks.services import WebhookRefused, webhook_active_set, webhook_create, webhook_delete

PAGE = "webhooks/webhooks.html"
ADDED = "Webhook added: copy its secret to the receiver."
ENABLED = "Webhook enabled."
DISABLED = "Webhook disabled: it gets no new deliveries."
REMOVED = "Webhook removed."


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (for the type checker)."""

    htmx: HtmxDetails


def _admin_project(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN, classes=False)


def _webhook(project: Project, webhook_id: int) -> Webhook:
    return get_object_or_404(Webhook.objects.select_related("project"), project=project, pk=webhook_id)


def _page(
    request: HtmxHttpRequest, project: Project, *, form: WebhookForm | None = None, notice: str = ""
) -> HttpResponse:
    context = {
        "project": project,
        "webhooks": webhooks_for_project(project=project),
        "deliveries": deliveries_for_project(project=project),
        "form": form or WebhookForm(prefix="webhook"),
        "notice": notice,
    }
    return TemplateResponse(request, f"{PAGE}#hooks" if request.htmx else PAGE, context)


def _done(request: HtmxHttpRequest, project: Project, notice: str) -> HttpResponse:
    if request.htmx:
        return _page(request, project, notice=notice)
    messages.success(request, notice)
    return redirect("webhooks:page", project.pk)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def webhooks_page(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """GET: the page; POST: register a webhook (errors at the form's fields)."""
    project = _admin_project(request, project_id)
    if request.method != "POST":
        return _page(request, project)
    form = WebhookForm(request.POST, prefix="webhook")
    if form.is_valid():
        try:
            webhook_create(project=project, user=request.user, **form.cleaned_data)
        except WebhookRefused as error:
            form.add_error(error.field, str(error))
        else:
            return _done(request, project, ADDED)
    return _page(request, project, form=form)


@login_required
@require_POST
def webhook_active(request: HtmxHttpRequest, project_id: int, webhook_id: int) -> HttpResponse:
    """Enable (`active=1` in the form) or disable."""
    project = _admin_project(request, project_id)
    active = request.POST.get("active") == "1"
    webhook_active_set(webhook=_webhook(project, webhook_id), user=request.user, active=active)
    return _done(request, project, ENABLED if active else DISABLED)


@login_required
@require_POST
def webhook_remove(request: HtmxHttpRequest, project_id: int, webhook_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    webhook_delete(webhook=_webhook(project, webhook_id), user=request.user)
    return _done(request, project, REMOVED)
