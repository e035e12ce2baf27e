from django.urls import path

from webapp.images import views

app_name = "images"

urlpatterns = [
    path("<int:project_id>/images/upload/", views.upload, name="upload"),
    path("<int:project_id>/images/<int:image_id>/file/", views.image_file, name="file"),
    path("<int:project_id>/images/<int:image_id>/thumbnail.jpg", views.thumbnail, name="thumbnail"),
    path("<int:project_id>/images/<int:image_id>/superpixels.png", views.superpixels, name="superpixels"),
    path("<int:project_id>/images/<int:image_id>/masks/<int:version>.png", views.mask_file, name="mask_file"),
]
