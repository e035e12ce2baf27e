from django.contrib import admin

from webapp.webhooks.models import Delivery, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "project", "active", "created_at"]
    list_select_related = ["project"]
    readonly_fields = ["secret", "created_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The log, read-only: deliveries are made by events, not by hand."""

    list_display = ["event", "webhook", "status", "attempts", "response_code", "next_attempt_at", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["webhook"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
