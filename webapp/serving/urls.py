from django.urls import path

from webapp.serving import views

app_name = "serving"

urlpatterns = [
    path("<id:project_id>/settings/serving/", views.serving_settings, name="settings"),
    path("<id:project_id>/settings/serving/section/", views.serving_section, name="section"),
    path("<id:project_id>/settings/serving/predict-all/", views.bulk_prediction, name="bulk"),
]
