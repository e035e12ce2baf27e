"""Images: upload one or many, list with status filters, read one, download its file."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from PIL import Image as PILImage
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST, BINARY
from webapp.api.serializers import ImageSerializer, ImageUploadSerializer, UploadReportSerializer
from webapp.api.views.base import FileView, ProjectView
from webapp.images.models import ImageStatus
from webapp.images.services import image_import
from webapp.images.validation import InvalidUpload
from webapp.projects.models import Role

UNKNOWN_STATUS = "Unknown status {values}; valid: {valid}."
NOTHING_UPLOADED = "Send the images as multipart form data in the field `files`."
IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/bmp", "image/webp", "application/octet-stream")

STATUS_PARAMETER = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    enum=ImageStatus.values,
    many=True,
    explode=True,
    description="Only images with these statuses (repeat the parameter for several).",
)


class ImagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def upload_files(*, project, files, user) -> dict:
    """Import each file on its own: one bad file does not stop the others."""
    results = []
    for upload in files:
        try:
            image = image_import(project=project, name=upload.name, data=upload.read(), uploaded_by=user)
            results.append({"name": upload.name, "image": image, "error": None})
        except InvalidUpload as error:
            results.append({"name": upload.name, "image": None, "error": str(error)})
    created = sum(r["image"] is not None for r in results)
    return {"created": created, "failed": len(results) - created, "results": results}


class ImageListView(ProjectView, ListAPIView):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImageSerializer
    pagination_class = ImagePagination

    def get_queryset(self):
        project = self.project(self.kwargs["project_id"])
        images = project.images.select_related("current_mask").order_by("id")
        wanted = self.request.query_params.getlist("status")
        unknown = sorted(set(wanted) - set(ImageStatus.values))
        if unknown:
            raise ValidationError({"detail": UNKNOWN_STATUS.format(values=unknown, valid=ImageStatus.values)})
        return images.filter(status__in=wanted) if wanted else images

    @extend_schema(parameters=[STATUS_PARAMETER], responses={200: ImageSerializer(many=True), 400: BAD_REQUEST})
    def get(self, request, project_id: int):
        return self.list(request)

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: UploadReportSerializer, 400: BAD_REQUEST},
        description="Upload images. Each file gets its own result; the status is 201 when at least "
        "one was stored, 400 when none was.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id, Role.ANNOTATOR)
        files = request.FILES.getlist("files")
        if not files:
            raise ValidationError({"detail": NOTHING_UPLOADED})
        report = upload_files(project=project, files=files, user=request.user)
        code = status.HTTP_201_CREATED if report["created"] else status.HTTP_400_BAD_REQUEST
        return Response(UploadReportSerializer(report, context={"request": request}).data, status=code)


class ImageDetailView(ProjectView):
    @extend_schema(responses=ImageSerializer)
    def get(self, request, project_id: int, image_id: int):
        image = self.image(self.project(project_id), image_id)
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageFileView(FileView):
    @extend_schema(
        responses={(200, *IMAGE_TYPES): BINARY}, description="The original file as uploaded, with its own content type."
    )
    def get(self, request, project_id: int, image_id: int):
        image = self.image(self.project(project_id), image_id)
        content_type = image_content_type(image)  # before opening: the probe closes the field's file
        return FileResponse(image.file.open("rb"), content_type=content_type, filename=image.original_name)


def image_content_type(image) -> str:
    """From the decoded format, not the name: uploads are checked by content, not suffix."""
    with image.file.open("rb") as handle, PILImage.open(handle) as probe:
        unknown = "application/octet-stream"
        return PILImage.MIME.get(probe.format, unknown) if probe.format is not None else unknown
