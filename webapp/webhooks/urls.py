from django.urls import path

import webapp.converters  # noqa: F401  registers <id:...>
from webapp.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("<id:project_id>/webhooks/", views.webhooks_page, name="page"),
    path("<id:project_id>/webhooks/<id:webhook_id>/active/", views.webhook_active, name="active"),
    path("<id:project_id>/webhooks/<id:webhook_id>/remove/", views.webhook_remove, name="remove"),
]
