from django.urls import path

import webapp.converters  # noqa: F401  (registers the bounded "id" converter)
from webapp.annotation import views

app_name = "annotation"

urlpatterns = [
    path("<id:project_id>/images/<id:image_id>/edit/", views.editor, name="editor"),
    path("<id:project_id>/images/<id:image_id>/mask/current.png", views.mask, name="mask"),
    path("<id:project_id>/images/<id:image_id>/mask/", views.save, name="save"),
    path("<id:project_id>/images/<id:image_id>/mask/prefill.png", views.prefill, name="prefill"),
    path("<id:project_id>/annotate/next/", views.next_image, name="next"),
]
