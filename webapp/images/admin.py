"""Django admin for images and masks. Kept light for projects of 100,000 images: no file
columns in the lists, related rows by id, no full-count query on filtered lists."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from webapp.images.models import Image, Mask


class MaskInline(admin.TabularInline):
    model = Mask
    extra = 0
    fields = ("version", "source", "is_conflict", "author", "based_on_version", "created_at")
    readonly_fields = fields
    can_delete = False  # no human label is ever lost; versions are history
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "project", "status", "width", "height", "is_validation", "created_at"]
    list_filter = ["project", "status", "is_validation"]
    search_fields = ["original_name", "checksum"]
    list_select_related = ["project"]
    raw_id_fields = ["current_mask", "uploaded_by"]
    readonly_fields = [
        "preview",
        "project",
        "file",
        "thumbnail",
        "checksum",
        "size_bytes",
        "width",
        "height",
        "created_at",
    ]
    show_full_result_count = False
    inlines = [MaskInline]

    def has_add_permission(self, request):
        return False  # images come in through the upload page or `import_images`, which check them

    @admin.display(description="Thumbnail")
    def preview(self, obj: Image):
        url = reverse("images:thumbnail", args=[obj.project_id, obj.pk])
        return format_html('<img src="{}" alt="" style="max-width: 256px">', url)


@admin.register(Mask)
class MaskAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "version", "source", "is_conflict", "author", "created_at"]
    list_filter = ["source", "is_conflict", "image__project"]
    list_select_related = ["image", "author"]
    raw_id_fields = ["image", "author", "model_version"]
    readonly_fields = ["image", "version", "file", "source", "based_on_version", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # masks are saved through mask_save, which validates them
