from django.urls import path

from webapp.annotation import views

app_name = "annotation"

urlpatterns = [
    path("<int:project_id>/images/<int:image_id>/edit/", views.editor, name="editor"),
    path("<int:project_id>/images/<int:image_id>/mask/current.png", views.mask, name="mask"),
    path("<int:project_id>/images/<int:image_id>/mask/", views.save, name="save"),
    path("<int:project_id>/images/<int:image_id>/mask/prefill.png", views.prefill, name="prefill"),
    path("<int:project_id>/annotate/next/", views.next_image, name="next"),
]
