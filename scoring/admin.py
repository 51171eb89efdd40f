"""The admin: matrix rows with their full history, which nobody can edit, revert or delete here."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from scoring.models import (
    ActivityType,
    ActivityWeight,
    Approval,
    Bucket,
    FitCriterion,
    ImpactPreview,
    Persona,
    PersonaRule,
    PersonaWeight,
    Proposal,
    ProposalComment,
    Publication,
    RoutingCell,
    ScoreBand,
    ScoringMatrix,
)


class AuditedAdmin(SimpleHistoryAdmin):
    """History pages show every change with its old and new values; history is read-only.

    Reverting from a history page would change a row without the draft's compare-and-set, and a
    published version must never change, so the history form only ever shows, never saves. Rows of
    a published (or retired) version cannot be changed or deleted here either.
    """

    history_list_display = ["history_change_reason"]

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("The history is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def _published(self, obj) -> bool:
        if obj is None:
            return False
        if isinstance(obj, ScoringMatrix):
            return obj.status != ScoringMatrix.Status.DRAFT
        if isinstance(obj, PersonaRule):
            return obj.persona.matrix.status != ScoringMatrix.Status.DRAFT
        if isinstance(obj, PersonaWeight):
            return obj.weight.matrix.status != ScoringMatrix.Status.DRAFT
        return obj.matrix.status != ScoringMatrix.Status.DRAFT

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not self._published(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not self._published(obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: visible to the admin, never written through it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "description"]
    search_fields = ["key", "name"]


@admin.register(ScoringMatrix)
class ScoringMatrixAdmin(AuditedAdmin):
    list_display = ["version", "name", "status", "created_by", "published_at"]
    list_filter = ["status"]
    readonly_fields = ["created_at", "published_at", "retired_at"]


@admin.register(FitCriterion)
class FitCriterionAdmin(AuditedAdmin):
    list_display = ["matrix", "label", "field", "operator", "value", "points"]
    list_filter = ["matrix"]


@admin.register(ActivityWeight)
class ActivityWeightAdmin(AuditedAdmin):
    list_display = [
        "matrix",
        "activity_type",
        "points",
        "half_life_days",
        "cap",
        "floor_bucket",
        "ceiling_bucket",
    ]
    list_filter = ["matrix"]


@admin.register(Bucket)
class BucketAdmin(AuditedAdmin):
    list_display = ["matrix", "rank", "key", "name", "sla_hours", "priority", "in_queue"]
    list_filter = ["matrix"]


for model in (Persona, PersonaRule, PersonaWeight, ScoreBand, RoutingCell):
    admin.site.register(model, AuditedAdmin)


@admin.register(Proposal)
class ProposalAdmin(AuditedAdmin, ReadOnlyAdmin):
    list_display = ["pk", "matrix", "status", "proposed_by", "proposed_at", "closed_at"]
    list_filter = ["status"]

    def _published(self, obj) -> bool:
        return True


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "role", "by", "at"]


@admin.register(ProposalComment)
class ProposalCommentAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "kind", "by", "at"]


@admin.register(Publication)
class PublicationAdmin(ReadOnlyAdmin):
    list_display = ["matrix", "previous", "by", "at"]


@admin.register(ImpactPreview)
class ImpactPreviewAdmin(ReadOnlyAdmin):
    list_display = ["matrix", "status", "scored_at", "created_at"]


class HistoryRecordAdmin(ReadOnlyAdmin):
    """A model's history table, browsable on its own: who changed what, when and why."""

    list_display = ["__str__", "history_type", "history_user", "history_date", "history_change_reason"]
    list_filter = ["history_type"]
    date_hierarchy = "history_date"


for model in (
    ScoringMatrix,
    FitCriterion,
    Persona,
    PersonaRule,
    Bucket,
    ScoreBand,
    RoutingCell,
    ActivityWeight,
    PersonaWeight,
    Proposal,
):
    admin.site.register(model.history.model, HistoryRecordAdmin)
