"""Forms for creating projects and managing their members."""
from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction

from webapp.projects.models import HEX_COLOUR, Membership, Project
from webapp.projects.services import DEFAULT_COLOURS, MAX_CLASSES, ClassSpec, membership_set

CLASS_ROWS = 6  # rows the create page starts with; "Add a class" adds more
UNKNOWN_USER = "There is no user called {username}."
ALREADY_MEMBER = "{username} is already a member; change their roles in the table."
OWNER_STAYS_ADMIN = "The project's owner ({username}) stays an admin and cannot be removed."


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=Project._meta.get_field("name").max_length)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    review_threshold = forms.FloatField(
        min_value=0.0, max_value=1.0, initial=0.9,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="Pseudo-labels scoring below this go to the review queue (0 to 1).",
    )


class LabelClassRow(forms.Form):
    # Blank rows are skipped, so the name is optional here; project_create checks the rest.
    name = forms.CharField(max_length=100, required=False)
    color = forms.CharField(
        max_length=7, validators=[HEX_COLOUR], widget=forms.TextInput(attrs={"type": "color"})
    )
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


class MemberAddForm(RolesForm):
    username = forms.CharField(max_length=150)

    field_order = ["username", "annotator", "reviewer", "admin"]

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(UNKNOWN_USER.format(username=username))
        if Membership.objects.filter(project=self.project, user=user).exists():
            raise forms.ValidationError(ALREADY_MEMBER.format(username=username))
        self.user = user
        return username

    def save(self) -> Membership:
        data = self.cleaned_data
        return membership_set(
            project=self.project, user=self.user,
            annotator=data["annotator"], reviewer=data["reviewer"], admin=data["admin"],
        )


class MemberRolesForm(RolesForm):
    """Change one member's roles; the owner keeps the admin role."""

    def __init__(self, *args, membership: Membership, **kwargs):
        kwargs.setdefault("initial", {
            "annotator": membership.is_annotator, "reviewer": membership.is_reviewer, "admin": membership.is_admin,
        })
        kwargs.setdefault("prefix", f"m{membership.pk}")
        super().__init__(*args, **kwargs)
        self.membership = membership

    def clean(self):
        data = super().clean()
        if _is_owner(self.membership) and not data.get("admin"):
            raise forms.ValidationError(OWNER_STAYS_ADMIN.format(username=self.membership.user.get_username()))
        return data

    def save(self) -> Membership:
        data = self.cleaned_data
        return membership_set(
            project=self.membership.project, user=self.membership.user,
            annotator=data["annotator"], reviewer=data["reviewer"], admin=data["admin"],
        )


class MemberRemoveForm(forms.Form):
    """Remove a member. Their masks stay: Mask.author is kept, only the membership goes."""

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.membership = membership

    def clean(self):
        if _is_owner(self.membership):
            raise forms.ValidationError(OWNER_STAYS_ADMIN.format(username=self.membership.user.get_username()))
        return super().clean()

    @transaction.atomic
    def save(self) -> None:
        Membership.objects.filter(pk=self.membership.pk).delete()


def _is_owner(membership: Membership) -> bool:
    return membership.user_id == membership.project.owner_id
