"""What a finished round leaves behind: its model version (created, numbered and served) and
the webhook events that announce it. Shared by the web side (activation, cancel, the reaper in
services.py) and the worker side (worker.py); it enqueues nothing, so the worker can import it
without importing the code that starts runs. Other apps react to a newly served version
through the model_version_activated signal (serving re-checks int8), so training needs no
knowledge of them.
"""

from django.db import transaction
from django.db.models import Max
from django.dispatch import Signal

from webapp.projects.models import Project
from webapp.training.access import training_admin_require
from webapp.training.models import ModelVersion, TrainingRun
from webapp.webhooks.models import WebhookEvent
from webapp.webhooks.services import webhook_event_on_commit

VERSION_OF_OTHER_PROJECT = "That model version belongs to another project."

# Sent inside the activation's transaction with ``version``, when it was not already served.
model_version_activated = Signal()


@transaction.atomic
def model_version_activate(*, version: ModelVersion, user) -> ModelVersion:
    """Serve this version (activate a new one, or roll back to an older one)."""
    training_admin_require(project=version.project, user=user)
    return _activate(version)


def _activate(version: ModelVersion) -> ModelVersion:
    newly_served = not version.is_active
    # Deactivate first: the one_active_model constraint allows one active row at any instant.
    ModelVersion.objects.filter(project_id=version.project_id, is_active=True).exclude(pk=version.pk).update(
        is_active=False
    )
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    data = {"model_version": version.number, "id": version.pk, "run": version.run_id, "miou": version.miou}
    webhook_event_on_commit(project_id=version.project_id, event=WebhookEvent.MODEL_ACTIVATED, data=data)
    if newly_served:
        model_version_activated.send(sender=ModelVersion, version=version)
    return version


@transaction.atomic
def model_version_create(*, run: TrainingRun, paths: dict[str, str], miou, per_class_iou: dict) -> ModelVersion:
    """Record a finished round's student (and teachers) as the next version, and serve it."""
    Project.objects.select_for_update().filter(pk=run.project_id).first()  # serialises numbering
    last = ModelVersion.objects.filter(project_id=run.project_id).aggregate(n=Max("number"))["n"]
    version = ModelVersion.objects.create(
        project_id=run.project_id,
        run=run,
        number=(last or 0) + 1,
        student_path=paths["student"],
        su_teacher_path=paths.get("su", ""),
        ru_teacher_path=paths.get("ru", ""),
        miou=miou,
        per_class_iou=per_class_iou,
        config=run.config,
    )
    return _activate(version)


def training_run_ended(*, run_id: int) -> None:
    """Tell the project's webhooks that a round got its final status (round.ended, after commit).
    Called where the status is set: the worker's finish, a cancel while queued, the reaper."""
    run = TrainingRun.objects.get(pk=run_id)
    version = ModelVersion.objects.filter(run_id=run_id).values_list("number", flat=True).first()
    data = {
        "run": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error.splitlines()[0] if run.error else "",  # the sentence, not the traceback
        "model_version": version,
    }
    webhook_event_on_commit(project_id=run.project_id, event=WebhookEvent.ROUND_ENDED, data=data)
