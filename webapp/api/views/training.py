"""Training runs (start, cancel, status with progress) and model activation; admins start and stop."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from webapp.api.schema import ERROR
from webapp.api.serializers import ModelVersionSerializer, TrainingRunSerializer
from webapp.api.views.base import ProjectView
from webapp.projects.models import Role
from webapp.training.models import ModelVersion, RunTrigger, TrainingRun
from webapp.training.services import (
    TrainingRefused,
    training_run_cancel,
    training_run_start,
    training_runs_reap,
)
from webapp.training.versions import model_version_activate

RUNS_LISTED = 50


class RunListView(ProjectView):
    @extend_schema(responses=TrainingRunSerializer(many=True), description="The latest runs, newest first.")
    def get(self, request, project_id: int):
        project = self.project(project_id)
        training_runs_reap(project=project)  # a run whose worker died shows as failed, not running
        runs = TrainingRun.objects.filter(project=project).order_by("-created_at", "-id")[:RUNS_LISTED]
        return Response(TrainingRunSerializer(runs, many=True).data)

    @extend_schema(
        request=None,
        responses={201: TrainingRunSerializer, 409: ERROR},
        description="Queue a training round (admins). 409 when one is already active or there is nothing to train on.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id, Role.ADMIN)
        try:
            run = training_run_start(project=project, user=request.user, trigger=RunTrigger.API)
        except TrainingRefused as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(ProjectView):
    @extend_schema(responses=TrainingRunSerializer, description="Status and progress; poll it.")
    def get(self, request, project_id: int, run_id: int):
        project = self.project(project_id)
        training_runs_reap(project=project)
        return Response(TrainingRunSerializer(get_object_or_404(TrainingRun, pk=run_id, project=project)).data)


class RunCancelView(ProjectView):
    @extend_schema(
        request=None,
        responses={200: TrainingRunSerializer, 409: ERROR},
        description="A queued run stops at once; a running one saves its checkpoints and stops.",
    )
    def post(self, request, project_id: int, run_id: int):
        project = self.project(project_id, Role.ADMIN)
        run = get_object_or_404(TrainingRun.objects.select_related("project"), pk=run_id, project=project)
        try:
            run = training_run_cancel(run=run, user=request.user)
        except TrainingRefused as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(TrainingRunSerializer(run).data)


class ModelActivateView(ProjectView):
    @extend_schema(
        request=None,
        responses=ModelVersionSerializer,
        description="Serve this version: predictions and pre-fill use it from now on.",
    )
    def post(self, request, project_id: int, version_id: int):
        project = self.project(project_id, Role.ADMIN)
        version = get_object_or_404(ModelVersion.objects.select_related("project"), pk=version_id, project=project)
        return Response(ModelVersionSerializer(model_version_activate(version=version, user=request.user)).data)
