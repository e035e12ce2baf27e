"""The webhooks section of the project settings page (admins): register and remove URLs."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from webapp.projects.access import project_get_for_user
from webapp.projects.models import Role
from webapp.projects.settings_views import section_response
from webapp.webhooks.forms import WebhookForm
from webapp.webhooks.models import Webhook
from webapp.webhooks.services import WebhookRefused, webhook_create, webhook_delete

ADDED = "Webhook added: copy its secret to the receiver."
REMOVED = "Webhook removed."


@login_required
@require_POST
def webhook_add(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    form = WebhookForm(request.POST, prefix="webhook")
    ok = form.is_valid()
    if ok:
        try:
            webhook_create(project=project, user=request.user, **form.cleaned_data)
        except WebhookRefused as error:
            form.add_error(error.field, str(error))
            ok = False
    return section_response(request, project, "webhooks", ok=ok, webhook=form, notice=ADDED)


@login_required
@require_POST
def webhook_remove(request: HttpRequest, project_id: int, webhook_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    webhook = get_object_or_404(Webhook, project=project, pk=webhook_id)
    webhook_delete(webhook=webhook, user=request.user)
    return section_response(request, project, "webhooks", ok=True, notice=REMOVED)
