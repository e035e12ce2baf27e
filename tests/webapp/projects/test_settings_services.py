"""The settings page's rules, held in the services (the page and the API refuse alike):
members (the owner stays admin, a project never loses its last admin), the training settings,
and class changes (a class in use moves only with a remap that writes new mask versions)."""

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied

from webapp.images.models import Image, Mask
from webapp.images.services import mask_read, mask_save
from webapp.projects import classes
from webapp.projects.models import LabelClass, Membership, Project
from webapp.projects.services import (
    ALREADY_MEMBER,
    AUTO_RETRAIN_INVALID,
    AUTO_RETRAIN_MAX,
    CONFIG_NOT_AN_OBJECT,
    CONFIG_OWN_FIELD,
    LAST_ADMIN,
    MAX_MINUTES_INVALID,
    MAX_MINUTES_MAX,
    OWNER_STAYS_ADMIN,
    MembershipRefused,
    SettingsRefused,
    membership_add,
    membership_remove,
    membership_set,
    membership_update,
    project_training_settings_update,
)

pytestmark = pytest.mark.django_db

H, W = 24, 32


def layout(project: Project) -> list[tuple[int, str, bool]]:
    return list(LabelClass.objects.filter(project=project).order_by("index").values_list("index", "name", "is_ignore"))


def roles(membership: Membership) -> tuple[bool, bool, bool]:
    membership.refresh_from_db()
    return membership.is_annotator, membership.is_reviewer, membership.is_admin


# ------------------------------------------------------------------ members


def test_owner_stays_admin_and_cannot_be_removed(project, owner):
    membership = Membership.objects.get(project=project, user=owner)
    with pytest.raises(MembershipRefused) as error:
        membership_update(membership=membership, annotator=True, reviewer=True, admin=False)
    assert str(error.value) == OWNER_STAYS_ADMIN.format(username="owner")
    with pytest.raises(MembershipRefused) as error:
        membership_remove(membership=membership)
    assert str(error.value) == OWNER_STAYS_ADMIN.format(username="owner")
    assert roles(membership) == (True, True, True)


def test_owner_may_change_their_other_roles(project, owner):
    membership = Membership.objects.get(project=project, user=owner)
    membership_update(membership=membership, annotator=False, reviewer=False, admin=True)
    assert roles(membership) == (False, False, True)


def test_the_last_admin_cannot_be_demoted_or_removed(project, owner, member):
    """A project whose owner is no longer a member (as the admin site allows) keeps its last admin."""
    admin = membership_set(project=project, user=member, annotator=True, admin=True)
    Membership.objects.filter(project=project, user=owner).delete()
    with pytest.raises(MembershipRefused) as error:
        membership_update(membership=admin, annotator=True, reviewer=False, admin=False)
    assert str(error.value) == LAST_ADMIN.format(username="member")
    with pytest.raises(MembershipRefused) as error:
        membership_remove(membership=admin)
    assert str(error.value) == LAST_ADMIN.format(username="member")
    assert roles(admin) == (True, False, True)


def test_an_admin_who_is_not_the_last_may_be_demoted_and_removed(project, member):
    admin = membership_set(project=project, user=member, annotator=True, admin=True)
    membership_update(membership=admin, annotator=False, reviewer=True, admin=False)
    assert roles(admin) == (False, True, False)
    membership_set(project=project, user=member, admin=True)
    membership_remove(membership=admin)
    assert not Membership.objects.filter(project=project, user=member).exists()


def test_add_gives_the_roles_and_refuses_a_member_twice(project, outsider, member):
    added = membership_add(project=project, user=outsider, annotator=False, reviewer=True)
    assert roles(added) == (False, True, False)
    with pytest.raises(MembershipRefused) as error:
        membership_add(project=project, user=member, admin=True)
    assert str(error.value) == ALREADY_MEMBER.format(username="member")
    assert not Membership.objects.get(project=project, user=member).is_admin


# ------------------------------------------------------------------ training settings


def test_training_settings_are_saved_with_the_time_budget_in_the_config(project, owner):
    changed = project_training_settings_update(
        project=project, user=owner, auto_retrain_after=25, max_minutes=30.0, training_config={"batch_size": 2}
    )
    project.refresh_from_db()
    assert sorted(changed) == ["auto_retrain_after", "training_config"]
    assert project.auto_retrain_after == 25
    assert project.training_config == {"batch_size": 2, "max_minutes": 30.0}


AUTO = AUTO_RETRAIN_INVALID.format(limit=AUTO_RETRAIN_MAX)
MINUTES = MAX_MINUTES_INVALID.format(limit=MAX_MINUTES_MAX)


@pytest.mark.parametrize(
    "values, field, message",
    [
        ({"auto_retrain_after": 0}, "auto_retrain_after", AUTO),
        ({"auto_retrain_after": AUTO_RETRAIN_MAX + 1}, "auto_retrain_after", AUTO),
        ({"max_minutes": 0.0}, "max_minutes", MINUTES),
        ({"max_minutes": float("nan")}, "max_minutes", MINUTES),
        ({"max_minutes": MAX_MINUTES_MAX + 1.0}, "max_minutes", MINUTES),
        ({"training_config": [1, 2]}, "training_config", CONFIG_NOT_AN_OBJECT),
        ({"training_config": {"max_minutes": 5}}, "training_config", CONFIG_OWN_FIELD.format(key="max_minutes")),
        ({"training_config": {"num_classes": 9}}, "training_config", CONFIG_OWN_FIELD.format(key="num_classes")),
    ],
)
def test_bad_training_settings_are_refused_with_the_message_and_nothing_changes(project, owner, values, field, message):
    given = {"auto_retrain_after": 5, "max_minutes": 10.0, "training_config": {}, **values}
    with pytest.raises(SettingsRefused) as error:
        project_training_settings_update(project=project, user=owner, **given)
    assert (str(error.value), error.value.field) == (message, field)
    project.refresh_from_db()
    assert project.auto_retrain_after is None and project.training_config == {}


def test_a_config_train_config_refuses_is_refused_at_its_field(project, owner):
    with pytest.raises(SettingsRefused) as error:
        project_training_settings_update(
            project=project, user=owner, auto_retrain_after=None, max_minutes=None, training_config={"no_such": 1}
        )
    assert error.value.field == "training_config"
    assert str(error.value).startswith("The training config is invalid: unknown TrainConfig keys ['no_such']")
    project.refresh_from_db()
    assert project.training_config == {}


def test_only_admins_change_training_settings(project, member):
    with pytest.raises(PermissionDenied):
        project_training_settings_update(
            project=project, user=member, auto_retrain_after=3, max_minutes=None, training_config={}
        )
    project.refresh_from_db()
    assert project.auto_retrain_after is None


# ------------------------------------------------------------------ classes


@pytest.fixture
def painted(make_image):
    """An image whose human mask holds background (0), car (2) and void (3, the ignore class)."""
    array = np.zeros((H, W), np.uint8)
    array[:, 10:20] = 2
    array[:, 20:] = 3
    return make_image(W, H, mask=array)


def current(image: Image) -> np.ndarray:
    image.refresh_from_db()
    return mask_read(image.current_mask)


def test_rename_and_recolour_change_no_mask(project, owner, painted):
    road = project.label_classes.get(name="road")
    classes.label_class_update(project=project, user=owner, label_class=road, name="street", color="#123456")
    road.refresh_from_db()
    assert (road.index, road.name, road.color) == (1, "street", "#123456")
    assert Mask.objects.filter(image=painted).count() == 1


@pytest.mark.parametrize(
    "name, color, message",
    [
        ("car", "#000000", classes.NAME_TAKEN.format(name="car")),
        ("  ", "#000000", classes.NAME_REQUIRED),
        ("street", "red", "Colours are written #rrggbb."),
    ],
)
def test_bad_names_and_colours_are_refused_and_nothing_changes(project, owner, name, color, message):
    road = project.label_classes.get(name="road")
    with pytest.raises(classes.ClassChangeRefused) as error:
        classes.label_class_update(project=project, user=owner, label_class=road, name=name, color=color)
    assert str(error.value) == message
    road.refresh_from_db()
    assert road.name == "road"


def test_adding_a_class_with_no_ignore_pixels_in_use_needs_no_remap(project, owner):
    added = classes.label_class_add(project=project, user=owner, name="bike", color="#00ff00")
    assert added.index == 3
    assert [name for _, name, _ in layout(project)] == ["background", "road", "car", "bike", "void"]
    assert layout(project)[-1] == (4, "void", True)


def test_adding_a_class_that_moves_the_ignore_class_in_use_needs_the_remap(project, owner, painted):
    before = current(painted)
    with pytest.raises(classes.ClassChangeRefused) as error:
        classes.label_class_add(project=project, user=owner, name="bike")
    assert str(error.value) == classes.REMAP_NEEDED.format(count=1, classes="void")
    assert error.value.field == "rewrite_masks"
    assert layout(project)[-1] == (3, "void", True) and project.label_classes.count() == 4

    classes.label_class_add(project=project, user=owner, name="bike", rewrite_masks=True)
    assert layout(project)[-2:] == [(3, "bike", False), (4, "void", True)]
    after = current(painted)
    expected = before.copy()
    expected[before == 3] = 4
    assert np.array_equal(after, expected)
    versions = list(Mask.objects.filter(image=painted).order_by("version"))
    assert [m.version for m in versions] == [1, 2] and painted.current_mask == versions[1]
    assert np.array_equal(mask_read(versions[0]), before)  # the human label is kept as it was
    assert versions[1].source == versions[0].source


def test_a_class_in_use_is_not_removed_without_a_class_for_its_pixels(project, owner, painted):
    car = project.label_classes.get(name="car")
    with pytest.raises(classes.ClassChangeRefused) as error:
        classes.label_class_remove(project=project, user=owner, label_class=car, rewrite_masks=True)
    assert str(error.value) == classes.CLASS_IN_USE.format(name="car", count=1)
    assert error.value.field == "into"
    assert project.label_classes.count() == 4 and Mask.objects.filter(image=painted).count() == 1


def test_removing_a_class_in_use_with_a_remap_writes_new_versions_and_keeps_the_old(project, owner, painted):
    before = current(painted)
    car, road = project.label_classes.get(name="car"), project.label_classes.get(name="road")
    with pytest.raises(classes.ClassChangeRefused) as error:
        classes.label_class_remove(project=project, user=owner, label_class=car, into=road)
    assert str(error.value) == classes.REMAP_NEEDED.format(count=1, classes="car, void")
    assert project.label_classes.count() == 4

    classes.label_class_remove(project=project, user=owner, label_class=car, into=road, rewrite_masks=True)
    assert layout(project) == [(0, "background", False), (1, "road", False), (2, "void", True)]
    expected = before.copy()
    expected[before == 2] = 1
    expected[before == 3] = 2
    assert np.array_equal(current(painted), expected)
    old = Mask.objects.get(image=painted, version=1)
    assert np.array_equal(mask_read(old), before)


def test_a_class_no_mask_uses_is_removed_without_a_remap(project, owner, painted):
    road = project.label_classes.get(name="road")
    with pytest.raises(classes.ClassChangeRefused):  # car and void move down: they are in use
        classes.label_class_remove(project=project, user=owner, label_class=road)
    empty = classes.label_class_add(project=project, user=owner, name="bike", rewrite_masks=True)
    classes.label_class_remove(project=project, user=owner, label_class=empty, rewrite_masks=True)
    assert [name for _, name, _ in layout(project)] == ["background", "road", "car", "void"]


def test_a_remap_refuses_when_a_mask_was_saved_after_the_page_was_shown(project, owner, painted):
    seen = classes.masks_seen(project=project)
    mask_save(image=painted, base_version=1, array=current(painted), author=owner)
    with pytest.raises(classes.ClassChangeRefused) as error:
        classes.label_class_add(project=project, user=owner, name="bike", rewrite_masks=True, masks_seen=seen)
    assert str(error.value) == classes.REMAP_CONFLICT.format(image=painted.pk)
    assert project.label_classes.count() == 4 and Mask.objects.filter(image=painted).count() == 2


def test_choosing_another_ignore_class_moves_it_last_with_a_remap(project, owner, painted):
    road = project.label_classes.get(name="road")
    before = current(painted)
    classes.label_class_ignore_set(project=project, user=owner, label_class=road, rewrite_masks=True)
    assert layout(project) == [(0, "background", False), (1, "car", False), (2, "void", False), (3, "road", True)]
    expected = before.copy()
    expected[before == 2] = 1
    expected[before == 3] = 2
    assert np.array_equal(current(painted), expected)


def test_no_ignore_class_keeps_every_index(project, owner, painted):
    classes.label_class_ignore_set(project=project, user=owner, label_class=None)
    assert layout(project)[-1] == (3, "void", False)
    assert Mask.objects.filter(image=painted).count() == 1


def test_the_last_class_stays(owner):
    from webapp.projects.services import ClassSpec, project_create

    lonely = project_create(owner=owner, name="One", classes=[ClassSpec("only")])
    with pytest.raises(classes.ClassChangeRefused) as error:
        classes.label_class_remove(project=lonely, user=owner, label_class=lonely.label_classes.get())
    assert str(error.value) == classes.LAST_CLASS


def test_only_admins_change_classes(project, member):
    with pytest.raises(PermissionDenied):
        classes.label_class_add(project=project, user=member, name="bike")
    assert project.label_classes.count() == 4
