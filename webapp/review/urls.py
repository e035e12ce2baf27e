from django.urls import path

from webapp.review import views

app_name = "review"

urlpatterns = [
    path("<int:project_id>/review/", views.queue, name="queue"),
    path("<int:project_id>/review/auto-accept/", views.auto_accept, name="auto_accept"),
    path("<int:project_id>/review/settings/", views.queue_settings, name="settings"),
    path("<int:project_id>/review/<int:item_id>/regions.json", views.regions, name="regions"),
    path("<int:project_id>/review/<int:item_id>/regions/finish/", views.finish_regions, name="finish_regions"),
    path("<int:project_id>/review/<int:item_id>/<str:decision>/", views.decide, name="decide"),
    path("<int:project_id>/review/<int:item_id>/layers/<str:name>.png", views.layer, name="layer"),
]
