from django.urls import path

import webapp.converters  # noqa: F401  (registers the bounded "id" converter)
from webapp.images import views

app_name = "images"

urlpatterns = [
    path("<id:project_id>/images/upload/", views.upload, name="upload"),
    path("<id:project_id>/images/<id:image_id>/file/", views.image_file, name="file"),
    path("<id:project_id>/images/<id:image_id>/display.png", views.display, name="display"),
    path("<id:project_id>/images/<id:image_id>/thumbnail.jpg", views.thumbnail, name="thumbnail"),
    path("<id:project_id>/images/<id:image_id>/superpixels.png", views.superpixels, name="superpixels"),
    path("<id:project_id>/images/<id:image_id>/masks/<id:version>.png", views.mask_file, name="mask_file"),
]
