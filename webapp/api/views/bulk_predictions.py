"""Bulk prediction over the API: admins start "predict every image"; any member reads its progress."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from webapp.api.schema import ERROR
from webapp.api.serializers import BulkPredictionSerializer
from webapp.api.views.base import ProjectView
from webapp.projects.models import Role
from webapp.serving.selectors import bulk_prediction_latest
from webapp.serving.services import ServingRefused, bulk_prediction_start

NO_BULK_PREDICTION = "This project has no bulk prediction yet."


class BulkPredictionView(ProjectView):
    @extend_schema(
        responses={200: BulkPredictionSerializer, 404: ERROR},
        description="The latest bulk prediction: status and done/total progress; poll it. A job whose "
        "worker stopped reporting progress reads as failed.",
    )
    def get(self, request, project_id: int):
        job = bulk_prediction_latest(project=self.project(project_id))
        if job is None:
            raise NotFound(NO_BULK_PREDICTION)
        return Response(BulkPredictionSerializer(job).data)

    @extend_schema(
        request=None,
        responses={202: BulkPredictionSerializer, 409: ERROR},
        description="Queue a prediction of every image with the served model (admins); masks are not "
        "touched. 409 when one is already under way or the project has no active model.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id, Role.ADMIN)
        try:
            job = bulk_prediction_start(project=project, user=request.user)
        except ServingRefused as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(BulkPredictionSerializer(job).data, status=status.HTTP_202_ACCEPTED)
