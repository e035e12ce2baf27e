"""Dataset export (zip streamed as written, in segloop's layout or a peer tool's, or COCO JSON) and
import of such a zip: analyse first (nothing stored), then confirm."""

from django.http import StreamingHttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST, BINARY
from webapp.api.serializers import ImportAnalysisSerializer, ImportReportSerializer
from webapp.api.views.base import FileView, ProjectView
from webapp.datasets.archive import InvalidDataset
from webapp.datasets.dataset_import import FORMATS, dataset_analyse, dataset_import
from webapp.datasets.export import (
    FORMAT_CHOICES,
    FORMAT_SEGLOOP,
    MASK_CHOICES,
    MASKS_HUMAN,
    coco_json,
    dataset_zip_stream,
    format_zip_stream,
)
from webapp.projects.models import Role

BAD_MASKS = "masks must be one of: " + ", ".join(MASK_CHOICES) + "."
NO_ZIP = "Send the zip as multipart form data in the field `file`."
BAD_FORMAT = "format must be one of: {choices}."

MASKS_PARAMETER = OpenApiParameter(
    "masks",
    OpenApiTypes.STR,
    enum=MASK_CHOICES,
    description="human (default): human masks only; human+pseudo: also accepted pseudo-labels "
    "(confident ones, status `pseudo`; never those still in review).",
)


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=FORMAT_CHOICES,
    description="segloop (default): images/, masks/, masks_color/, classes.json, manifest.json, coco.json. "
    "coco: images/default/ and annotations/instances_default.json (RLE). voc: Pascal VOC "
    "segmentation (labelmap.txt, paletted SegmentationClass/, ImageSets/Segmentation/). "
    "cityscapes: leftImg8bit/, gtFine/*_gtFine_labelIds.png and label_colors.txt (the id "
    "mapping). cvat: CVAT's Segmentation mask 1.1 (VOC layout, RGB masks in the classes' colours).",
)


def format_choice(value: str | None, *, choices: tuple[str, ...], default: str) -> str:
    if value in (None, ""):
        return default
    if value not in choices:
        raise ValidationError({"detail": BAD_FORMAT.format(choices=", ".join(choices))})
    return value


def masks_choice(request) -> str:
    masks = request.query_params.get("masks", MASKS_HUMAN)
    if masks not in MASK_CHOICES:
        raise ValidationError({"detail": BAD_MASKS})
    return masks


class ExportView(FileView):
    @extend_schema(
        parameters=[
            MASKS_PARAMETER,
            FORMAT_PARAMETER,
            OpenApiParameter(
                "include_unlabeled",
                OpenApiTypes.BOOL,
                description="Also images without an exported mask (segloop format only).",
            ),
            OpenApiParameter(
                "include_predictions",
                OpenApiTypes.BOOL,
                description="Also the bulk predictions of the served model, as predictions/ (segloop format only).",
            ),
        ],
        responses={(200, "application/zip"): BINARY, 400: BAD_REQUEST},
        description="The dataset as a zip: images/, masks/ (PNG of class indices), masks_color/, "
        "classes.json, manifest.json and coco.json (RLE masks). Streamed while it is written.",
    )
    def get(self, request, project_id: int):
        project = self.project(project_id)
        masks = masks_choice(request)
        fmt = format_choice(request.query_params.get("format"), choices=FORMAT_CHOICES, default=FORMAT_SEGLOOP)
        include_unlabeled = request.query_params.get("include_unlabeled", "").lower() in ("1", "true", "yes")
        include_predictions = request.query_params.get("include_predictions", "").lower() in ("1", "true", "yes")
        if fmt == FORMAT_SEGLOOP:
            stream = dataset_zip_stream(
                project=project,
                masks=masks,
                include_unlabeled=include_unlabeled,
                include_predictions=include_predictions,
            )
        else:
            stream = format_zip_stream(project=project, fmt=fmt, masks=masks)
        response = StreamingHttpResponse(stream, content_type="application/zip")
        name = slugify(project.name) or f"project-{project.pk}"
        kind = "" if fmt == FORMAT_SEGLOOP else f"-{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}{kind}-{masks.replace("+", "-")}.zip"'
        return response


class CocoExportView(ProjectView):
    @extend_schema(
        parameters=[MASKS_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, 400: BAD_REQUEST},
        description="COCO JSON: images, categories (class index + 1) and RLE annotations.",
    )
    def get(self, request, project_id: int):
        project = self.project(project_id)
        return Response(coco_json(project=project, masks=masks_choice(request)))


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A zip: segloop's export, COCO, Pascal VOC, Cityscapes or CVAT masks.")
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, help_text="The zip's format; detected from its layout when left out."
    )
    confirm = serializers.BooleanField(
        default=False, help_text="false (default): analyse only, store nothing; true: import."
    )


class ImportView(ProjectView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={200: ImportAnalysisSerializer, 201: ImportReportSerializer, 400: BAD_REQUEST},
        description="Import a dataset zip in two steps. Without `confirm` (analyse): 200 with the report "
        "(format, images, classes matched by name, unknown and missing, every refusal and "
        "`can_import`); nothing is stored. With `confirm=true`: all or nothing; every image "
        "and mask is checked before any is stored, and every mask becomes a new human mask "
        "version. 201 when stored; 400 with `detail` and the refused images' results when any "
        "was refused (nothing is stored then), or with `detail` alone when the zip itself "
        "cannot be imported. segloop's own zip must match the project's classes exactly.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id, Role.ANNOTATOR)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"detail": NO_ZIP})
        given = ImportInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        fmt = given.validated_data.get("format")
        try:
            if not given.validated_data["confirm"]:
                report = dataset_analyse(project=project, archive_file=upload, fmt=fmt)
                return Response(ImportAnalysisSerializer(report).data)
            report = dataset_import(project=project, archive_file=upload, user=request.user, fmt=fmt)
        except InvalidDataset as error:
            raise ValidationError({"detail": str(error)}) from None
        stored = report["created"] or report.get("masks_added")
        code = status.HTTP_201_CREATED if stored else status.HTTP_400_BAD_REQUEST
        return Response(ImportReportSerializer(report, context={"request": request}).data, status=code)
