from django.urls import path

import webapp.converters  # noqa: F401  registers <id:...>
from webapp.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<id:project_id>/", views.project_detail, name="detail"),
    path("<id:project_id>/members/", views.project_members, name="members"),
    path("<id:project_id>/members/<id:membership_id>/roles/", views.member_update, name="member_update"),
    path("<id:project_id>/members/<id:membership_id>/remove/", views.member_remove, name="member_remove"),
]
