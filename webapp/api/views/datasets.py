"""Dataset export (zip streamed as written, or COCO JSON) and import of such a zip."""
from django.http import StreamingHttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from webapp.datasets.dataset_import import InvalidDataset, dataset_import
from webapp.datasets.export import MASK_CHOICES, MASKS_HUMAN, coco_json, dataset_zip_stream
from webapp.api.schema import BAD_REQUEST, BINARY
from webapp.api.serializers import ImportReportSerializer
from webapp.api.views.base import FileView, ProjectView
from webapp.projects.models import Role

BAD_MASKS = "masks must be one of: " + ", ".join(MASK_CHOICES) + "."
NO_ZIP = "Send the zip as multipart form data in the field `file`."

MASKS_PARAMETER = OpenApiParameter(
    "masks", OpenApiTypes.STR, enum=MASK_CHOICES,
    description="human (default): human masks only; human+pseudo: also accepted pseudo-labels "
                "(confident ones, status `pseudo`; never those still in review).",
)


def masks_choice(request) -> str:
    masks = request.query_params.get("masks", MASKS_HUMAN)
    if masks not in MASK_CHOICES:
        raise ValidationError({"detail": BAD_MASKS})
    return masks


class ExportView(FileView):
    @extend_schema(
        parameters=[MASKS_PARAMETER, OpenApiParameter("include_unlabeled", OpenApiTypes.BOOL,
                                                      description="Also images without an exported mask.")],
        responses={(200, "application/zip"): BINARY, 400: BAD_REQUEST},
        description="The dataset as a zip: images/, masks/ (PNG of class indices), masks_color/, "
                    "classes.json, manifest.json and coco.json (RLE masks). Streamed while it is written.",
    )
    def get(self, request, project_id: int):
        project = self.project(project_id)
        masks = masks_choice(request)
        include_unlabeled = request.query_params.get("include_unlabeled", "").lower() in ("1", "true", "yes")
        response = StreamingHttpResponse(
            dataset_zip_stream(project=project, masks=masks, include_unlabeled=include_unlabeled),
            content_type="application/zip",
        )
        name = slugify(project.name) or f"project-{project.pk}"
        response["Content-Disposition"] = f'attachment; filename="{name}-{masks.replace("+", "-")}.zip"'
        return response


class CocoExportView(ProjectView):
    @extend_schema(parameters=[MASKS_PARAMETER], responses={200: OpenApiTypes.OBJECT, 400: BAD_REQUEST},
                   description="COCO JSON: images, categories (class index + 1) and RLE annotations.")
    def get(self, request, project_id: int):
        project = self.project(project_id)
        return Response(coco_json(project=project, masks=masks_choice(request)))


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A zip in the export layout (classes.json, images/, masks/).")


class ImportView(ProjectView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={201: ImportReportSerializer, 400: BAD_REQUEST},
        description="Import a dataset zip, all or nothing: its classes must match the project's, and "
                    "every image and mask is checked before any is stored. Masks become human masks. "
                    "201 with every image when all were stored; 400 with `detail` and the refused "
                    "images' results when any was refused (nothing is stored then), or with `detail` "
                    "alone when the zip itself cannot be imported.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id, Role.ANNOTATOR)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"detail": NO_ZIP})
        try:
            report = dataset_import(project=project, archive_file=upload, user=request.user)
        except InvalidDataset as error:
            raise ValidationError({"detail": str(error)})
        code = status.HTTP_201_CREATED if report["created"] else status.HTTP_400_BAD_REQUEST
        return Response(ImportReportSerializer(report, context={"request": request}).data, status=code)
