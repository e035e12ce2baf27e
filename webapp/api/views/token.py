"""POST username + password, get the token to send as `Authorization: Token <key>`."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken

from webapp.api.schema import BAD_REQUEST, SegloopAutoSchema


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class TokenView(ObtainAuthToken):
    schema = SegloopAutoSchema()

    @extend_schema(responses={200: TokenSerializer, 400: BAD_REQUEST}, auth=[],
                   description="Wrong credentials answer 400 with the reason.")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
