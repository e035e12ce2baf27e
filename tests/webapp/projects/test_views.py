"""Project pages: who may see what, creating projects, the gallery and the members section of the
settings page (the rest of the settings page: test_settings_views.py)."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from webapp.images.models import Image, ImageStatus
from webapp.projects.forms import UNKNOWN_USER
from webapp.projects.models import LabelClass, Membership, Project
from webapp.projects.services import ALREADY_MEMBER, OWNER_STAYS_ADMIN

pytestmark = pytest.mark.django_db


def class_rows(*rows):
    """Formset POST data for (name, colour, ignore) rows."""
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": "0"}
    for i, (name, colour, ignore) in enumerate(rows):
        data[f"form-{i}-name"] = name
        data[f"form-{i}-color"] = colour
        if ignore:
            data[f"form-{i}-is_ignore"] = "on"
    return data


# ------------------------------------------------------------------ login and access


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode() and 'name="password"' in response.content.decode()


def test_member_logs_in_and_lands_on_project_list(client, member, project):
    response = client.post(reverse("login"), {"username": "member", "password": "pw-member-123"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("projects:list")
    assert "Streets" in response.content.decode()


def page_urls(project, image=None):
    urls = [
        reverse("projects:list"),
        reverse("projects:create"),
        reverse("projects:detail", args=[project.id]),
        reverse("projects:members", args=[project.id]),
        reverse("projects:settings", args=[project.id]),
        reverse("images:upload", args=[project.id]),
    ]
    membership = Membership.objects.get(project=project, user__username="member")
    urls += [
        reverse("projects:member_update", args=[project.id, membership.id]),
        reverse("projects:member_remove", args=[project.id, membership.id]),
    ]
    if image is not None:
        args = [project.id, image.id]
        urls += [
            reverse("images:file", args=args),
            reverse("images:thumbnail", args=args),
            reverse("images:mask_file", args=[*args, 1]),
        ]
    return urls


def test_every_page_requires_login(client, project, make_image):
    import numpy as np

    image = make_image(mask=np.zeros((24, 32), dtype=np.uint8))
    for url in page_urls(project, image):
        response = client.get(url) if "/remove/" not in url and "/roles/" not in url else client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{reverse('login')}?next="), url
    assert Membership.objects.filter(project=project).count() == 3


ROLE_MATRIX = [
    # url name, owner, member (annotator), reviewer, outsider
    ("projects:detail", (200, 200, 200, 404)),
    ("projects:settings", (200, 403, 403, 404)),
    ("projects:members", (302, 403, 403, 404)),  # the members section of the settings page
    ("images:upload", (200, 200, 403, 404)),
]


@pytest.mark.parametrize("name, expected", ROLE_MATRIX)
def test_page_access_by_role(name, expected, client, project, owner, member, reviewer, outsider):
    url = reverse(name, args=[project.id])
    for user, status in zip([owner, member, reviewer, outsider], expected, strict=True):
        client.force_login(user)
        assert client.get(url).status_code == status, (user.username, url)


def test_outsider_gets_404_for_a_project_that_does_not_exist_too(client, outsider, project):
    client.force_login(outsider)
    real = client.get(reverse("projects:detail", args=[project.id]))
    missing = client.get(reverse("projects:detail", args=[99999]))
    assert real.status_code == missing.status_code == 404


def test_member_without_admin_role_cannot_change_roles_or_remove(client, project, member, reviewer):
    client.force_login(member)
    target = Membership.objects.get(project=project, user=reviewer)
    assert client.post(reverse("projects:member_update", args=[project.id, target.id]), {}).status_code == 403
    assert client.post(reverse("projects:member_remove", args=[project.id, target.id])).status_code == 403
    target.refresh_from_db()
    assert target.is_reviewer


# ------------------------------------------------------------------ list and create


def test_list_shows_only_the_users_projects_with_counts(client, project, outsider, make_image):
    make_image()
    client.force_login(outsider)
    assert "Streets" not in client.get(reverse("projects:list")).content.decode()
    from webapp.projects.services import ClassSpec, project_create

    project_create(owner=outsider, name="Mine", classes=[ClassSpec("background")])
    html = client.get(reverse("projects:list")).content.decode()
    assert "Mine" in html and "Streets" not in html and "0 images" in html


def test_create_page_starts_with_a_background_class(client, outsider):
    client.force_login(outsider)
    html = client.get(reverse("projects:create")).content.decode()
    assert 'value="background"' in html and 'type="color"' in html


def test_any_user_creates_a_project_and_becomes_its_admin(client, outsider):
    client.force_login(outsider)
    data = {
        "name": "Fields",
        "description": "Crops",
        "review_threshold": "0.8",
        **class_rows(
            ("soil", "#804000", False), ("", "#000000", False), ("crop", "#00ff00", False), ("void", "#000000", True)
        ),
    }
    response = client.post(reverse("projects:create"), data)
    project = Project.objects.get(name="Fields")
    assert response.status_code == 302 and response["Location"] == reverse("projects:detail", args=[project.id])
    assert list(project.label_classes.values_list("index", "name", "color", "is_ignore")) == [
        (0, "soil", "#804000", False),
        (1, "crop", "#00ff00", False),
        (2, "void", "#000000", True),
    ]
    assert project.review_threshold == 0.8 and project.owner == outsider
    assert Membership.objects.get(project=project, user=outsider).is_admin


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("a", "#000000", True), ("b", "#111111", False)], "The ignore class must be the last class."),
        ([("a", "#000000", False), ("a", "#111111", False)], "Class names must be given and distinct."),
        ([("", "#000000", False)], "A project needs at least one label class."),
    ],
)
def test_invalid_classes_show_the_services_message_and_create_nothing(rows, message, client, owner):
    client.force_login(owner)
    response = client.post(reverse("projects:create"), {"name": "Bad", "review_threshold": "0.9", **class_rows(*rows)})
    assert response.status_code == 200
    assert escape(message) in response.content.decode()
    assert not Project.objects.filter(name="Bad").exists() and not LabelClass.objects.exists()


def test_bad_colour_and_threshold_are_refused(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse("projects:create"), {"name": "Bad", "review_threshold": "1.5", **class_rows(("a", "red", False))}
    )
    html = response.content.decode()
    assert "Colours are written #rrggbb." in html and "less than or equal to 1" in html
    assert not Project.objects.filter(name="Bad").exists()


# ------------------------------------------------------------------ detail: gallery, tabs, pages


def set_status(images, status):
    Image.objects.filter(pk__in=[i.pk for i in images]).update(status=status)


def test_detail_shows_counts_per_status_tab(client, member, project, make_image):
    images = [make_image() for _ in range(5)]
    set_status(images[:2], ImageStatus.LABELED)
    set_status(images[2:3], ImageStatus.IN_REVIEW)
    client.force_login(member)
    html = client.get(reverse("projects:detail", args=[project.id])).content.decode()
    for status, count in [("all", 5), ("unlabeled", 2), ("pseudo", 0), ("in_review", 1), ("labeled", 2)]:
        assert f'data-status="{status}">' in html
        assert f'<span class="count">{count}</span>' in html.split(f'data-status="{status}">')[1].split("</a>")[0]


def test_status_tab_filters_the_grid(client, member, project, make_image):
    images = [make_image(name=f"n{i}.png") for i in range(4)]
    set_status(images[1:3], ImageStatus.LABELED)
    client.force_login(member)
    html = client.get(reverse("projects:detail", args=[project.id]), {"status": "labeled"}).content.decode()
    assert "n1.png" in html and "n2.png" in html and "n0.png" not in html and "n3.png" not in html


def test_pages_walk_forward_and_back_through_all_images(client, member, project, make_image, settings):
    settings.SEGLOOP_IMAGES_PER_PAGE = 3
    names = [make_image(name=f"p{i}.png").original_name for i in range(7)]
    client.force_login(member)
    url = reverse("projects:detail", args=[project.id])
    seen, params, pages = [], {}, []
    while True:
        response = client.get(url, params, headers={"HX-Request": "true"})
        page = response.context_data["page"]
        pages.append(page)
        seen += [i.original_name for i in page.images]
        if page.next_after is None:
            break
        params = {"status": "all", "after": page.next_after}
    assert seen == names and [len(p.images) for p in pages] == [3, 3, 1]
    back = client.get(url, {"status": "all", "before": pages[2].prev_before}).context["page"]
    assert [i.original_name for i in back.images] == names[3:6]
    first = client.get(url, {"status": "all", "before": back.prev_before}).context["page"]
    assert [i.original_name for i in first.images] == names[:3] and first.prev_before is None


def test_htmx_tab_request_gets_only_the_gallery_fragment(client, member, project, make_image):
    make_image()
    client.force_login(member)
    html = client.get(
        reverse("projects:detail", args=[project.id]), {"status": "unlabeled"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "<html" not in html and 'class="tabs"' in html and "<img" in html


def test_garbage_filters_fall_back_to_all_images(client, member, project, make_image):
    make_image()
    client.force_login(member)
    response = client.get(reverse("projects:detail", args=[project.id]), {"status": "nope", "after": "x"})
    assert response.status_code == 200 and len(response.context["page"].images) == 1


def test_links_follow_the_users_roles(client, project, owner, member, reviewer, make_image):
    image = make_image()
    url = reverse("projects:detail", args=[project.id])
    editor = reverse("annotation:editor", args=[project.id, image.id])
    links = {
        "upload": reverse("images:upload", args=[project.id]),
        "review": reverse("review:queue", args=[project.id]),
        "training": reverse("training:page", args=[project.id]),
        "settings": reverse("projects:settings", args=[project.id]),
        "editor": editor,
    }
    expected = {
        owner: {"upload", "review", "training", "settings", "editor"},
        member: {"upload", "editor"},
        reviewer: {"review"},
    }
    for user, shown in expected.items():
        client.force_login(user)
        html = client.get(url).content.decode()
        assert {k for k, href in links.items() if f'href="{href}"' in html} == shown, user.username
    assert f'href="{reverse("images:file", args=[project.id, image.id])}"' in html  # reviewers open the file


# ------------------------------------------------------------------ members


def test_admin_adds_a_member_with_roles(client, owner, outsider, project):
    client.force_login(owner)
    response = client.post(reverse("projects:members", args=[project.id]), {"username": "outsider", "reviewer": "on"})
    assert response.status_code == 302
    membership = Membership.objects.get(project=project, user=outsider)
    assert (membership.is_annotator, membership.is_reviewer, membership.is_admin) == (False, True, False)


@pytest.mark.parametrize(
    "username, message",
    [
        ("nobody", UNKNOWN_USER.format(username="nobody")),
        ("member", ALREADY_MEMBER.format(username="member")),
    ],
)
def test_adding_an_unknown_user_or_a_member_again_is_refused(username, message, client, owner, project):
    client.force_login(owner)
    response = client.post(reverse("projects:members", args=[project.id]), {"username": username, "admin": "on"})
    assert escape(message) in response.content.decode()
    assert not Membership.objects.filter(project=project, is_admin=True).exclude(user=owner).exists()


def test_admin_changes_roles_and_the_row_is_swapped(client, owner, member, project):
    client.force_login(owner)
    membership = Membership.objects.get(project=project, user=member)
    prefix = f"m{membership.id}"
    response = client.post(
        reverse("projects:member_update", args=[project.id, membership.id]),
        {f"{prefix}-reviewer": "on"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert (
        response.status_code == 200 and html.strip().startswith(f'<tr id="member-{membership.id}"') and "Saved." in html
    )
    membership.refresh_from_db()
    assert (membership.is_annotator, membership.is_reviewer, membership.is_admin) == (False, True, False)


def test_owner_cannot_lose_admin_or_be_removed(client, owner, project):
    client.force_login(owner)
    membership = Membership.objects.get(project=project, user=owner)
    response = client.post(
        reverse("projects:member_update", args=[project.id, membership.id]),
        {f"m{membership.id}-annotator": "on"},
        headers={"HX-Request": "true"},
    )
    assert escape(OWNER_STAYS_ADMIN.format(username="owner")) in response.content.decode()
    response = client.post(reverse("projects:member_remove", args=[project.id, membership.id]), follow=True)
    assert escape(OWNER_STAYS_ADMIN.format(username="owner")) in response.content.decode()
    membership.refresh_from_db()
    assert membership.is_admin


def test_admin_removes_a_member_who_then_gets_404_and_whose_masks_stay(client, owner, member, project, make_image):
    import numpy as np

    from webapp.images.services import mask_save

    image = make_image()
    mask = mask_save(image=image, base_version=0, array=np.zeros((24, 32), dtype=np.uint8), author=member)
    client.force_login(owner)
    membership = Membership.objects.get(project=project, user=member)
    response = client.post(reverse("projects:member_remove", args=[project.id, membership.id]))
    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=member).exists()
    mask.refresh_from_db()
    assert mask.author == member
    client.force_login(member)
    response = client.get(reverse("projects:detail", args=[project.id]))
    assert response.status_code == 404
