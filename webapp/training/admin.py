"""Django admin for training runs (read-mostly: the worker owns their state) and model versions."""

from django.contrib import admin

from webapp.training.admin_actions import register_project_actions
from webapp.training.models import ModelVersion, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "status",
        "trigger",
        "phase",
        "stage",
        "step",
        "total_steps",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "project"]
    list_select_related = ["project"]
    # Only the cancel flag is for people to change; everything else is written by the worker.
    readonly_fields = [f.name for f in TrainingRun._meta.fields if f.name not in {"id", "cancel_requested"}]

    def has_add_permission(self, request):
        return False  # runs are started by the training service, which checks one per project


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "is_active", "miou", "run", "created_at"]
    list_filter = ["project", "is_active"]
    list_select_related = ["project", "run"]
    readonly_fields = [
        "project",
        "run",
        "number",
        "student_path",
        "su_teacher_path",
        "ru_teacher_path",
        "miou",
        "per_class_iou",
        "config",
        "created_at",
    ]


# The "Retrain" action on projects (webapp.projects.admin asks apps to append their actions).
register_project_actions()
