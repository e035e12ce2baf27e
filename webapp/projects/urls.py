from django.urls import path

import webapp.converters  # noqa: F401  registers <id:...>
from webapp.projects import settings_views, views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<id:project_id>/", views.project_detail, name="detail"),
    path("<id:project_id>/settings/", settings_views.project_settings, name="settings"),
    path("<id:project_id>/settings/classes/add/", settings_views.class_add, name="class_add"),
    path("<id:project_id>/settings/classes/ignore/", settings_views.class_ignore, name="class_ignore"),
    path("<id:project_id>/settings/classes/<id:class_id>/", settings_views.class_update, name="class_update"),
    path("<id:project_id>/settings/classes/<id:class_id>/remove/", settings_views.class_remove, name="class_remove"),
    path("<id:project_id>/settings/review/", settings_views.review_settings, name="review_settings"),
    path("<id:project_id>/settings/training/", settings_views.training_settings, name="training_settings"),
    path("<id:project_id>/members/", settings_views.project_members, name="members"),
    path("<id:project_id>/members/<id:membership_id>/roles/", settings_views.member_update, name="member_update"),
    path("<id:project_id>/members/<id:membership_id>/remove/", settings_views.member_remove, name="member_remove"),
]
