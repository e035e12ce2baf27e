"""The REST API under /api/: schema and docs, token, and resources nested under projects."""

from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView

import webapp.converters  # noqa: F401  registers <id:...>
from webapp.api import docs
from webapp.api.views import (
    bulk_predictions,
    datasets,
    images,
    masks,
    models,
    predict,
    project_settings,
    projects,
    review,
    training,
)
from webapp.api.views.not_found import api_not_found
from webapp.api.views.token import TokenView
from webapp.api.views.webhooks import DeliveryListView, WebhookDetailView, WebhookListView
from webapp.training.model_files import FORMATS

app_name = "api"


class ModelFormatConverter:
    regex = "|".join(FORMATS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ModelFormatConverter, "model_format")

P = "projects/<id:project_id>/"
IMG = P + "images/<id:image_id>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.swagger_ui, name="docs"),
    path("redoc/", docs.redoc, name="redoc"),
    path("auth/token/", TokenView.as_view(), name="token"),
    path("projects/", projects.ProjectListView.as_view(), name="project-list"),
    path(P, projects.ProjectDetailView.as_view(), name="project-detail"),
    path(P + "classes/", projects.ClassListView.as_view(), name="class-list"),
    path(P + "settings/", project_settings.ProjectSettingsView.as_view(), name="project-settings"),
    path(P + "settings/classes/", project_settings.SettingsClassListView.as_view(), name="settings-class-list"),
    path(
        P + "settings/classes/ignore/", project_settings.SettingsIgnoreClassView.as_view(), name="settings-class-ignore"
    ),
    path(
        P + "settings/classes/<id:class_id>/",
        project_settings.SettingsClassDetailView.as_view(),
        name="settings-class-detail",
    ),
    path(
        P + "settings/classes/<id:class_id>/remove/",
        project_settings.SettingsClassRemoveView.as_view(),
        name="settings-class-remove",
    ),
    path(P + "settings/members/", project_settings.MemberListView.as_view(), name="member-list"),
    path(P + "settings/members/<id:membership_id>/", project_settings.MemberDetailView.as_view(), name="member-detail"),
    path(P + "images/", images.ImageListView.as_view(), name="image-list"),
    path(IMG, images.ImageDetailView.as_view(), name="image-detail"),
    path(IMG + "file/", images.ImageFileView.as_view(), name="image-file"),
    path(IMG + "mask/", masks.MaskView.as_view(), name="image-mask"),
    path(IMG + "masks/", masks.MaskHistoryView.as_view(), name="mask-history"),
    path(IMG + "masks/<id:version>/", masks.MaskVersionView.as_view(), name="mask-version"),
    path(P + "predict/", predict.PredictView.as_view(), name="predict"),
    path(P + "predictions/bulk/", bulk_predictions.BulkPredictionView.as_view(), name="bulk-prediction"),
    path(P + "export/", datasets.ExportView.as_view(), name="export"),
    path(P + "export/coco/", datasets.CocoExportView.as_view(), name="export-coco"),
    path(P + "import/", datasets.ImportView.as_view(), name="import"),
    path(P + "models/", models.ModelVersionListView.as_view(), name="model-list"),
    path(P + "models/<id:version_id>/activate/", training.ModelActivateView.as_view(), name="model-activate"),
    path(P + "training/runs/", training.RunListView.as_view(), name="run-list"),
    path(P + "training/runs/<id:run_id>/", training.RunDetailView.as_view(), name="run-detail"),
    path(P + "training/runs/<id:run_id>/cancel/", training.RunCancelView.as_view(), name="run-cancel"),
    path(P + "review/next/", review.ReviewNextView.as_view(), name="review-next"),
    path(P + "review/<id:item_id>/accept/", review.ReviewAcceptView.as_view(), name="review-accept"),
    path(P + "review/<id:item_id>/reject/", review.ReviewRejectView.as_view(), name="review-reject"),
    path(P + "webhooks/", WebhookListView.as_view(), name="webhook-list"),
    path(P + "webhooks/deliveries/", DeliveryListView.as_view(), name="webhook-deliveries"),
    path(P + "webhooks/<id:webhook_id>/", WebhookDetailView.as_view(), name="webhook-detail"),
    path(P + "models/<id:version_id>/<model_format:fmt>/", models.ModelDownloadView.as_view(), name="model-download"),
    # Last: any other path ending in a slash (those without one still get APPEND_SLASH's redirect).
    re_path(r"^[\s\S]*/$", api_not_found),
]
