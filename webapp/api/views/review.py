"""The review queue over the API: lease the next (least confident) item, accept or reject it."""

from collections.abc import Callable

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from webapp.api.schema import BAD_REQUEST, ERROR
from webapp.api.serializers import ReviewDecisionSerializer, ReviewItemSerializer
from webapp.api.views.base import ProjectView
from webapp.projects.models import Role
from webapp.review.models import ReviewItem
from webapp.review.services import ReviewRefused, review_item_accept, review_item_next, review_item_reject


class ReviewNextView(ProjectView):
    @extend_schema(
        request=None,
        responses={200: ReviewItemSerializer, 204: OpenApiResponse(description="The queue is empty.")},
        description="Your current item, or the least confident free one, leased to you for 10 minutes.",
    )
    def post(self, request, project_id: int):
        project = self.project(project_id, Role.REVIEWER, classes=False)
        item = review_item_next(project=project, user=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ReviewItemSerializer(item, context={"request": request}).data)


class ReviewDecisionView(ProjectView):
    decide: Callable[..., ReviewItem]  # the service that records the decision (each subclass sets it)

    @extend_schema(
        request=ReviewDecisionSerializer, responses={200: ReviewItemSerializer, 400: BAD_REQUEST, 409: ERROR}
    )
    def post(self, request, project_id: int, item_id: int):
        project = self.project(project_id, Role.REVIEWER, classes=False)
        item = get_object_or_404(
            ReviewItem.objects.select_related("project", "pseudo_mask"), pk=item_id, project=project
        )
        given = ReviewDecisionSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            item = type(self).decide(item=item, user=request.user, seconds=given.validated_data.get("seconds"))
        except ReviewRefused as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(ReviewItemSerializer(item, context={"request": request}).data)


class ReviewAcceptView(ReviewDecisionView):
    """Accept: the pseudo-label becomes the image's human mask, authored by you."""

    decide = staticmethod(review_item_accept)


class ReviewRejectView(ReviewDecisionView):
    """Reject: the image goes back to unlabeled; the pseudo mask stays in its history."""

    decide = staticmethod(review_item_reject)
