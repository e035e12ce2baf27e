"""The project's settings (admins): review and training settings, classes, members.

The same services as the settings page (webapp.projects.settings_views), so both refuse alike:
a refusal is 400 with the service's sentence in `detail` (and the field it concerns, when it
names one), nothing changed. Members without the admin role get 403, outsiders 404.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST
from webapp.api.settings_serializers import (
    ClassAddSerializer,
    ClassLayoutSerializer,
    ClassRemoveSerializer,
    ClassUpdateSerializer,
    IgnoreClassSerializer,
    MemberAddSerializer,
    MemberRolesSerializer,
    MemberSerializer,
    ProjectSettingsSerializer,
)
from webapp.api.views.base import ProjectView
from webapp.projects import classes as class_services
from webapp.projects.forms import UNKNOWN_USER
from webapp.projects.models import LabelClass, Membership, Project, Role
from webapp.projects.selectors import project_settings_values
from webapp.projects.services import (
    MembershipRefused,
    SettingsRefused,
    membership_add,
    membership_remove,
    membership_update,
    project_training_settings_update,
)
from webapp.review.queue import review_settings_update

REVIEW_FIELDS = ("review_threshold", "queue_strategy", "review_batch_size", "target_pixel_error", "audit_share")
TRAINING_FIELDS = ("auto_retrain_after", "max_minutes", "training_config")


def _refused(error: ValueError) -> Response:
    body = {"detail": str(error)}
    field = getattr(error, "field", None)
    if field:
        body["field"] = field
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class AdminView(ProjectView):
    def admin_project(self, project_id: int) -> Project:
        return self.project(project_id, Role.ADMIN)


# ------------------------------------------------------------------ review and training


class ProjectSettingsView(AdminView):
    @extend_schema(responses=ProjectSettingsSerializer, description="The review and training settings (admins).")
    def get(self, request, project_id: int):
        project = self.admin_project(project_id)
        return Response(ProjectSettingsSerializer(project_settings_values(project=project)).data)

    @extend_schema(
        request=ProjectSettingsSerializer,
        responses={200: ProjectSettingsSerializer, 400: BAD_REQUEST},
        description="Change any of the settings; those left out stay. All or nothing.",
    )
    def patch(self, request, project_id: int):
        project = self.admin_project(project_id)
        given = ProjectSettingsSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        values = {**project_settings_values(project=project), **given.validated_data}
        try:
            with transaction.atomic():
                if any(name in given.validated_data for name in REVIEW_FIELDS):
                    review_settings_update(
                        project=project,
                        user=request.user,
                        strategy=values["queue_strategy"],
                        batch_size=values["review_batch_size"],
                        target_pixel_error=values["target_pixel_error"],
                        audit_share=values["audit_share"],
                        review_threshold=values["review_threshold"],
                    )
                if any(name in given.validated_data for name in TRAINING_FIELDS):
                    project_training_settings_update(
                        project=project, user=request.user, **{name: values[name] for name in TRAINING_FIELDS}
                    )
        except (SettingsRefused, ValueError) as error:
            return _refused(error)
        project.refresh_from_db()
        return Response(ProjectSettingsSerializer(project_settings_values(project=project)).data)


# ------------------------------------------------------------------ classes


def _layout(project: Project, code: int = status.HTTP_200_OK) -> Response:
    body = {
        "classes": project.label_classes.order_by("index"),
        "masks_seen": class_services.masks_seen(project=project),
    }
    return Response(ClassLayoutSerializer(body).data, status=code)


def _class(project: Project, class_id: int | None) -> LabelClass | None:
    """A class of this project by id (None for None); 400 INTO_UNKNOWN for another one."""
    if class_id is None:
        return None
    label = LabelClass.objects.filter(project=project, pk=class_id).first()
    if label is None:
        raise class_services.ClassChangeRefused(class_services.INTO_UNKNOWN)
    return label


class SettingsClassListView(AdminView):
    @extend_schema(responses=ClassLayoutSerializer, description="The classes with their ids, and masks_seen.")
    def get(self, request, project_id: int):
        return _layout(self.admin_project(project_id))

    @extend_schema(
        request=ClassAddSerializer,
        responses={201: ClassLayoutSerializer, 400: BAD_REQUEST},
        description="Add a trainable class after the others (the ignore class moves up one index: with masks "
        "that use it, only with rewrite_masks).",
    )
    def post(self, request, project_id: int):
        project = self.admin_project(project_id)
        given = ClassAddSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            class_services.label_class_add(project=project, user=request.user, **given.validated_data)
        except class_services.ClassChangeRefused as error:
            return _refused(error)
        return _layout(project, status.HTTP_201_CREATED)


class SettingsClassDetailView(AdminView):
    @extend_schema(
        request=ClassUpdateSerializer,
        responses={200: ClassLayoutSerializer, 400: BAD_REQUEST},
        description="Rename or recolour a class (no mask changes).",
    )
    def patch(self, request, project_id: int, class_id: int):
        project = self.admin_project(project_id)
        label = get_object_or_404(LabelClass, project=project, pk=class_id)
        given = ClassUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = {"name": label.name, "color": label.color, **given.validated_data}
        try:
            class_services.label_class_update(project=project, user=request.user, label_class=label, **values)
        except class_services.ClassChangeRefused as error:
            return _refused(error)
        return _layout(project)


class SettingsClassRemoveView(AdminView):
    @extend_schema(
        request=ClassRemoveSerializer,
        responses={200: ClassLayoutSerializer, 400: BAD_REQUEST},
        description="Remove a class; the classes after it move down one index. With masks that use a moved "
        "class: only with rewrite_masks, and `into` for the removed class's pixels.",
    )
    def post(self, request, project_id: int, class_id: int):
        project = self.admin_project(project_id)
        label = get_object_or_404(LabelClass, project=project, pk=class_id)
        given = ClassRemoveSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            class_services.label_class_remove(
                project=project,
                user=request.user,
                label_class=label,
                into=_class(project, data["into"]),
                rewrite_masks=data["rewrite_masks"],
                masks_seen=data["masks_seen"],
            )
        except class_services.ClassChangeRefused as error:
            return _refused(error)
        return _layout(project)


class SettingsIgnoreClassView(AdminView):
    @extend_schema(
        request=IgnoreClassSerializer,
        responses={200: ClassLayoutSerializer, 400: BAD_REQUEST},
        description="Choose the ignore class (null: none). It moves after the trainable classes.",
    )
    def post(self, request, project_id: int):
        project = self.admin_project(project_id)
        given = IgnoreClassSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            class_services.label_class_ignore_set(
                project=project,
                user=request.user,
                label_class=_class(project, data["ignore"]),
                rewrite_masks=data["rewrite_masks"],
                masks_seen=data["masks_seen"],
            )
        except class_services.ClassChangeRefused as error:
            return _refused(error)
        return _layout(project)


# ------------------------------------------------------------------ members


def _members(project: Project):
    return project.memberships.select_related("user", "project").order_by("user__username")


class MemberListView(AdminView):
    @extend_schema(responses=MemberSerializer(many=True), description="The project's members and their roles.")
    def get(self, request, project_id: int):
        return Response(MemberSerializer(_members(self.admin_project(project_id)), many=True).data)

    @extend_schema(
        request=MemberAddSerializer,
        responses={201: MemberSerializer, 400: BAD_REQUEST},
        description="Add a user by username with these roles.",
    )
    def post(self, request, project_id: int):
        project = self.admin_project(project_id)
        given = MemberAddSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        username = data.pop("username").strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            return Response({"username": [UNKNOWN_USER.format(username=username)]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            membership = membership_add(project=project, user=user, **data)
        except MembershipRefused as error:
            return _refused(error)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(AdminView):
    def membership(self, project_id: int, membership_id: int) -> Membership:
        project = self.admin_project(project_id)
        queryset = Membership.objects.select_related("user", "project")
        return get_object_or_404(queryset, project=project, pk=membership_id)

    @extend_schema(
        request=MemberRolesSerializer,
        responses={200: MemberSerializer, 400: BAD_REQUEST},
        description="Change a member's roles (those left out stay). The owner stays an admin, and so does "
        "the project's last admin.",
    )
    def patch(self, request, project_id: int, membership_id: int):
        membership = self.membership(project_id, membership_id)
        given = MemberRolesSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        roles = {
            "annotator": membership.is_annotator,
            "reviewer": membership.is_reviewer,
            "admin": membership.is_admin,
            **given.validated_data,
        }
        try:
            membership = membership_update(membership=membership, **roles)
        except MembershipRefused as error:
            return _refused(error)
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        request=None,
        responses={204: None, 400: BAD_REQUEST},
        description="Remove a member (their masks stay); never the owner or the last admin.",
    )
    def delete(self, request, project_id: int, membership_id: int):
        membership = self.membership(project_id, membership_id)
        try:
            membership_remove(membership=membership)
        except MembershipRefused as error:
            return _refused(error)
        return Response(status=status.HTTP_204_NO_CONTENT)
