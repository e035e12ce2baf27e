"""Django admin for projects, with their classes and members inline.

Other apps add their project actions to ProjectAdmin.actions from their own admin.py, e.g.
training: `ProjectAdmin.actions.append(retrain)`.
"""

from django.contrib import admin

from webapp.projects.models import LabelClass, Membership, Project


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    extra = 0
    fields = ["index", "name", "color", "is_ignore"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "is_annotator", "is_reviewer", "is_admin"]
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "review_threshold", "created_at"]
    search_fields = ["name", "description"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at"]
    inlines = [LabelClassInline, MembershipInline]
    # A list, so that other apps' admin modules can append their actions (see module docstring).
    actions: list = []
