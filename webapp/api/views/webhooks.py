"""A project's webhooks (admins): list, register, change, remove, and the delivery log.

The same services as the webhooks page (webapp.webhooks.views): a refusal is 400 with the
service's sentence in `detail` and the field it concerns in `field`, nothing changed.
Members without the admin role get 403, outsiders 404.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST
from webapp.api.views.base import ProjectView
from webapp.api.webhooks_serializers import (
    DeliveryFilterSerializer,
    DeliverySerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)
from webapp.projects.models import Project, Role
from webapp.webhooks.models import Webhook, WebhookEvent
from webapp.webhooks.selectors import deliveries_for_project, webhooks_for_project
from webapp.webhooks.services import WebhookRefused, webhook_create, webhook_delete, webhook_update


def _refused(error: WebhookRefused) -> Response:
    return Response({"detail": str(error), "field": error.field}, status=status.HTTP_400_BAD_REQUEST)


class WebhooksAdminView(ProjectView):
    def admin_project(self, project_id: int) -> Project:
        return self.project(project_id, Role.ADMIN, classes=False)

    def webhook(self, project_id: int, webhook_id: int) -> Webhook:
        project = self.admin_project(project_id)
        return get_object_or_404(Webhook.objects.select_related("project"), project=project, pk=webhook_id)


class WebhookListView(WebhooksAdminView):
    @extend_schema(responses=WebhookSerializer(many=True), description="The project's webhooks (admins).")
    def get(self, request, project_id: int):
        project = self.admin_project(project_id)
        return Response(WebhookSerializer(webhooks_for_project(project=project, recent=0), many=True).data)

    @extend_schema(
        request=WebhookCreateSerializer,
        responses={201: WebhookSerializer, 400: BAD_REQUEST},
        description="Register a URL; the answer holds its new secret. Private, loopback and link-local "
        "addresses are refused.",
    )
    def post(self, request, project_id: int):
        project = self.admin_project(project_id)
        given = WebhookCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            hook = webhook_create(
                project=project, user=request.user, url=data["url"], events=data.get("events", WebhookEvent.values)
            )
        except WebhookRefused as error:
            return _refused(error)
        return Response(WebhookSerializer(hook).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(WebhooksAdminView):
    @extend_schema(responses=WebhookSerializer, description="One webhook, with its secret (admins).")
    def get(self, request, project_id: int, webhook_id: int):
        return Response(WebhookSerializer(self.webhook(project_id, webhook_id)).data)

    @extend_schema(
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, 400: BAD_REQUEST},
        description="Change the URL or events, enable or disable, or draw a new secret (fields left out stay).",
    )
    def patch(self, request, project_id: int, webhook_id: int):
        hook = self.webhook(project_id, webhook_id)
        given = WebhookUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            hook = webhook_update(webhook=hook, user=request.user, **given.validated_data)
        except WebhookRefused as error:
            return _refused(error)
        return Response(WebhookSerializer(hook).data)

    @extend_schema(request=None, responses={204: None}, description="Remove the webhook and its delivery log.")
    def delete(self, request, project_id: int, webhook_id: int):
        webhook_delete(webhook=self.webhook(project_id, webhook_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(WebhooksAdminView):
    @extend_schema(
        parameters=[DeliveryFilterSerializer],
        responses={200: DeliverySerializer(many=True), 400: BAD_REQUEST},
        description="The delivery log, newest first (at most 100): status, attempts, the last answer.",
    )
    def get(self, request, project_id: int):
        project = self.admin_project(project_id)
        given = DeliveryFilterSerializer(data=request.query_params)
        given.is_valid(raise_exception=True)
        deliveries = deliveries_for_project(project=project, webhook_id=given.validated_data.get("webhook"))
        return Response(DeliverySerializer(deliveries, many=True).data)
