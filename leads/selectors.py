"""Reads about leads that pages share."""

from dataclasses import dataclass

from django.db.models import Case, Count, Q, Value, When

from leads.models import Lead
from scoring import engine
from scoring.matrices import engine_matrix
from scoring.models import ActivityType, ScoringMatrix


def home_figures() -> dict:
    """Lead counts per grade and bucket, and how many wait in the sales queue."""
    grades = dict(Lead.objects.values_list("grade").annotate(n=Count("id")).order_by())
    buckets = dict(Lead.objects.values_list("bucket").annotate(n=Count("id")).order_by())
    return {
        "leads": sum(grades.values()),
        "grades": [(g, grades.get(g, 0)) for g in "ABCD"],
        "buckets": buckets,
        "in_queue": Lead.objects.in_queue().count(),
    }


def grid_counts(matrix: engine.Matrix, *, version_id: int) -> dict[tuple[str, str], int]:
    """How many leads scored by this version sit in each grade × band cell (counted in SQL)."""
    band = Case(
        *[
            When(score__gte=b.low, then=Value(b.key))
            if b.high is None
            else When(score__gte=b.low, score__lte=b.high, then=Value(b.key))
            for b in matrix.bands
        ],
        default=Value(""),
    )
    rows = (
        Lead.objects.filter(scored_version_id=version_id)
        .annotate(band=band)
        .values_list("grade", "band")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(grade, band_key): n for grade, band_key, n in rows}


@dataclass
class LeadPage:
    leads: list[Lead]
    next_after: str


def search_leads(*, q: str, grade: str, bucket: str, queue_only: bool, after: str, size: int) -> LeadPage:
    """Leads ordered by score then id, paged by keyset (`after` is `score:id` of the last row seen)."""
    leads = Lead.objects.all()
    if q.strip():
        term = q.strip()
        leads = leads.filter(
            Q(email__icontains=term)
            | Q(company__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
        )
    if grade in {"A", "B", "C", "D"}:
        leads = leads.filter(grade=grade)
    if bucket:
        leads = leads.filter(bucket=bucket)
    if queue_only:
        leads = leads.in_queue()
    if after:
        try:
            score, last_id = (int(part) for part in after.split(":", 1))
        except ValueError:
            score = last_id = None
        if score is not None:
            leads = leads.filter(Q(score__lt=score) | Q(score=score, id__gt=last_id))
    rows = list(leads.order_by("-score", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return LeadPage(rows, f"{rows[-1].score}:{rows[-1].id}" if more else "")


def lead_page(lead: Lead) -> dict:
    """Everything a lead's page shows: the live explanation, bucket, history and activities."""
    from scoring.rescore import explain

    matrix = ScoringMatrix.objects.active()
    result = explain(lead, matrix=matrix)
    plain = engine_matrix(matrix)
    names = dict(ActivityType.objects.values_list("key", "name"))
    return {
        "lead": lead,
        "result": result,
        "bucket": plain.bucket(result.bucket),
        "next_bucket": plain.bucket(result.next_step.bucket) if result.next_step else None,
        "band": next(b for b in plain.bands if b.key == result.band),
        "override_name": names.get(result.override, result.override),
        "persona_name": next((p.name for p in plain.personas if p.key == result.persona), ""),
        "activity_lines": [
            (names.get(a.activity_type, a.activity_type), a) for a in reversed(result.activities[-50:])
        ],
        "types": [(names.get(t.activity_type, t.activity_type), t) for t in result.types],
        "transitions": lead.transitions.select_related("matrix")[:50],
        "activity_count": lead.activities.count(),
    }
