from django.contrib import admin

from webapp.serving.models import BulkPrediction, Int8Check, ProjectServing


@admin.register(ProjectServing)
class ProjectServingAdmin(admin.ModelAdmin):
    list_display = ["project", "precision"]
    list_select_related = ["project"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by workers, not by hand: the settings page starts them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Int8Check)
class Int8CheckAdmin(ReadOnlyAdmin):
    list_display = ["version", "status", "fp32_miou", "int8_miou", "num_images", "finished_at"]
    list_filter = ["status"]


@admin.register(BulkPrediction)
class BulkPredictionAdmin(ReadOnlyAdmin):
    list_display = ["project", "status", "precision", "done", "total", "skipped", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["project"]
