"""Report selectors: whether scoring works, computed in SQL (aggregates, never a loop over leads).

Every selector takes the same `ReportFilters` and returns small plain rows for a table, a chart and a
CSV export. Outcomes are read with `lead_id IN (SELECT …)` subqueries, which PostgreSQL runs as one
hashed set per query instead of a lookup per lead, so a report stays one scan of the leads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection, transaction
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


@contextmanager
def report_queries() -> Iterator[None]:
    """Run a report's queries with room for their `IN (SELECT …)` sets in memory (PostgreSQL).

    PostgreSQL hashes such a subquery once only if the hash fits in work_mem (4 MB by default, about
    100,000 ids); beyond that it rescans the subquery for every lead, and a report at a million leads
    takes minutes instead of a second. SET LOCAL keeps the larger setting to this transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
        yield


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


def _lead_q(filters: ReportFilters, prefix: str = "") -> Q:
    """The lead filters as a condition, on the lead itself or through a relation (`lead__`)."""
    q = Q()
    if filters.source:
        q &= Q(**{f"{prefix}source__iexact": filters.source})
    if filters.industry:
        q &= Q(**{f"{prefix}industry__iexact": filters.industry})
    if filters.grade:
        q &= Q(**{f"{prefix}grade": filters.grade})
    if filters.version:
        q &= Q(**{f"{prefix}scored_version__version": filters.version})
    return q


def _leads(filters: ReportFilters) -> QuerySet[Lead]:
    """Leads narrowed by source, industry, grade and the version that scored them (not by date)."""
    return Lead.objects.order_by().filter(_lead_q(filters))


def _with_outcome(*outcomes: str) -> QuerySet:
    return Disposition.objects.filter(outcome__in=outcomes).values("lead_id")


def converted_ids() -> QuerySet:
    """Lead ids that reached opportunity or won (a subquery)."""
    return _with_outcome(*Disposition.CONVERTED)


def filter_choices() -> dict[str, list]:
    """The values the filter selects offer: sources, industries, versions (cached for ten minutes).

    Finding the distinct sources and industries reads every lead; they change seldom, so a cached
    list keeps that scan off every report page.
    """
    choices = cache.get("reports:filter-choices")
    if choices is None:
        choices = _filter_choices()
        cache.set("reports:filter-choices", choices, 600)
    return choices


def _filter_choices() -> dict[str, list]:
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
    # One scan: per (grade, band, bucket); the grid sums over buckets, the bucket counts over cells.
    with report_queries():
        found_rows = list(
            leads.annotate(band=_band_of_score(bands))
            .values("grade", "band", "bucket")
            .annotate(
                leads=Count("id"),
                reached=Count("id", filter=Q(queue_entered_at__isnull=False)),
                converted=Count("id", filter=Q(queue_entered_at__isnull=False, id__in=converted_ids())),
            )
        )
    counts: dict[tuple[str, str], dict[str, int]] = {}
    per_bucket: dict[str, int] = {}
    for row in found_rows:
        cell = counts.setdefault((row["grade"], row["band"]), {"leads": 0, "reached": 0, "converted": 0})
        for key in cell:
            cell[key] += row[key]
        per_bucket[row["bucket"]] = per_bucket.get(row["bucket"], 0) + row["leads"]
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
    return MatrixNumbers(
        matrix=matrix,
        bands=bands,
        rows=rows,
        grades=grades,
        buckets=[
            (key, names.get(key, key or "unscored"), n)
            for key, n in sorted(per_bucket.items(), key=lambda item: -item[1])
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
    chunk: list[tuple] = []
    for row in leads.iterator(chunk_size=5000):
        chunk.append(row)
        if len(chunk) == 5000:
            yield from _lead_chunk(chunk)
            chunk = []
    yield from _lead_chunk(chunk)


def _lead_chunk(chunk: list[tuple]) -> list[tuple]:
    """The chunk's rows with whether each lead converted (one query per chunk, so memory stays flat)."""
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
            # Sales reached the lead: a first contact (which every contact outcome records), or a
            # converted outcome imported without one.
            accepted=Count("id", filter=Q(first_contact_at__isnull=False) | Q(id__in=converted_ids())),
            opportunity=Count("id", filter=Q(id__in=converted_ids())),
            won=Count("id", filter=Q(id__in=_with_outcome(Outcome.WON))),
        )
        .order_by("period")
    )
    with report_queries():
        rows = list(rows)
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
    with report_queries():
        return _speed(filters, entered)


def _speed(filters: ReportFilters, entered: QuerySet) -> dict:
    groups = _speed_groups_pg(entered) if connection.vendor == "postgresql" else _speed_groups(entered)
    overall = groups.get(("all", None), dict.fromkeys(SPEED_COLUMNS, 0) | {"median": None, "p90": None})
    names = dict(_report_matrix(filters).buckets.values_list("key", "name"))
    owners = [key for kind, key in groups if kind == "owner" and key is not None]
    people = {u.pk: u.get_full_name() or u.username for u in User.objects.filter(pk__in=owners)}
    by_bucket = [
        {**row, "bucket": key, "name": names.get(key, key), "sla_rate": _rate(row["within_sla"], row["measured"])}
        for (kind, key), row in sorted(groups.items(), key=lambda item: (item[0][0], str(item[0][1]))) if kind == "bucket"
    ]  # fmt: skip
    by_rep = [
        {**row, "name": people.get(key, "Unassigned"), "sla_rate": _rate(row["within_sla"], row["measured"])}
        for (kind, key), row in sorted(groups.items(), key=lambda item: (item[0][0], str(item[0][1]))) if kind == "owner"
    ]  # fmt: skip
    closing = Disposition.objects.filter(
        _lead_q(filters, "lead__"),
        outcome__in=[Outcome.WON, Outcome.LOST],
        at__gte=filters.since,
        at__lt=filters.until,
        lead__queue_entered_at__isnull=False,
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


SPEED_COLUMNS = ["entered", "contacted", "median", "p90", "within_sla", "measured"]


def _speed_groups(entered: QuerySet) -> dict[tuple[str, object], dict]:
    """Speed figures for all, per bucket and per owner: three grouped queries (SQLite)."""
    groups = {}
    if entered.exists():
        groups[("all", None)] = entered.aggregate(entered=Count("id"), **_speed_figures())
    for kind, column in (("bucket", "bucket"), ("owner", "owner_id")):
        for row in entered.values(column).annotate(entered=Count("id"), **_speed_figures()).order_by(column):
            groups[(kind, row.pop(column))] = row
    return groups


def _speed_groups_pg(entered: QuerySet) -> dict[tuple[str, object], dict]:
    """The same figures from one hashed GROUP BY of the queue leads, waits counted to the minute (PostgreSQL).

    Percentiles need the waits in order; sorting every queue lead once per group was the slowest part
    of this page at a million leads. Counting leads per (bucket, owner, minute of wait) is one hash
    aggregate, and the percentiles are read off those counts (each minute at its middle).
    """
    base, params = entered.values(
        "id", "bucket", "owner_id", "first_contact_at", "sla_met", "wait"
    ).query.sql_with_params()
    sql = f"""
        SELECT bucket, owner_id, floor(extract(epoch FROM wait) / 60)::bigint,
               count(id), count(first_contact_at), count(id) FILTER (WHERE sla_met), count(sla_met)
        FROM ({base}) AS entered
        GROUP BY 1, 2, 3"""  # fmt: skip
    totals: dict[tuple[str, object], dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, owner_id, minute, n, contacted, within, measured in cursor.fetchall():
            for key in (("all", None), ("bucket", bucket), ("owner", owner_id)):
                total = totals.setdefault(
                    key, {"entered": 0, "contacted": 0, "within_sla": 0, "measured": 0, "minutes": {}}
                )
                total["entered"] += n
                total["contacted"] += contacted
                total["within_sla"] += within
                total["measured"] += measured
                if minute is not None:
                    total["minutes"][minute] = total["minutes"].get(minute, 0) + contacted
    for total in totals.values():
        minutes = total.pop("minutes")
        total["median"] = binned_percentile(minutes, 0.5)
        total["p90"] = binned_percentile(minutes, 0.9)
    return totals


def binned_percentile(counts: dict[int, int], fraction: float) -> timedelta | None:
    """percentile_cont over waits given as {minute: how many}, each minute taken at its middle."""
    total = sum(counts.values())
    if not total:
        return None
    position = fraction * (total - 1)
    low_index = int(position)
    low = high = None
    seen = 0
    for minute in sorted(counts):
        seen += counts[minute]
        if low is None and seen > low_index:
            low = minute
        if seen > low_index + 1 or seen == total:
            high = minute
            break
    value = low + (high - low) * (position - low_index) + 0.5
    return timedelta(minutes=value)


def hours(value: timedelta | None) -> float | None:
    """A duration in hours, one decimal (None stays None)."""
    return None if value is None else round(value.total_seconds() / 3600, 1)


# --- why leads are rejected ----------------------------------------------------------------------


def rejections(*, filters: ReportFilters) -> dict:
    """Disqualification and nurture reasons, ranked, and broken down by source and by bucket."""
    rejected = Disposition.objects.filter(
        _lead_q(filters, "lead__"), outcome__in=REJECTED, at__gte=filters.since, at__lt=filters.until
    ).order_by()
    with report_queries():
        data = _rejections(rejected)
    names = dict(_report_matrix(filters).buckets.values_list("key", "name"))
    data["by_bucket"]["columns"] = [names.get(key, key) for key in data["by_bucket"]["columns"]]
    return data


def _rejections(rejected: QuerySet) -> dict:
    # One grouped read (reason × outcome × source × bucket: a few hundred rows at most); the ranking
    # and the two breakdowns are sums over it.
    rows = list(
        rejected.values("reason__label", "outcome", "lead__source", "lead__bucket").annotate(n=Count("id"))
    )
    ranked_by: dict[str, dict] = {}
    for row in rows:
        reason = row["reason__label"] or "(no reason)"
        entry = ranked_by.setdefault(reason, {"reason": reason, "total": 0, "disqualified": 0, "nurtured": 0})
        entry["total"] += row["n"]
        entry["disqualified" if row["outcome"] == Outcome.DISQUALIFIED else "nurtured"] += row["n"]
    ranked = sorted(ranked_by.values(), key=lambda r: (-r["total"], r["reason"]))
    total = sum(row["total"] for row in ranked)
    for row in ranked:
        row["share"] = _rate(row["total"], total)
    reasons = [r["reason"] for r in ranked]
    return {
        "ranked": ranked,
        "total": total,
        "by_source": _pivot(rows, "lead__source", reasons),
        "by_bucket": _pivot(rows, "lead__bucket", reasons),
    }


def _pivot(rows: list[dict], column: str, reasons: list[str]) -> dict:
    """Reason × column counts as {"columns": [...], "rows": [(reason, [n, ...], total)]}."""
    cells: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["reason__label"] or "(no reason)", row[column] or "(none)")
        cells[key] = cells.get(key, 0) + row["n"]
    columns = sorted({c for _, c in cells})
    table = [(reason, [cells.get((reason, c), 0) for c in columns]) for reason in reasons]
    return {"columns": columns, "rows": [(reason, counts, sum(counts)) for reason, counts in table]}
