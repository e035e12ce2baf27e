"""OpenAPI pieces shared by the endpoints: error bodies and binary (PNG, zip, model) payloads.

Every operation documents the errors it can answer with, so clients (and the schemathesis
run in the tests) can rely on the schema: 401 anonymous, 403 missing role, 404 outsider.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


ERROR = OpenApiResponse(ErrorSerializer, description="The reason, for people.")
BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Bad input, nothing changed: `detail` says why, or field names map to their messages.",
)
BINARY = OpenApiTypes.BINARY

ACCESS_ERRORS = {
    "401": "Not authenticated: send `Authorization: Token <key>` or log in.",
    "403": "Authenticated, but the project role needed here is missing.",
    "404": "No such project or object, or you are not a member of the project.",
}


class SegloopAutoSchema(AutoSchema):
    """Adds the access errors every endpoint can return, as JSON, unless the view lists them."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        ref = self.resolve_serializer(ErrorSerializer, "response").ref
        errors = dict(ACCESS_ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            errors["415"] = "The body's Content-Type is not one this endpoint reads."
        for code, text in errors.items():
            responses.setdefault(code, {"content": {"application/json": {"schema": ref}}, "description": text})
        for code, response in responses.items():
            # Errors are always JSON, also on endpoints whose success body is a PNG or a zip.
            if code[0] in "45" and "content" in response:
                schema = next(iter(response["content"].values()))["schema"]
                response["content"] = {"application/json": {"schema": schema}}
        return responses
