"""Django admin for the review queue."""

from django.contrib import admin

from webapp.review.models import ReviewItem


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "image", "status", "score", "leased_by", "reviewed_by", "reviewed_at"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "image", "leased_by", "reviewed_by"]
    raw_id_fields = ["image", "pseudo_mask", "run", "leased_by", "reviewed_by"]
    readonly_fields = ["score", "mean_confidence", "confident_fraction", "disagreement", "created_at"]
    ordering = ["status", "score", "id"]
    show_full_result_count = False
