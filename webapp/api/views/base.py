"""The one way API views reach a project and its images."""

from django.shortcuts import get_object_or_404
from rest_framework.views import APIView

from webapp.api.negotiation import JSONErrorsNegotiation
from webapp.api.schema import SegloopAutoSchema
from webapp.images.models import Image
from webapp.projects.access import project_get_for_user
from webapp.projects.models import Project

IMAGE_NOT_FOUND = "No such image in this project."


class ProjectView(APIView):
    schema = SegloopAutoSchema()

    def project(self, project_id: int, role: str | None = None, *, classes: bool = True) -> Project:
        return project_get_for_user(user=self.request.user, project_id=project_id, role=role, classes=classes)

    def image(self, project: Project, image_id: int) -> Image:
        return get_object_or_404(Image.objects.select_related("current_mask"), pk=image_id, project=project)


class FileView(ProjectView):
    """Success bodies are files the view returns itself; errors stay JSON."""

    content_negotiation_class = JSONErrorsNegotiation
