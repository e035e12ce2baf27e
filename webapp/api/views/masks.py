"""Masks: the current one as a PNG of class indices, a new version by PUT, the history."""

from django.http import FileResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from webapp.annotation.services import human_mask_save, mask_save_request_parse
from webapp.api.parsers import PNGParser
from webapp.api.schema import BAD_REQUEST, BINARY
from webapp.api.serializers import MaskVersionSerializer
from webapp.api.views.base import FileView, ProjectView
from webapp.images.models import Mask
from webapp.images.services import MaskConflict
from webapp.images.validation import InvalidUpload
from webapp.projects.models import Role

NO_MASK = "This image has no mask yet."

MASK_HEADERS = [
    OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200],
        description='The mask version, quoted ("3"); send it back as If-Match.',
    ),
    OpenApiParameter(
        "X-Mask-Version",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[200],
        description="The mask version as a number.",
    ),
]


class MaskSavedSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    mask = MaskVersionSerializer()


class MaskConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current_version = serializers.IntegerField()
    saved_version = serializers.IntegerField(help_text="Your mask, kept in the history as this version.")


def etag(version: int) -> str:
    return f'"{version}"'


def png_file_response(mask: Mask) -> FileResponse:
    response = FileResponse(mask.file.open("rb"), content_type="image/png")
    response["ETag"] = etag(mask.version)
    response["X-Mask-Version"] = str(mask.version)
    return response


class MaskView(FileView):
    parser_classes = [PNGParser]

    @extend_schema(
        parameters=[*MASK_HEADERS, OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        responses={(200, "image/png"): BINARY, 304: OpenApiResponse(description="Not modified.")},
        description="The current mask: a single-channel PNG whose pixel values are class indices.",
    )
    def get(self, request, project_id: int, image_id: int):
        image = self.image(self.project(project_id), image_id)
        if image.current_mask is None:
            raise NotFound(NO_MASK)
        if request.headers.get("If-None-Match") == etag(image.current_mask.version):
            response = HttpResponseNotModified()
            response["ETag"] = etag(image.current_mask.version)
            return response
        return png_file_response(image.current_mask)

    @extend_schema(
        request={"image/png": BINARY},
        parameters=[
            OpenApiParameter("base_version", OpenApiTypes.INT, description="The version you edited (0: none)."),
            OpenApiParameter(
                "If-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Instead of base_version: the ETag you read.",
            ),
            OpenApiParameter(
                "editing_seconds", OpenApiTypes.NUMBER, description="Active editing time in seconds, 0 to 43200 (12 h)."
            ),
        ],
        responses={201: MaskSavedSerializer, 400: BAD_REQUEST, 409: MaskConflictSerializer},
        description="Save a new human mask version. A stale base version is still stored, as a "
        "conflict in the history, and answered with 409.",
    )
    def put(self, request, project_id: int, image_id: int):
        image = self.image(self.project(project_id, Role.ANNOTATOR), image_id)
        png = request.data if isinstance(request.data, bytes) else None
        try:
            save = mask_save_request_parse(
                png=png,
                base_version=request.query_params.get("base_version"),
                if_match=request.headers.get("If-Match"),
                editing_seconds=request.query_params.get("editing_seconds"),
            )
            mask = human_mask_save(image=image, author=request.user, save=save)
        except InvalidUpload as error:
            raise ValidationError({"detail": str(error)}) from error
        except MaskConflict as conflict:
            return Response(
                {
                    "detail": str(conflict),
                    "current_version": conflict.current_version,
                    "saved_version": conflict.saved.version,
                },
                status=status.HTTP_409_CONFLICT,
            )
        body = {"version": mask.version, "mask": MaskVersionSerializer(mask).data}
        return Response(body, status=status.HTTP_201_CREATED, headers={"ETag": etag(mask.version)})


class MaskHistoryView(ProjectView):
    @extend_schema(responses=MaskVersionSerializer(many=True))
    def get(self, request, project_id: int, image_id: int):
        image = self.image(self.project(project_id), image_id)
        masks = image.masks.select_related("author", "model_version", "image").order_by("version")
        return Response(MaskVersionSerializer(masks, many=True).data)


class MaskVersionView(FileView):
    @extend_schema(
        parameters=MASK_HEADERS,
        responses={(200, "image/png"): BINARY},
        description="One version from the history (conflicts included) as a PNG.",
    )
    def get(self, request, project_id: int, image_id: int, version: int):
        image = self.image(self.project(project_id), image_id)
        return png_file_response(get_object_or_404(Mask, image=image, version=version))
