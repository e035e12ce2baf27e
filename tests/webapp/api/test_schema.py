"""The OpenAPI schema, the vendored docs pages, and a property-based run of the whole API from
its own schema (schemathesis): no 5xx and no response that breaks the schema."""

import collections
import itertools
import os

import numpy as np
import pytest
from django.urls import reverse

from tests.webapp.api.test_review_training import queue_item

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SEGLOOP_SCHEMATHESIS_EXAMPLES", "5"))
MODES = ("positive", "negative")  # valid input, and input that breaks the schema on purpose


def test_schema_is_openapi_3_with_every_resource(client):
    response = client.get(reverse("api:schema") + "?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for expected in (
        "/api/auth/token/",
        "/api/projects/{project_id}/images/{image_id}/mask/",
        "/api/projects/{project_id}/predict/",
        "/api/projects/{project_id}/export/",
        "/api/projects/{project_id}/review/next/",
        "/api/projects/{project_id}/training/runs/",
    ):
        assert expected in paths
    put = paths["/api/projects/{project_id}/images/{image_id}/mask/"]["put"]
    assert "image/png" in put["requestBody"]["content"]
    assert {"201", "400", "409", "401", "403", "404"} <= set(put["responses"])


@pytest.mark.parametrize("name", ["api:docs", "api:redoc"])
def test_docs_pages_use_vendored_assets_not_a_cdn(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html and "unpkg" not in html


@pytest.fixture
def populated(project, owner, make_image, active_model):
    """A project with a labeled image, an unlabeled one, a review item, an active model and a
    finished bulk prediction."""
    from webapp.serving.models import BulkPrediction, JobStatus
    from webapp.training.models import RunStatus, RunTrigger, TrainingRun
    from webapp.webhooks.models import Webhook

    labeled = make_image(mask=np.zeros((24, 32), np.uint8))
    item = queue_item(make_image(), 0.4)
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.API, status=RunStatus.SUCCEEDED)
    BulkPrediction.objects.create(project=project, status=JobStatus.SUCCEEDED)
    hook = Webhook.objects.create(project=project, url="https://93.184.216.34/hook", events=["round.ended"])
    return {
        "project_id": project.pk,
        "image_id": labeled.pk,
        "version": 1,
        "version_id": active_model.pk,
        "item_id": item.pk,
        "run_id": run.pk,
        "class_id": project.label_classes.get(name="car").pk,
        "membership_id": project.memberships.get(user__username="reviewer").pk,
        "webhook_id": hook.pk,
    }


@pytest.fixture
def keep_test_connection():
    """Called through WSGI, Django closes the database connection after each request; the
    test client avoids that the same way, and so must we: the data lives in the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.slow
def test_whole_api_from_its_schema_gives_no_server_error_and_conforms(populated, owner, settings, keep_test_connection):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings
    from rest_framework.authtoken.models import Token
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from webapp.wsgi import application

    settings.ALLOWED_HOSTS = ["*"]
    auth = {"Authorization": f"Token {Token.objects.create(user=owner).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    seen = collections.defaultdict(set)
    assert len(operations) >= 25

    for operation, mode in itertools.product(operations, [GenerationMode(m) for m in MODES]):

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            # Real ids, so that requests reach the code behind the access checks.
            case.path_parameters = {
                name: populated.get(name, value) for name, value in (case.path_parameters or {}).items()
            }
            response = case.call(headers=auth)
            seen[operation.label].add(response.status_code)  # noqa: B023 (call() runs in this iteration)
            case.validate_response(response, checks=checks, headers=auth)

        call()

    # The run reached the code behind the checks: every read succeeded at least once (writes
    # get random bytes for images and masks, which are rightly refused).
    never_ok = sorted(
        label for label, codes in seen.items() if label.startswith("GET") and not any(200 <= c < 300 for c in codes)
    )
    assert never_ok == [], {label: seen[label] for label in never_ok}
