"""The Django admin's "Retrain" action on projects (registered on ProjectAdmin in training/admin.py).

It goes through training_run_start like the page and the API, so the same rules hold: only
the project's admins, one active run per project, at least one labeled image.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from webapp.projects.admin import ProjectAdmin
from webapp.training.models import RunTrigger
from webapp.training.services import TrainingRefused, training_run_start

STARTED = "{project}: run {run_id} queued."


@admin.action(description="Retrain the selected projects (queue a training round)")
def retrain(modeladmin, request, queryset):
    for project in queryset:
        try:
            run = training_run_start(project=project, user=request.user, trigger=RunTrigger.ADMIN)
        except (PermissionDenied, TrainingRefused) as refusal:
            modeladmin.message_user(request, f"{project}: {refusal}", messages.ERROR)
        else:
            modeladmin.message_user(request, STARTED.format(project=project, run_id=run.pk), messages.SUCCESS)


def register_project_actions() -> None:
    if retrain not in ProjectAdmin.actions:
        ProjectAdmin.actions.append(retrain)
