from django.urls import path

import webapp.converters  # noqa: F401  registers <id:...>
from webapp.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("<id:project_id>/settings/webhooks/", views.webhook_add, name="add"),
    path("<id:project_id>/settings/webhooks/<id:webhook_id>/remove/", views.webhook_remove, name="remove"),
]
