"""Forms for creating projects, their settings page and their members."""

from typing import cast

from django import forms
from django.contrib.auth import get_user_model

from webapp.projects.models import HEX_COLOUR, LabelClass, Membership, Project
from webapp.projects.selectors import project_settings_values
from webapp.projects.services import (
    AUTO_RETRAIN_INVALID,
    AUTO_RETRAIN_MAX,
    DEFAULT_COLOURS,
    MAX_CLASSES,
    MAX_MINUTES_INVALID,
    MAX_MINUTES_MAX,
    ClassSpec,
)
from webapp.review.forms import QueueSettingsForm

CLASS_ROWS = 6  # rows the create page starts with; "Add a class" adds more
UNKNOWN_USER = "There is no user called {username}."


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=Project._meta.get_field("name").max_length)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    review_threshold = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.9,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Pseudo-labels scoring below this go to the review queue (0 to 1).",
    )


class LabelClassRow(forms.Form):
    # Blank rows are skipped, so the name is optional here; project_create checks the rest.
    name = forms.CharField(max_length=100, required=False)
    color = forms.CharField(max_length=7, validators=[HEX_COLOUR], widget=forms.TextInput(attrs={"type": "color"}))
    is_ignore = forms.BooleanField(required=False, label="Ignore")


# The class limit is the service's (project_create: MAX_CLASSES, with its own message); blank
# rows are skipped, so the number of rows is not the number of classes.
LabelClassFormSet = forms.formset_factory(LabelClassRow, extra=0, max_num=MAX_CLASSES)


def label_class_initial() -> list[dict]:
    """A "background" class and empty rows, each with its own default colour."""
    rows = [{"name": "", "color": DEFAULT_COLOURS[i % len(DEFAULT_COLOURS)]} for i in range(CLASS_ROWS)]
    rows[0]["name"] = "background"
    return rows


def class_specs(formset) -> list[ClassSpec]:
    """The named rows of a valid formset, in order (their order gives the class indices)."""
    return [
        ClassSpec(name=row["name"], color=row["color"], is_ignore=row["is_ignore"])
        for row in formset.cleaned_data
        if row.get("name", "").strip()
    ]


class RolesForm(forms.Form):
    annotator = forms.BooleanField(required=False, initial=True)
    reviewer = forms.BooleanField(required=False)
    admin = forms.BooleanField(required=False)

    def roles(self) -> dict[str, bool]:
        """The cleaned roles as membership_add / membership_update take them."""
        return {name: self.cleaned_data[name] for name in ("annotator", "reviewer", "admin")}


class MemberAddForm(RolesForm):
    """A username and roles. Whether the user may be added is membership_add's rule."""

    username = forms.CharField(max_length=150)

    field_order = ["username", "annotator", "reviewer", "admin"]

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(UNKNOWN_USER.format(username=username))
        self.user = user
        return username


class MemberRolesForm(RolesForm):
    """One member's roles (shape only: the owner-stays-admin rule is membership_update's)."""

    def __init__(self, *args, membership: Membership, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "annotator": membership.is_annotator,
                "reviewer": membership.is_reviewer,
                "admin": membership.is_admin,
            },
        )
        kwargs.setdefault("prefix", f"m{membership.pk}")
        super().__init__(*args, **kwargs)
        self.membership = membership


# ------------------------------------------------------------------ the settings page
# Shape only: the rules (in use, owner stays admin, valid config) are the services'.

CLASS_NAME_INVALID = "Give the class a name of at most 100 characters."
COLOUR_INVALID = str(HEX_COLOUR.message)
MASKS_SEEN_INVALID = "Reload the page: the form is missing what it was shown."
THRESHOLD_INVALID = "The review threshold is a number from 0 to 1."
# The services' own words (the service checks the bounds again, for the API).
AUTO_RETRAIN_FIELD_INVALID = AUTO_RETRAIN_INVALID.format(limit=AUTO_RETRAIN_MAX)
MAX_MINUTES_FIELD_INVALID = MAX_MINUTES_INVALID.format(limit=MAX_MINUTES_MAX)
CONFIG_JSON_INVALID = 'The training config must be JSON: an object such as {"batch_size": 4}.'


def _all(message: str) -> dict:
    """The same message for every way a field can be wrong."""
    keys = ("required", "invalid", "invalid_choice", "min_value", "max_value", "max_length", "step_size")
    return {key: message for key in keys}


class ClassForm(forms.Form):
    """A class's name and colour (add, rename, recolour)."""

    name = forms.CharField(max_length=100, error_messages=_all(CLASS_NAME_INVALID))
    color = forms.CharField(
        max_length=7,
        validators=[HEX_COLOUR],
        error_messages=_all(COLOUR_INVALID),
        widget=forms.TextInput(attrs={"type": "color"}),
    )


class _Remap(forms.Form):
    rewrite_masks = forms.BooleanField(required=False, label="Rewrite the masks that use moved classes")
    masks_seen = forms.IntegerField(
        min_value=0, max_value=2**63 - 1, widget=forms.HiddenInput, error_messages=_all(MASKS_SEEN_INVALID)
    )


class ClassRemoveForm(_Remap):
    into = forms.ModelChoiceField(
        queryset=LabelClass.objects.none(), required=False, label="Its pixels become", empty_label="(not in use)"
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["into"]).queryset = project.label_classes.all()


class IgnoreClassForm(_Remap):
    ignore = forms.ModelChoiceField(
        queryset=LabelClass.objects.none(), required=False, label="Ignore class", empty_label="(none)"
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["ignore"]).queryset = project.label_classes.all()


class ReviewSettingsForm(QueueSettingsForm):
    """The review page's queue settings plus the threshold used until a round calibrates."""

    review_threshold = forms.FloatField(
        label="Review threshold",
        min_value=0.0,
        max_value=1.0,
        error_messages=_all(THRESHOLD_INVALID),
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Pseudo-labels scoring below this go to the review queue (0 to 1), until a round has "
        "learned the threshold from the target pixel error.",
    )
    field_order = ["review_threshold", "strategy", "batch_size", "target_pixel_error", "audit_share"]

    @classmethod
    def for_project(cls, project: Project) -> "ReviewSettingsForm":
        form = cls(
            initial={**QueueSettingsForm.for_project(project).initial, "review_threshold": project.review_threshold}
        )
        return form

    def settings(self) -> dict:
        return {**super().settings(), "review_threshold": self.cleaned_data["review_threshold"]}


class TrainingSettingsForm(forms.Form):
    auto_retrain_after = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=AUTO_RETRAIN_MAX,
        error_messages=_all(AUTO_RETRAIN_FIELD_INVALID),
        label="Retrain after this many new masks",
        help_text="Empty: rounds start only by hand.",
    )
    max_minutes = forms.FloatField(
        required=False,
        max_value=MAX_MINUTES_MAX,
        error_messages=_all(MAX_MINUTES_FIELD_INVALID),
        label="Round time budget (minutes)",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="The round plans its steps to end in time, pseudo-labelling included. Empty: the default.",
    )
    training_config = forms.JSONField(
        required=False,
        error_messages=_all(CONFIG_JSON_INVALID),
        label="Training config (JSON)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='ml.train.TrainConfig fields for this project, e.g. {"batch_size": 4, "crop_size": 256}.',
    )

    @classmethod
    def for_project(cls, project: Project) -> "TrainingSettingsForm":
        values = project_settings_values(project=project)
        return cls(initial={name: values[name] for name in ("auto_retrain_after", "max_minutes", "training_config")})

    def settings(self) -> dict:
        data = self.cleaned_data
        config = data["training_config"]
        return {
            "auto_retrain_after": data["auto_retrain_after"],
            "max_minutes": data["max_minutes"],
            "training_config": {} if config in (None, "") else config,
        }
