"""The daily snapshot, and the before/after comparison of a publication read off the snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from feedback.models import DailySnapshot, Disposition
from feedback.reports import Percentile
from leads.models import Lead, Transition
from scoring.diff import diff_versions
from scoring.engine import GRADES
from scoring.models import Publication, ScoringMatrix

Outcome = Disposition.Outcome


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def matrix_active_on(day: date) -> ScoringMatrix:
    """The version that was live at the end of the day (the active one for days before any record)."""
    _, end = _day_bounds(day)
    found = (
        ScoringMatrix.objects.filter(published_at__lt=end)
        .exclude(status=ScoringMatrix.Status.DRAFT)
        .order_by("-published_at")
        .first()
    )
    return found or ScoringMatrix.objects.active()


def take_snapshot(*, day: date | None = None, now: datetime | None = None) -> DailySnapshot:
    """Store (or refresh) the figures of one day for the version live that day.

    Flows (entered the queue, first contacts, opportunities, wins) are counted from the dated rows of
    that day. Stocks (queue size, grades, buckets) are today's lead fields when the day is today; for a
    past day (a backfill) they are each lead's last transition up to the day's end.
    """
    now = now or timezone.now()
    day = day or timezone.localdate(now)
    start, end = _day_bounds(day)
    matrix = matrix_active_on(day)
    dispositions = Disposition.objects.order_by()
    flows = {
        "mqls": Lead.objects.filter(queue_entered_at__gte=start, queue_entered_at__lt=end).count(),
        "accepted": Lead.objects.filter(first_contact_at__gte=start, first_contact_at__lt=end).count(),
        **dispositions.filter(at__gte=start, at__lt=end).aggregate(
            opportunities=Count("lead_id", filter=Q(outcome=Outcome.OPPORTUNITY), distinct=True),
            won=Count("lead_id", filter=Q(outcome=Outcome.WON), distinct=True),
            won_value=Sum("amount", filter=Q(outcome=Outcome.WON), default=Decimal(0)),
        ),
    }
    closed = dispositions.filter(outcome__in=[Outcome.WON, Outcome.LOST], at__lt=end).values("lead_id")
    pipeline = (
        dispositions.filter(outcome=Outcome.OPPORTUNITY, at__lt=end)
        .exclude(lead_id__in=closed)
        .values("lead_id")
        .annotate(amount=Max("amount"))
        .aggregate(total=Sum("amount", default=Decimal(0)))["total"]
    )
    to_close = (
        dispositions.filter(
            outcome=Outcome.WON,
            at__gte=end - timedelta(days=30),
            at__lt=end,
            lead__queue_entered_at__isnull=False,
        )
        .annotate(wait=ExpressionWrapper(F("at") - F("lead__queue_entered_at"), output_field=DurationField()))
        .aggregate(median=Percentile("wait", 0.5))["median"]
    )
    stocks = _stocks_now() if day >= timezone.localdate(now) else _stocks_as_of(end)
    values = {
        **flows,
        **stocks,
        "pipeline_value": pipeline,
        "days_to_close": None if to_close is None else round(to_close.total_seconds() / 86400, 1),
        "taken_at": now,
    }
    with transaction.atomic():
        snapshot, _ = DailySnapshot.objects.update_or_create(day=day, matrix=matrix, defaults=values)
    return snapshot


def _stocks_now() -> dict:
    leads = Lead.objects.order_by()
    return {
        "queue_size": leads.filter(in_queue=True).count(),
        "grade_counts": dict(leads.values_list("grade").annotate(n=Count("id"))),
        "bucket_counts": dict(leads.exclude(bucket="").values_list("bucket").annotate(n=Count("id"))),
    }


def _stocks_as_of(end: datetime) -> dict:
    last = Transition.objects.filter(lead=OuterRef("pk"), at__lt=end).order_by("-at", "-id")
    leads = (
        Lead.objects.order_by()
        .annotate(
            was_bucket=Subquery(last.values("to_bucket")[:1]),
            was_grade=Subquery(last.values("grade")[:1]),
            was_queued=Subquery(last.values("in_queue")[:1]),
        )
        .filter(was_bucket__isnull=False)
    )
    return {
        "queue_size": leads.filter(was_queued=True).count(),
        "grade_counts": dict(leads.values_list("was_grade").annotate(n=Count("id"))),
        "bucket_counts": dict(leads.values_list("was_bucket").annotate(n=Count("id"))),
    }


def backfill_snapshots(*, days: int, now: datetime | None = None) -> int:
    """Snapshots for the last `days` days up to today (existing ones are refreshed)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    for back in range(days - 1, -1, -1):
        take_snapshot(day=today - timedelta(days=back), now=now)
    return days


# --- before and after a publication --------------------------------------------------------------

FLOW_METRICS = [
    ("mqls", "MQLs per day"),
    ("accepted", "Accepted by sales per day"),
    ("opportunities", "Opportunities per day"),
    ("won", "Won per day"),
    ("won_value", "Won value per day"),
]
STOCK_METRICS = [
    ("queue_size", "Queue size"),
    ("pipeline_value", "Open pipeline value"),
    ("days_to_close", "Days from queue to won (median)"),
]


@dataclass
class Comparison:
    publication: Publication
    days: int
    before: list[DailySnapshot]
    after: list[DailySnapshot]
    rows: list[dict]
    changes: list

    @property
    def empty(self) -> bool:
        return not self.before and not self.after


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 1) if values else None


def compare_publication(*, publication: Publication, days: int) -> Comparison:
    """Per-day means of every figure in the `days` before a publication and the `days` after it."""
    day = timezone.localdate(publication.at)
    snapshots = DailySnapshot.objects.filter(
        day__gte=day - timedelta(days=days), day__lt=day + timedelta(days=days)
    )
    before = [s for s in snapshots if s.day < day]
    after = [s for s in snapshots if s.day >= day]
    rows = []
    for key, label in FLOW_METRICS + STOCK_METRICS:
        rows.append(_row(key, label, [getattr(s, key) for s in before], [getattr(s, key) for s in after]))
    for grade in GRADES:
        rows.append(
            _row(
                f"grade_{grade}",
                f"Grade {grade} leads",
                [s.grade_counts.get(grade, 0) for s in before],
                [s.grade_counts.get(grade, 0) for s in after],
            )
        )
    changes = diff_versions(publication.previous, publication.matrix) if publication.previous else []
    return Comparison(publication, days, before, after, rows, changes)


def _row(key: str, label: str, before: list, after: list) -> dict:
    mean_before, mean_after = _mean(before), _mean(after)
    change = None
    if mean_before not in (None, 0) and mean_after is not None:
        change = round(100 * (mean_after - mean_before) / mean_before, 1)
    return {"key": key, "label": label, "before": mean_before, "after": mean_after, "change": change}
