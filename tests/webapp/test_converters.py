"""Ids in URLs and query parameters are bounded where they are parsed: past the bound the
answer is 404 (or the parameter is ignored), never the database driver's OverflowError."""

import pytest
from django.urls import URLPattern, get_resolver, reverse

from webapp.converters import MAX_ID, IdConverter, parse_id

pytestmark = pytest.mark.django_db

HUGE = [99999999999999999999, 2**63, 2**31, MAX_ID]  # the last is in range: no such row, still 404
# The URL modules that use <id:...>. The others (images, annotation, review) join once switched.
NAMESPACES = ["api", "projects", "training", "images", "annotation", "review"]
SAMPLES = {"fmt": "onnx", "decision": "accept", "name": "overlay"}  # the parameters that are not ids


def urls_with(value: int) -> list[str]:
    """Every URL of NAMESPACES with each id parameter set to `value`."""
    urls = []
    for namespace in NAMESPACES:
        _prefix, resolver = get_resolver().namespace_dict[namespace]
        for pattern in resolver.url_patterns:
            converters = getattr(pattern.pattern, "converters", {})
            if not isinstance(pattern, URLPattern) or not pattern.name or not converters:
                continue
            kwargs = {
                name: value if isinstance(converter, IdConverter) else SAMPLES[name]
                for name, converter in converters.items()
            }
            urls.append(reverse(f"{namespace}:{pattern.name}", kwargs=kwargs))
    return urls


def test_every_route_with_an_id_uses_the_bounded_converter():
    for namespace in NAMESPACES:
        _prefix, resolver = get_resolver().namespace_dict[namespace]
        for pattern in resolver.url_patterns:
            route = str(pattern.pattern)
            assert "<int:" not in route and "[0-9]+" not in route, route


@pytest.mark.parametrize("value", HUGE)
def test_huge_ids_answer_404_on_every_page_and_api_route(value, client, owner, project):
    client.force_login(owner)
    urls = urls_with(value)
    # Past the bound no route matches; in range the route does (no such row: 404; wrong method: 405).
    expected = {404} if value > MAX_ID else {404, 405}
    assert reverse("api:project-detail", kwargs={"project_id": value}) in urls
    assert reverse("projects:detail", kwargs={"project_id": value}) in urls
    for url in urls:
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in expected, (method.__name__, url, response.status_code)


def test_the_exact_probe_urls_answer_404(client, owner):
    client.force_login(owner)
    assert client.get("/api/projects/99999999999999999999/").status_code == 404
    assert client.get("/projects/99999999999999999999/").status_code == 404
    assert client.get("/api/projects/0/").status_code == 404


def test_a_huge_page_cursor_is_ignored(client, owner, project):
    client.force_login(owner)
    url = reverse("projects:detail", kwargs={"project_id": project.pk})
    for cursor in ["99999999999999999999", "²", "-1", str(2**31)]:
        assert client.get(url, {"after": cursor}).status_code == 200
        assert client.get(url, {"before": cursor}).status_code == 200


def test_parse_id_bounds():
    assert [parse_id(v) for v in ["1", "007", str(MAX_ID)]] == [1, 7, MAX_ID]
    assert [parse_id(v) for v in [None, "", "0", str(MAX_ID + 1), "²", "1e3", " 1", "-2"]] == [None] * 8


def test_predict_refuses_a_huge_image_id_with_400(client, owner, project):
    client.force_login(owner)
    response = client.post(reverse("api:predict", kwargs={"project_id": project.pk}), {"image_id": str(2**70)})
    assert response.status_code == 400
