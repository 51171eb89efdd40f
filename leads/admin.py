from django.contrib import admin

from leads.models import Activity, Lead, Transition


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "company", "grade", "score", "bucket"]
    list_filter = ["grade", "bucket", "seniority", "source"]
    search_fields = ["email", "first_name", "last_name", "company"]
    readonly_fields = [
        "fit_points",
        "grade",
        "score",
        "bucket",
        "bucket_priority",
        "in_queue",
        "persona",
        "scored_version",
        "scored_at",
        "last_activity_at",
    ]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["lead", "activity_type", "occurred_at", "source"]
    list_filter = ["activity_type", "source"]
    raw_id_fields = ["lead"]


@admin.register(Transition)
class TransitionAdmin(admin.ModelAdmin):
    list_display = ["lead", "from_bucket", "to_bucket", "grade", "score", "cause", "at"]
    list_filter = ["cause", "to_bucket"]
    raw_id_fields = ["lead"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
