"""Projects the user belongs to, and their label classes."""

from typing import TYPE_CHECKING, TypedDict, cast

from django.db import transaction
from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST, SegloopAutoSchema
from webapp.api.serializers import LabelClassSerializer, ProjectCreateSerializer, ProjectSerializer
from webapp.api.views.base import ProjectView
from webapp.projects.access import projects_for_user
from webapp.projects.models import Project
from webapp.projects.services import ClassSpec, project_create
from webapp.review.queue import review_settings_update

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class ImageCount(TypedDict):
    image_count: int


def _with_image_count(project: Project, count: int) -> "WithAnnotations[Project, ImageCount]":
    """The project as ProjectSerializer reads it: with image_count, as the list's annotate() gives it."""
    counted = cast("WithAnnotations[Project, ImageCount]", project)
    counted.image_count = count
    return counted


class ProjectListView(ListAPIView):
    """The projects you are a member of; POST creates one with its classes (you become its admin)."""

    schema = SegloopAutoSchema()
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return (
            projects_for_user(user=self.request.user)
            .prefetch_related("label_classes", "memberships")
            .annotate(image_count=Count("images", distinct=True))
            .order_by("name", "id")
        )

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer, 400: BAD_REQUEST})
    def post(self, request):
        given = ProjectCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            with transaction.atomic():
                project = project_create(
                    owner=request.user,
                    name=data["name"],
                    description=data["description"],
                    review_threshold=data["review_threshold"],
                    classes=[ClassSpec(c["name"], c["color"], c["is_ignore"]) for c in data["classes"]],
                )
                review_settings_update(
                    project=project,
                    user=request.user,
                    strategy=data["queue_strategy"],
                    batch_size=data["review_batch_size"],
                    target_pixel_error=data["target_pixel_error"],
                    audit_share=data["audit_share"],
                )
        except ValueError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        counted = _with_image_count(project, 0)
        return Response(ProjectSerializer(counted, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectView):
    @extend_schema(responses=ProjectSerializer)
    def get(self, request, project_id: int):
        project = self.project(project_id)
        counted = _with_image_count(project, project.images.count())
        return Response(ProjectSerializer(counted, context={"request": request}).data)


class ClassListView(ProjectView):
    @extend_schema(responses=LabelClassSerializer(many=True))
    def get(self, request, project_id: int):
        project = self.project(project_id)
        return Response(LabelClassSerializer(project.label_classes.all(), many=True).data)
