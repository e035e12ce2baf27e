"""Model versions: list them, download the student as TorchScript or ONNX, activate one."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from webapp.api.schema import BINARY, ERROR
from webapp.api.serializers import ModelVersionSerializer
from webapp.api.views.base import FileView, ProjectView
from webapp.training.model_files import FORMATS, ModelFileMissing, student_export_path
from webapp.training.models import ModelVersion


class ModelVersionListView(ProjectView):
    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request, project_id: int):
        project = self.project(project_id)
        versions = ModelVersion.objects.filter(project=project).order_by("-number")
        return Response(ModelVersionSerializer(versions, many=True).data)


class ModelDownloadView(FileView):
    @extend_schema(
        parameters=[OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(FORMATS))],
        responses={(200, "application/octet-stream"): BINARY, 409: ERROR},
        description="The student of this version: `torchscript` (load with torch.jit.load) or `onnx` "
        "(input `image` N,3,H,W ImageNet-normalised, output `logits` N,C,H,W). "
        "Exported on first download and cached.",
    )
    def get(self, request, project_id: int, version_id: int, fmt: str):
        project = self.project(project_id)
        version = get_object_or_404(ModelVersion, pk=version_id, project=project)
        try:
            path = student_export_path(version=version, fmt=fmt)
        except ModelFileMissing as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        filename = f"{project.pk}-model-v{version.number}{FORMATS[fmt]}"
        return FileResponse(
            path.open("rb"), content_type="application/octet-stream", as_attachment=True, filename=filename
        )
