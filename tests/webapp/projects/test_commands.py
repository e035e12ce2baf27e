"""`manage.py create_project`: presets (CamVid) and class lists."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from webapp.projects.management.commands.create_project import BAD_CLASS
from webapp.projects.models import Membership, Project

pytestmark = pytest.mark.django_db


def test_camvid_preset_has_11_classes_and_unlabelled_ignored_at_11(owner):
    out = StringIO()
    call_command("create_project", "CamVid", "--owner", "owner", "--preset", "camvid", stdout=out)
    project = Project.objects.get(name="CamVid")
    classes = list(project.label_classes.values_list("index", "name", "color", "is_ignore"))
    assert len(classes) == 12 and project.num_classes == 11 and project.ignore_index == 11
    assert classes[0] == (0, "sky", "#808080", False) and classes[3] == (3, "road", "#804080", False)
    assert classes[11] == (11, "unlabelled", "#000000", True)
    assert Membership.objects.get(project=project, user=owner).is_admin
    assert f"import_images {project.id}" in out.getvalue()


def test_class_list_with_colours_and_ignore(owner):
    call_command(
        "create_project",
        "Fields",
        "--owner",
        "owner",
        "--classes",
        "soil, crop:#00ff00, void:#000000:ignore",
        stdout=StringIO(),
    )
    project = Project.objects.get(name="Fields")
    assert list(project.label_classes.values_list("name", "is_ignore")) == [
        ("soil", False),
        ("crop", False),
        ("void", True),
    ]
    assert project.label_classes.get(name="crop").color == "#00ff00"


@pytest.mark.parametrize(
    "classes, message",
    [
        ("a:red", BAD_CLASS.format(item="a:red")),
        ("a:#000000:skip", BAD_CLASS.format(item="a:#000000:skip")),
        ("void:#000000:ignore,a", "The ignore class must be the last class."),
    ],
)
def test_bad_class_lists_create_nothing(classes, message, owner):
    with pytest.raises(CommandError) as error:
        call_command("create_project", "Bad", "--owner", "owner", "--classes", classes)
    assert str(error.value) == message
    assert not Project.objects.exists()


def test_unknown_owner_is_refused(db):
    with pytest.raises(CommandError, match="No user called 'ghost'."):
        call_command("create_project", "X", "--owner", "ghost", "--preset", "camvid")
