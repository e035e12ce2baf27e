from django.urls import path

import webapp.converters  # noqa: F401  registers <id:...>
from webapp.training import views

app_name = "training"

urlpatterns = [
    path("<id:project_id>/training/", views.page, name="page"),
    path("<id:project_id>/training/progress/", views.progress, name="progress"),
    path("<id:project_id>/training/start/", views.start, name="start"),
    path("<id:project_id>/training/runs/<id:run_id>/cancel/", views.cancel, name="cancel"),
    path("<id:project_id>/training/models/<id:version_id>/activate/", views.activate, name="activate"),
]
