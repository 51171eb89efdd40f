"""Report selectors: whether scoring works, computed in SQL (aggregates, never a loop over leads).

Every selector takes the same `ReportFilters` and returns small plain rows for a table, a chart and a
CSV export. Outcomes are read with `lead_id IN (SELECT …)` subqueries, which PostgreSQL runs as one
hashed set per query instead of a lookup per lead, so a report stays one scan of the leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models import CharField as CharFieldType
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from feedback.models import Disposition
from leads.models import Lead
from scoring.engine import GRADES
from scoring.models import ScoringMatrix

Outcome = Disposition.Outcome
REJECTED = (Outcome.DISQUALIFIED, Outcome.NURTURE)


class Percentile(Aggregate):
    """percentile_cont on PostgreSQL; on SQLite the `lm_percentile` aggregate registered by the app."""

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), output_field=DurationField(), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            function="lm_percentile",
            template="%(function)s(%(expressions)s, %(fraction)s)",
            **extra_context,
        )


class SQLitePercentile:
    """The SQLite fallback of `Percentile`: linear interpolation between ranks, as percentile_cont does."""

    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction) -> None:
        if value is not None:
            self.values.append(value)
        self.fraction = fraction

    def finalize(self):
        return percentile_cont(sorted(self.values), self.fraction)


def percentile_cont(ordered: list[float], fraction: float) -> float | None:
    """The value at `fraction` of an ordered list, interpolated (None for an empty list)."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilters:
    """What every report may be narrowed by; dates are whole local days, both ends included."""

    start: date
    end: date
    source: str = ""
    industry: str = ""
    grade: str = ""
    version: int | None = None
    period: str = "week"

    @property
    def since(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def as_params(self) -> dict[str, str]:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat(), "period": self.period}
        for name in ("source", "industry", "grade"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        if self.version:
            params["version"] = str(self.version)
        return params


def default_filters(*, today: date | None = None) -> ReportFilters:
    """The last 90 days."""
    today = today or timezone.localdate()
    return ReportFilters(start=today - timedelta(days=89), end=today)


def _leads(filters: ReportFilters) -> QuerySet[Lead]:
    """Leads narrowed by source, industry, grade and the version that scored them (not by date)."""
    leads = Lead.objects.order_by()
    if filters.source:
        leads = leads.filter(source__iexact=filters.source)
    if filters.industry:
        leads = leads.filter(industry__iexact=filters.industry)
    if filters.grade:
        leads = leads.filter(grade=filters.grade)
    if filters.version:
        leads = leads.filter(scored_version__version=filters.version)
    return leads


def _with_outcome(*outcomes: str) -> QuerySet:
    return Disposition.objects.filter(outcome__in=outcomes).values("lead_id")


def converted_ids() -> QuerySet:
    """Lead ids that reached opportunity or won (a subquery)."""
    return _with_outcome(*Disposition.CONVERTED)


def filter_choices() -> dict[str, list]:
    """The values the filter selects offer: sources, industries, versions."""
    return {
        "sources": list(
            Lead.objects.exclude(source="")
            .order_by("source")
            .values_list("source", flat=True)
            .distinct()[:200]
        ),
        "industries": list(
            Lead.objects.exclude(industry="")
            .order_by("industry")
            .values_list("industry", flat=True)
            .distinct()[:200]
        ),
        "versions": list(
            ScoringMatrix.objects.exclude(status=ScoringMatrix.Status.DRAFT).values_list("version", flat=True)
        ),
        "grades": list(GRADES),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- the matrix in numbers -----------------------------------------------------------------------


@dataclass
class GridCell:
    grade: str
    band: str
    bucket: str
    bucket_name: str
    leads: int = 0
    reached: int = 0
    converted: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.converted, self.reached)


@dataclass
class MatrixNumbers:
    matrix: ScoringMatrix
    bands: list
    rows: list[tuple[str, list[GridCell]]]
    grades: dict[str, int]
    buckets: list[tuple[str, str, int]]
    total: int
    cells: list[GridCell] = field(default_factory=list)


def _band_of_score(bands) -> Case:
    return Case(
        *[
            When(score__gte=b.low, then=Value(b.key)) if b.high is None
            else When(score__gte=b.low, score__lte=b.high, then=Value(b.key))
            for b in bands
        ],
        default=Value(""),
        output_field=CharFieldType(),
    )  # fmt: skip


def matrix_numbers(*, filters: ReportFilters) -> MatrixNumbers:
    """The grade × band grid: leads, how many reached sales and how many of those converted."""
    matrix = _report_matrix(filters)
    bands = list(matrix.bands.order_by("low"))
    buckets = {b.pk: b for b in matrix.buckets.all()}
    grid = {(c.grade, c.band_id): buckets[c.bucket_id] for c in matrix.cells.all()}
    leads = _leads(filters).filter(created_at__gte=filters.since, created_at__lt=filters.until)
    counts = {
        (row["grade"], row["band"]): row
        for row in leads.annotate(band=_band_of_score(bands))
        .values("grade", "band")
        .annotate(
            leads=Count("id"),
            reached=Count("id", filter=Q(queue_entered_at__isnull=False)),
            converted=Count("id", filter=Q(queue_entered_at__isnull=False, id__in=converted_ids())),
        )
    }
    rows, cells = [], []
    for grade in GRADES:
        row = []
        for band in bands:
            bucket = grid.get((grade, band.pk))
            found = counts.get((grade, band.key), {})
            cell = GridCell(
                grade,
                band.label,
                bucket.key if bucket else "",
                bucket.name if bucket else "",
                found.get("leads", 0),
                found.get("reached", 0),
                found.get("converted", 0),
            )
            row.append(cell)
            cells.append(cell)
        rows.append((grade, row))
    grades = {grade: sum(c.leads for c in row) for grade, row in rows}
    names = {b.key: b.name for b in buckets.values()}
    per_bucket = leads.values("bucket").annotate(n=Count("id")).order_by("-n")
    return MatrixNumbers(
        matrix=matrix,
        bands=bands,
        rows=rows,
        grades=grades,
        buckets=[
            (row["bucket"], names.get(row["bucket"], row["bucket"] or "unscored"), row["n"])
            for row in per_bucket
        ],
        total=sum(grades.values()),
        cells=cells,
    )


def _report_matrix(filters: ReportFilters) -> ScoringMatrix:
    if filters.version:
        found = ScoringMatrix.objects.filter(version=filters.version).first()
        if found:
            return found
    return ScoringMatrix.objects.active()


def lead_rows(*, filters: ReportFilters):
    """Every lead of the grid as a row, streamed from the database in chunks (for the CSV export)."""
    matrix = _report_matrix(filters)
    bands = list(matrix.bands.order_by("low"))
    leads = (
        _leads(filters)
        .filter(created_at__gte=filters.since, created_at__lt=filters.until)
        .annotate(band=_band_of_score(bands))
        .order_by("id")
        .values_list(
            "id", "email", "source", "industry", "grade", "score", "band", "bucket", "queue_entered_at"
        )
    )
    converted = set()  # ids are checked per chunk below, so memory stays bounded
    chunk: list[tuple] = []
    for row in leads.iterator(chunk_size=5000):
        chunk.append(row)
        if len(chunk) == 5000:
            yield from _lead_chunk(chunk, converted)
            chunk = []
    yield from _lead_chunk(chunk, converted)


def _lead_chunk(chunk: list[tuple], converted: set) -> list[tuple]:
    if not chunk:
        return []
    ids = [row[0] for row in chunk]
    won = set(
        Disposition.objects.filter(lead_id__in=ids, outcome__in=Disposition.CONVERTED).values_list(
            "lead_id", flat=True
        )
    )
    return [(*row[:8], "yes" if row[8] else "no", "yes" if row[0] in won else "no") for row in chunk]


LEAD_EXPORT_HEADER = [
    "lead id",
    "email",
    "source",
    "industry",
    "grade",
    "score",
    "band",
    "bucket",
    "reached sales",
    "converted",
]


# --- funnel --------------------------------------------------------------------------------------

STAGES = [
    ("new", "New"),
    ("mql", "MQL"),
    ("accepted", "Accepted by sales"),
    ("opportunity", "Opportunity"),
    ("won", "Won"),
]


@dataclass
class FunnelRow:
    period: date
    counts: dict[str, int]

    @property
    def steps(self) -> list[tuple[str, int, float | None]]:
        """(stage, count, conversion from the previous stage in %)."""
        result, previous = [], None
        for key, _ in STAGES:
            n = self.counts.get(key, 0)
            result.append((key, n, None if previous is None else _rate(n, previous)))
            previous = n
        return result


def funnel(*, filters: ReportFilters) -> list[FunnelRow]:
    """Leads created per week or month (cohorts) and how far each cohort got, stage by stage."""
    trunc = TruncMonth if filters.period == "month" else TruncWeek
    rows = (
        _leads(filters)
        .filter(created_at__gte=filters.since, created_at__lt=filters.until)
        .annotate(period=trunc("created_at"))
        .values("period")
        .annotate(
            new=Count("id"),
            mql=Count("id", filter=Q(queue_entered_at__isnull=False)),
            accepted=Count("id", filter=Q(id__in=_with_outcome(*Disposition.CONTACT))),
            opportunity=Count("id", filter=Q(id__in=converted_ids())),
            won=Count("id", filter=Q(id__in=_with_outcome(Outcome.WON))),
        )
        .order_by("period")
    )
    result = []
    for row in rows:
        period = row.pop("period")
        result.append(FunnelRow(period.date() if isinstance(period, datetime) else period, row))
    return result


def funnel_totals(rows: list[FunnelRow]) -> FunnelRow | None:
    """The whole range as one row."""
    if not rows:
        return None
    return FunnelRow(rows[0].period, {key: sum(r.counts.get(key, 0) for r in rows) for key, _ in STAGES})


# --- speed of follow-up --------------------------------------------------------------------------


def _wait() -> ExpressionWrapper:
    return ExpressionWrapper(F("first_contact_at") - F("queue_entered_at"), output_field=DurationField())


def _speed_figures() -> dict:
    return {
        "contacted": Count("id", filter=Q(first_contact_at__isnull=False)),
        "median": Percentile("wait", 0.5),
        "p90": Percentile("wait", 0.9),
        "within_sla": Count("id", filter=Q(sla_met=True)),
        "measured": Count("id", filter=Q(sla_met__isnull=False)),
    }


def speed(*, filters: ReportFilters) -> dict:
    """Time from entering the queue to first contact (median, 90th percentile), SLA kept, per bucket and rep."""
    entered = (
        _leads(filters)
        .filter(queue_entered_at__gte=filters.since, queue_entered_at__lt=filters.until)
        .annotate(wait=_wait())
    )
    overall = entered.aggregate(entered=Count("id"), **_speed_figures())
    names = dict(_report_matrix(filters).buckets.values_list("key", "name"))
    by_bucket = [
        {**row, "name": names.get(row["bucket"], row["bucket"]), "sla_rate": _rate(row["within_sla"], row["measured"])}
        for row in entered.values("bucket").annotate(entered=Count("id"), **_speed_figures()).order_by("bucket")
    ]  # fmt: skip
    by_rep = [
        {
            **row,
            "name": " ".join(filter(None, [row["owner__first_name"], row["owner__last_name"]]))
            or row["owner__username"]
            or "Unassigned",
            "sla_rate": _rate(row["within_sla"], row["measured"]),
        }
        for row in entered.values("owner__username", "owner__first_name", "owner__last_name")
        .annotate(entered=Count("id"), **_speed_figures())
        .order_by("owner__username")
    ]
    closing = Disposition.objects.filter(
        outcome__in=[Outcome.WON, Outcome.LOST],
        at__gte=filters.since,
        at__lt=filters.until,
        lead__queue_entered_at__isnull=False,
        lead__in=_leads(filters),
    ).annotate(wait=ExpressionWrapper(F("at") - F("lead__queue_entered_at"), output_field=DurationField()))
    to_close = [
        {"outcome": row["outcome"], "closed": row["closed"], "median": row["median"], "p90": row["p90"]}
        for row in closing.values("outcome")
        .annotate(closed=Count("id"), median=Percentile("wait", 0.5), p90=Percentile("wait", 0.9))
        .order_by("outcome")
    ]
    overall["sla_rate"] = _rate(overall["within_sla"], overall["measured"])
    for row in [overall, *by_bucket, *by_rep, *to_close]:
        row["median_h"], row["p90_h"] = hours(row["median"]), hours(row["p90"])
    return {"overall": overall, "by_bucket": by_bucket, "by_rep": by_rep, "to_close": to_close}


def hours(value: timedelta | None) -> float | None:
    """A duration in hours, one decimal (None stays None)."""
    return None if value is None else round(value.total_seconds() / 3600, 1)


# --- why leads are rejected ----------------------------------------------------------------------


def rejections(*, filters: ReportFilters) -> dict:
    """Disqualification and nurture reasons, ranked, and broken down by source and by bucket."""
    rejected = Disposition.objects.filter(
        outcome__in=REJECTED, at__gte=filters.since, at__lt=filters.until, lead__in=_leads(filters)
    ).order_by()
    ranked = list(
        rejected.values("reason__label")
        .annotate(
            total=Count("id"),
            disqualified=Count("id", filter=Q(outcome=Outcome.DISQUALIFIED)),
            nurtured=Count("id", filter=Q(outcome=Outcome.NURTURE)),
        )
        .order_by("-total", "reason__label")
    )
    total = sum(row["total"] for row in ranked)
    for row in ranked:
        row["reason"] = row.pop("reason__label") or "(no reason)"
        row["share"] = _rate(row["total"], total)
    return {
        "ranked": ranked,
        "total": total,
        "by_source": _pivot(rejected, "lead__source", [r["reason"] for r in ranked]),
        "by_bucket": _pivot(rejected, "lead__bucket", [r["reason"] for r in ranked]),
    }


def _pivot(rejected: QuerySet, column: str, reasons: list[str]) -> dict:
    """Reason × column counts as {"columns": [...], "rows": [(reason, [n, ...], total)]}."""
    cells: dict[tuple[str, str], int] = {}
    columns: list[str] = []
    for row in rejected.values("reason__label", column).annotate(n=Count("id")).order_by(column):
        key = row[column] or "(none)"
        if key not in columns:
            columns.append(key)
        cells[(row["reason__label"] or "(no reason)", key)] = row["n"]
    rows = [(reason, [cells.get((reason, c), 0) for c in columns]) for reason in reasons]
    return {"columns": columns, "rows": [(reason, counts, sum(counts)) for reason, counts in rows]}
