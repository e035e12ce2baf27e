from django.urls import path

import webapp.converters  # noqa: F401  (registers the bounded "id" converter)
from webapp.review import views

app_name = "review"

urlpatterns = [
    path("<id:project_id>/review/", views.queue, name="queue"),
    path("<id:project_id>/review/next/", views.next_item, name="next"),
    path("<id:project_id>/review/auto-accept/", views.auto_accept, name="auto_accept"),
    path("<id:project_id>/review/settings/", views.queue_settings, name="settings"),
    path("<id:project_id>/review/<id:item_id>/regions.json", views.regions, name="regions"),
    path("<id:project_id>/review/<id:item_id>/regions/finish/", views.finish_regions, name="finish_regions"),
    path("<id:project_id>/review/<id:item_id>/<str:decision>/", views.decide, name="decide"),
    path("<id:project_id>/review/<id:item_id>/layers/<str:name>.png", views.layer, name="layer"),
]
