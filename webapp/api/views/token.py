"""POST username + password, get the token to send as `Authorization: Token <key>`."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST, ERROR, SegloopAutoSchema
from webapp.lockout import locked_out_message


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class TokenView(ObtainAuthToken):
    schema = SegloopAutoSchema()

    @extend_schema(
        responses={200: TokenSerializer, 400: BAD_REQUEST, 429: ERROR},
        auth=[],
        description="Wrong credentials answer 400 with the reason. Too many failures for "
        "the account or from the address answer 429 until the cool-off has passed.",
    )
    def post(self, request, *args, **kwargs):
        given = self.get_serializer(data=request.data)
        if not given.is_valid():
            # AuthTokenSerializer authenticates with this (DRF) request, so django-axes flags it,
            # not the Django request its middleware sees: answer the lockout here.
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": locked_out_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise ValidationError(given.errors)
        token, _ = Token.objects.get_or_create(user=given.validated_data["user"])
        return Response({"token": token.key})
