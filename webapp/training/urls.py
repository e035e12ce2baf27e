from django.urls import path

from webapp.training import views

app_name = "training"

urlpatterns = [
    path("<int:project_id>/training/", views.page, name="page"),
    path("<int:project_id>/training/progress/", views.progress, name="progress"),
    path("<int:project_id>/training/start/", views.start, name="start"),
    path("<int:project_id>/training/runs/<int:run_id>/cancel/", views.cancel, name="cancel"),
    path("<int:project_id>/training/models/<int:version_id>/activate/", views.activate, name="activate"),
]
