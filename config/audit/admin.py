"""The audit trail in the admin: read-only, with the chain's state checked on every visit to the list."""

from django.contrib import admin, messages

from config.audit.chain import verify_chain
from config.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["seq", "at", "actor_name", "action", "object_repr"]
    list_filter = ["action"]
    search_fields = ["actor_name", "action", "object_type", "object_id", "object_repr"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    ordering = ["-seq"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        report = verify_chain()
        if report.intact:
            messages.success(request, f"Chain intact: {report.checked} entries, head {report.head[:16]}…")
        else:
            messages.error(
                request,
                f"Chain broken at entry #{report.broken.seq}: {report.problem}. "
                f"The {report.checked} entries before it are intact.",
            )
        return super().changelist_view(request, extra_context)
