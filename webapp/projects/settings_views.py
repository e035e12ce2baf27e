"""The project settings page (admins): classes, review, training, members, and the sections
other apps register (SettingsSection).

One template, projects/settings.html; each section is a named partial and a POST form.
With htmx a POST answers with its section (errors at the fields, 200 so htmx swaps it);
without, a valid POST redirects back to the section and an invalid one renders the page
with the errors in place. Every rule is a service's; the forms check shape.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.middleware import HtmxDetails

from webapp.projects import classes as class_services
from webapp.projects.access import project_get_for_user
from webapp.projects.forms import (
    ClassForm,
    ClassRemoveForm,
    IgnoreClassForm,
    MemberAddForm,
    MemberRolesForm,
    ReviewSettingsForm,
    TrainingSettingsForm,
)
from webapp.projects.models import LabelClass, Membership, Project, Role
from webapp.projects.services import (
    MembershipRefused,
    SettingsRefused,
    membership_add,
    membership_remove,
    membership_update,
    project_training_settings_update,
)
from webapp.review.queue import review_settings_update

PAGE = "projects/settings.html"
SAVED = "Saved."
CLASS_ADDED = "Class {name} added."
CLASS_REMOVED = "Class {name} removed."
MEMBER_ADDED = "{username} was added to the project."
MEMBER_REMOVED = "{username} was removed from the project; their masks stay."


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (for the type checker)."""

    htmx: HtmxDetails


def _admin_project(request: HtmxHttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)


@dataclass(frozen=True)
class SettingsSection:
    """A section another app adds to the page (webhooks, say), registered from its AppConfig.ready:
    its template (one element with id=`name`, swapped by htmx on its own) and its context,
    `context(project=..., bound=...)`, where `bound` is what its views pass to section_response."""

    name: str
    template: str
    context: Callable[..., dict]


SECTIONS: dict[str, SettingsSection] = {}


def settings_section_register(section: SettingsSection) -> None:
    SECTIONS[section.name] = section


def settings_context(*, project: Project, **bound) -> dict:
    """Every section's forms, unbound unless `bound` gives one (the form just posted).

    Bound keys: add, edit (class pk, form), remove (class pk, form), ignore, review,
    training, member_add; plus `saved` (section name), `notice` and `error` (a refusal
    shown in the section, e.g. a member who may not be removed)."""
    edit_pk, edit_form = bound.get("edit", (None, None))
    remove_pk, remove_form = bound.get("remove", (None, None))
    seen = class_services.masks_seen(project=project)
    labels = list(project.label_classes.order_by("index"))
    class_rows = [
        (
            label,
            edit_form
            if label.pk == edit_pk
            else ClassForm(prefix=f"c{label.pk}", initial={"name": label.name, "color": label.color}),
            remove_form
            if label.pk == remove_pk
            else ClassRemoveForm(prefix=f"r{label.pk}", project=project, initial={"masks_seen": seen}),
        )
        for label in labels
    ]
    memberships = project.memberships.select_related("user", "project").order_by("user__username")
    ignore = next((label for label in labels if label.is_ignore), None)
    context = {
        "project": project,
        "class_rows": class_rows,
        "add_form": bound.get("add") or ClassForm(prefix="add", initial={"color": "#1f77b4"}),
        "ignore_form": bound.get("ignore")
        or IgnoreClassForm(project=project, prefix="ignore", initial={"ignore": ignore, "masks_seen": seen}),
        "review_form": bound.get("review") or ReviewSettingsForm.for_project(project),
        "calibrated": bool(project.threshold_calibration),
        "training_form": bound.get("training") or TrainingSettingsForm.for_project(project),
        "rows": [(m, MemberRolesForm(membership=m)) for m in memberships],
        "form": bound.get("member_add") or MemberAddForm(),
        "saved": bound.get("saved"),
        "notice": bound.get("notice", SAVED),
        "error": bound.get("error"),
        "extra_sections": list(SECTIONS.values()),
    }
    for section in SECTIONS.values():
        context.update(section.context(project=project, bound=bound))
    return context


def section_response(
    request: HtmxHttpRequest, project: Project, section: str, *, ok: bool, notice: str = SAVED, **bound
) -> HttpResponse:
    """The section (htmx) or the page; a valid plain POST redirects back to its section."""
    if ok and not request.htmx:
        messages.success(request, notice)
        return redirect(reverse("projects:settings", args=[project.pk]) + f"#{section}")
    if ok:
        bound = {"saved": section, "notice": notice}
    context = settings_context(project=project, **bound)
    if not request.htmx:
        return TemplateResponse(request, PAGE, context)
    extra = SECTIONS.get(section)
    return TemplateResponse(request, extra.template if extra else f"{PAGE}#{section}", context)


@login_required
@require_safe
def project_settings(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    return TemplateResponse(request, PAGE, settings_context(project=project))


# ------------------------------------------------------------------ classes


def _refused(form, error: class_services.ClassChangeRefused) -> None:
    form.add_error(error.field if error.field in form.fields else None, str(error))


@login_required
@require_POST
def class_add(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    form = ClassForm(request.POST, prefix="add")
    ok = form.is_valid()
    if ok:
        try:
            class_services.label_class_add(project=project, user=request.user, **form.cleaned_data)
        except class_services.ClassChangeRefused as error:
            _refused(form, error)
            ok = False
    return section_response(
        request, project, "classes", ok=ok, add=form, notice=CLASS_ADDED.format(name=form.cleaned_data.get("name", ""))
    )


@login_required
@require_POST
def class_update(request: HtmxHttpRequest, project_id: int, class_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    label = get_object_or_404(LabelClass, project=project, pk=class_id)
    form = ClassForm(request.POST, prefix=f"c{label.pk}")
    ok = form.is_valid()
    if ok:
        try:
            class_services.label_class_update(
                project=project, user=request.user, label_class=label, **form.cleaned_data
            )
        except class_services.ClassChangeRefused as error:
            _refused(form, error)
            ok = False
    return section_response(request, project, "classes", ok=ok, edit=(label.pk, form))


@login_required
@require_POST
def class_remove(request: HtmxHttpRequest, project_id: int, class_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    label = get_object_or_404(LabelClass, project=project, pk=class_id)
    form = ClassRemoveForm(request.POST, prefix=f"r{label.pk}", project=project)
    ok = form.is_valid()
    if ok:
        try:
            class_services.label_class_remove(
                project=project, user=request.user, label_class=label, **form.cleaned_data
            )
        except class_services.ClassChangeRefused as error:
            _refused(form, error)
            ok = False
    return section_response(
        request, project, "classes", ok=ok, remove=(label.pk, form), notice=CLASS_REMOVED.format(name=label.name)
    )


@login_required
@require_POST
def class_ignore(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    form = IgnoreClassForm(request.POST, prefix="ignore", project=project)
    ok = form.is_valid()
    if ok:
        data = form.cleaned_data
        try:
            class_services.label_class_ignore_set(
                project=project,
                user=request.user,
                label_class=data["ignore"],
                rewrite_masks=data["rewrite_masks"],
                masks_seen=data["masks_seen"],
            )
        except class_services.ClassChangeRefused as error:
            _refused(form, error)
            ok = False
    return section_response(request, project, "classes", ok=ok, ignore=form)


# ------------------------------------------------------------------ review and training


@login_required
@require_POST
def review_settings(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    form = ReviewSettingsForm(request.POST)
    ok = form.is_valid()
    if ok:
        try:
            review_settings_update(project=project, user=request.user, **form.settings())
        except ValueError as error:  # the model's bounds, which the form's already match
            form.add_error(None, str(error))
            ok = False
    return section_response(request, project, "review", ok=ok, review=form)


@login_required
@require_POST
def training_settings(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    form = TrainingSettingsForm(request.POST)
    ok = form.is_valid()
    if ok:
        try:
            project_training_settings_update(project=project, user=request.user, **form.settings())
        except SettingsRefused as error:
            form.add_error(error.field, str(error))
            ok = False
    return section_response(request, project, "training", ok=ok, training=form)


# ------------------------------------------------------------------ members


@login_required
def project_members(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """GET: the members section of the settings page; POST: add a member."""
    project = _admin_project(request, project_id)
    if request.method != "POST":
        return redirect(reverse("projects:settings", args=[project.pk]) + "#members")
    form = MemberAddForm(request.POST)
    ok = form.is_valid()
    if ok:
        try:
            membership_add(project=project, user=form.user, **form.roles())
        except MembershipRefused as error:
            form.add_error("username", str(error))
            ok = False
    return section_response(
        request,
        project,
        "members",
        ok=ok,
        member_add=form,
        notice=MEMBER_ADDED.format(username=form.cleaned_data.get("username", "")),
    )


def _membership(project: Project, membership_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user", "project"), project=project, pk=membership_id)


@login_required
@require_POST
def member_update(request: HtmxHttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    membership = _membership(project, membership_id)
    form = MemberRolesForm(request.POST, membership=membership)
    saved = form.is_valid()
    if saved:
        try:
            membership = membership_update(membership=membership, **form.roles())
        except MembershipRefused as error:
            form.add_error(None, str(error))
            saved = False
        else:
            form = MemberRolesForm(membership=membership)
    if not request.htmx:  # a plain form post: back to the page, with the outcome as a message
        if saved:
            messages.success(request, SAVED)
        else:
            messages.error(request, " ".join(str(error) for error in form.non_field_errors()))
        return redirect(reverse("projects:settings", args=[project.pk]) + "#members")
    # The row is swapped in place either way (htmx does not swap 4xx answers), errors inside it.
    context = {"project": project, "membership": membership, "roles_form": form, "saved": saved}
    return TemplateResponse(request, f"{PAGE}#member-row", context)


@login_required
@require_POST
def member_remove(request: HtmxHttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    membership = _membership(project, membership_id)
    try:
        membership_remove(membership=membership)
    except MembershipRefused as error:
        if request.htmx:
            return section_response(request, project, "members", ok=False, error=str(error))
        messages.error(request, str(error))
        return redirect(reverse("projects:settings", args=[project.pk]) + "#members")
    notice = MEMBER_REMOVED.format(username=membership.user.get_username())
    return section_response(request, project, "members", ok=True, notice=notice)
