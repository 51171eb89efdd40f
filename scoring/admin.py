from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from scoring.models import (
    ActivityType,
    ActivityWeight,
    Bucket,
    FitCriterion,
    Persona,
    PersonaRule,
    PersonaWeight,
    RoutingCell,
    ScoreBand,
    ScoringMatrix,
)


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "description"]
    search_fields = ["key", "name"]


@admin.register(ScoringMatrix)
class ScoringMatrixAdmin(SimpleHistoryAdmin):
    list_display = ["version", "name", "status", "created_by", "published_at"]
    list_filter = ["status"]
    readonly_fields = ["created_at", "published_at", "retired_at"]


@admin.register(FitCriterion)
class FitCriterionAdmin(SimpleHistoryAdmin):
    list_display = ["matrix", "label", "field", "operator", "value", "points"]
    list_filter = ["matrix"]


@admin.register(ActivityWeight)
class ActivityWeightAdmin(SimpleHistoryAdmin):
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
class BucketAdmin(SimpleHistoryAdmin):
    list_display = ["matrix", "rank", "key", "name", "sla_hours", "priority", "in_queue"]
    list_filter = ["matrix"]


for model in (Persona, PersonaRule, PersonaWeight, ScoreBand, RoutingCell):
    admin.site.register(model, SimpleHistoryAdmin)
