"""Prediction with the project's served model: an uploaded image (or a stored one) -> mask."""

import base64

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST, BINARY, ERROR
from webapp.api.views.base import FileView
from webapp.converters import MAX_ID
from webapp.images.models import Image
from webapp.images.validation import InvalidUpload, encode_mask_png
from webapp.training.prediction import NoActiveModel, predict_image_array

PREDICT_INPUT = "Send an image file in the multipart field `file`, or the id of a project image in `image_id`."
NO_SUCH_IMAGE = "Image {id} is not in this project."
FORMATS = ("png", "json")
BAD_FORMAT = "format must be png or json."


class PredictInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, allow_empty_file=True, help_text="An image to segment.")
    image_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Or a stored image of the project."
    )


class ScoresSerializer(serializers.Serializer):
    mean_confidence = serializers.FloatField()
    confident_fraction = serializers.FloatField(help_text="Share of pixels with confidence >= tau.")
    tau = serializers.FloatField()
    model_version = serializers.IntegerField()
    precision = serializers.ChoiceField(
        choices=["fp32", "int8"], help_text="What ran: fp32 (PyTorch) or the project's checked int8 (ONNX Runtime)."
    )


class PredictionSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    mask_png = serializers.CharField(help_text="Base64 of a single-channel PNG of class indices.")
    scores = ScoresSerializer()


SCORE_HEADERS = [
    OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200])
    for name in ("X-Model-Version", "X-Model-Precision", "X-Mean-Confidence", "X-Confident-Fraction")
]


class PredictView(FileView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": PredictInputSerializer},
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=FORMATS,
                description="png (default): the mask itself; json: base64 PNG + scores.",
            ),
            *SCORE_HEADERS,
        ],
        responses={
            (200, "image/png"): BINARY,
            (200, "application/json"): PredictionSerializer,
            400: BAD_REQUEST,
            409: ERROR,
        },
        description="Segment an image with the project's active model (any member). 409 when the "
        "project has no usable active model.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id)
        answer = request.query_params.get("format", "png")
        if answer not in FORMATS:
            raise ValidationError({"detail": BAD_FORMAT})
        given = PredictInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        upload, image_id = given.validated_data.get("file"), given.validated_data.get("image_id")
        if (upload is None) == (image_id is None):
            raise ValidationError({"detail": PREDICT_INPUT})
        image = None
        if image_id is not None:
            image = Image.objects.filter(project=project, pk=image_id).first()
            if image is None:
                raise ValidationError({"detail": NO_SUCH_IMAGE.format(id=image_id)})
        try:
            mask, scores = predict_image_array(
                project=project, image=image, data=None if upload is None else upload.read()
            )
        except InvalidUpload as error:
            raise ValidationError({"detail": str(error)}) from error
        except NoActiveModel as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        png = encode_mask_png(mask)
        if answer == "json":
            return Response(
                {
                    "width": mask.shape[1],
                    "height": mask.shape[0],
                    "mask_png": base64.b64encode(png).decode("ascii"),
                    "scores": scores,
                }
            )
        response = HttpResponse(png, content_type="image/png")
        response["X-Model-Version"] = str(scores["model_version"])
        response["X-Model-Precision"] = scores["precision"]
        response["X-Mean-Confidence"] = f"{scores['mean_confidence']:.6f}"
        response["X-Confident-Fraction"] = f"{scores['confident_fraction']:.6f}"
        return response
