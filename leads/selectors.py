"""Reads about leads that pages share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Case, Count, Q, Value, When
from django.db.models.signals import post_save

from leads.models import Lead
from scoring import engine
from scoring.matrices import engine_matrix
from scoring.models import ActivityType, ScoringMatrix

FIGURES_SECONDS = 60  # counting a million leads takes a good part of a second; a minute's lag is fine


def home_figures() -> dict:
    """Lead counts per grade and how many wait in the sales queue (recounted at most once a minute)."""

    def compute() -> dict:
        grades = dict(Lead.objects.values_list("grade").annotate(n=Count("id")).order_by())
        return {
            "leads": sum(grades.values()),
            "grades": [(g, grades.get(g, 0)) for g in "ABCD"],
            "in_queue": Lead.objects.in_queue().count(),
        }

    return cache.get_or_set("leadmatrix:home-figures", compute, timeout=FIGURES_SECONDS)


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

    def compute() -> dict:
        rows = (
            Lead.objects.filter(scored_version_id=version_id)
            .annotate(band=band)
            .values_list("grade", "band")
            .annotate(n=Count("id"))
            .order_by()
        )
        return {(grade, band_key): n for grade, band_key, n in rows}

    return cache.get_or_set(f"leadmatrix:grid-counts:{version_id}", compute, timeout=FIGURES_SECONDS)


@dataclass
class LeadPage:
    leads: list[Lead]
    next_after: str


def filtered_leads(*, user, q: str, grade: str, bucket: str):
    """Leads a person may see that match the lead list's filters (a search, a grade, a bucket)."""
    leads = Lead.objects.visible_to(user).search(q)
    if grade in {"A", "B", "C", "D"}:
        leads = leads.filter(grade=grade)
    if bucket:
        leads = leads.filter(bucket=bucket)
    return leads


def search_leads(*, user, q: str, grade: str, bucket: str, after: str, size: int) -> LeadPage:
    """Leads a person may see, by score then id, paged by keyset (`after` is `score:id` of the last row)."""
    leads = filtered_leads(user=user, q=q, grade=grade, bucket=bucket)
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
        "transitions": lead.transitions.select_related("matrix", "by")[:50],
        "dispositions": lead.dispositions.select_related("reason", "by")[:50],
        "history": score_history(lead, live=result),
        "activity_count": lead.activities.count(),
    }


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class QueueFilters:
    bucket: str = ""
    grade: str = ""
    owner: str = ""  # "me", "none", or a user id
    source: str = ""
    industry: str = ""
    overdue: bool = False
    q: str = ""

    @classmethod
    def from_query(cls, params) -> QueueFilters:
        return cls(
            bucket=params.get("bucket", "").strip(),
            grade=params.get("grade", "").strip().upper()[:1],
            owner=params.get("owner", "").strip(),
            source=params.get("source", "").strip(),
            industry=params.get("industry", "").strip(),
            overdue=params.get("overdue") == "1",
            q=params.get("q", "").strip(),
        )


@dataclass
class QueuePage:
    leads: list  # named tuples of QUEUE_ROW_FIELDS
    next_cursor: str
    now: datetime


def queue_leads(*, user, filters: QueueFilters, now: datetime):
    """The queue a person sees, filtered, in work order (reps: their own and unassigned leads)."""
    leads = Lead.objects.in_queue().visible_to(user)
    if filters.bucket:
        leads = leads.filter(bucket=filters.bucket)
    if filters.grade in {"A", "B", "C", "D"}:
        leads = leads.filter(grade=filters.grade)
    if filters.owner == "me":
        leads = leads.filter(owner=user)
    elif filters.owner == "none":
        leads = leads.filter(owner__isnull=True)
    elif filters.owner.isdigit():
        leads = leads.filter(owner_id=int(filters.owner))
    if filters.source:
        leads = leads.filter(source=filters.source)
    if filters.industry:
        leads = leads.filter(industry=filters.industry)
    if filters.overdue:
        leads = leads.filter(due_at__lt=now)
    leads = leads.search(filters.q)
    return leads.queue_order()


# What a queue row and the cursor read. They come as named tuples: at 50 rows, building model
# instances (and the owner's) was a visible share of a request in the profile.
QUEUE_ROW_FIELDS = (
    "pk", "grade", "score", "bucket", "bucket_priority", "in_queue", "due_at", "first_contact_at",
    "last_activity_at", "recycled_count", "first_name", "last_name", "email", "title", "company",
    "owner", "owner__first_name", "owner__username",
)  # fmt: skip


def queue_page(*, user, filters: QueueFilters, cursor: str, size: int, now: datetime) -> QueuePage:
    """One page of the queue by keyset on (bucket priority, due time, score, id): no OFFSET."""
    leads = queue_leads(user=user, filters=filters, now=now)
    after = _parse_cursor(cursor)
    if after:
        p, due, score, pk = after
        leads = leads.after_in_queue_order(priority=p, due_at=due, score=score, pk=pk)
    rows = list(leads.values_list(*QUEUE_ROW_FIELDS, named=True)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows else None
    cursor = _cursor(last) if more and last else ""
    return QueuePage(rows, cursor, now)


def _cursor(lead: Lead) -> str:
    """The keyset position after a lead, URL-safe: priority-due(µs since epoch)-score-id."""
    due = (lead.due_at - EPOCH) // timedelta(microseconds=1)
    return f"{lead.bucket_priority}-{due}-{lead.score}-{lead.pk}"


def _parse_cursor(cursor: str):
    try:
        p, due, score, pk = (int(part) for part in cursor.split("-"))
    except ValueError:
        return None
    return p, EPOCH + timedelta(microseconds=due), score, pk


# The queue's lookups that change rarely, kept in this process's cache (Django's local-memory
# cache, one per worker) so that a queue request does not ask the database for them each time.
# A publication in this process drops the buckets at once (below); other worker processes see the
# new bucket names within the minute, while the rescore that moves leads into the new buckets takes
# minutes at a million leads anyway. A new or renamed rep appears in the owner lists within a minute.
LOOKUP_SECONDS = 60
ACTIVE_BUCKETS_KEY = "leadmatrix:active-buckets"


def active_buckets() -> list[engine.Bucket]:
    """The buckets of the active matrix version (from the per-process cache, refreshed every minute)."""

    def compute() -> list[engine.Bucket]:
        return list(engine_matrix(ScoringMatrix.objects.active()).buckets)

    return cache.get_or_set(ACTIVE_BUCKETS_KEY, compute, timeout=LOOKUP_SECONDS)


def _forget_active_buckets(sender, **kwargs) -> None:
    cache.delete(ACTIVE_BUCKETS_KEY)


# Publishing saves the new version and the retired one: forget the buckets in this process at once.
post_save.connect(_forget_active_buckets, sender=ScoringMatrix, dispatch_uid="leads-active-buckets")


def rep_choices() -> list[tuple[str, str]]:
    """(id, name) of every active sales rep for the queue's owner lists (per-process cache, a minute)."""
    from leads.assignment import reps

    def compute() -> list[tuple[str, str]]:
        return [(str(rep.pk), rep.get_full_name() or rep.username) for rep in reps()]

    return cache.get_or_set("leadmatrix:rep-choices", compute, timeout=LOOKUP_SECONDS)


def queue_filter_choices() -> dict:
    """Values for the queue's filter selects: the sources and industries of queue leads.

    Finding them scans the queue, so the answer is kept for ten minutes; a value that appears in
    the meantime can still be used through the URL.
    """

    def compute() -> dict:
        queue = Lead.objects.in_queue()
        return {
            "sources": sorted(filter(None, queue.values_list("source", flat=True).distinct().order_by())),
            "industries": sorted(
                filter(None, queue.values_list("industry", flat=True).distinct().order_by())
            ),
        }

    return cache.get_or_set("leadmatrix:queue-filter-choices", compute, timeout=600)


def new_in_queue_since(*, user, filters: QueueFilters, since: datetime) -> int:
    """How many leads entered this person's queue view after `since` (for the arrival banner)."""
    return queue_leads(user=user, filters=filters, now=since).filter(queue_entered_at__gt=since).count()


def team_overview(*, now: datetime) -> list[dict]:
    """Per rep: leads owned in the queue, overdue, first contacts within SLA, outcomes this week."""
    from feedback.models import Disposition
    from leads.assignment import reps

    week_ago = now - timedelta(days=7)
    people = reps()
    owned = dict(
        Lead.objects.in_queue()
        .filter(owner__in=people)
        .values_list("owner")
        .annotate(n=Count("id"))
        .order_by()
    )
    overdue = dict(
        Lead.objects.overdue(now)
        .filter(owner__in=people)
        .values_list("owner")
        .annotate(n=Count("id"))
        .order_by()
    )
    first_contacts = {
        row["owner"]: row
        for row in Lead.objects.filter(owner__in=people, sla_met__isnull=False)
        .values("owner")
        .annotate(contacted=Count("id"), within=Count("id", filter=Q(sla_met=True)))
        .order_by()
    }
    outcomes = dict(
        Disposition.objects.filter(by__in=people, at__gte=week_ago)
        .values_list("by")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        {
            "rep": rep,
            "owned": owned.get(rep.pk, 0),
            "overdue": overdue.get(rep.pk, 0),
            "contacted": first_contacts.get(rep.pk, {}).get("contacted", 0),
            "within_sla": first_contacts.get(rep.pk, {}).get("within", 0),
            "outcomes_week": outcomes.get(rep.pk, 0),
        }
        for rep in people
    ]


def score_history(lead: Lead, *, live: engine.ScoreResult) -> list[dict]:
    """Grade and score over time from the transition rows (oldest first), ending with the live score."""
    points = [
        {"at": t.at.isoformat(), "score": t.score, "grade": t.grade, "bucket": t.to_bucket,
         "version": t.matrix.version, "published": t.cause == "publish"}
        for t in reversed(list(lead.transitions.select_related("matrix").order_by("-at", "-id")[:200]))
    ]  # fmt: skip
    from django.utils import timezone

    points.append(
        {"at": timezone.now().isoformat(), "score": live.score, "grade": live.grade, "bucket": live.bucket,
         "version": lead.scored_version.version if lead.scored_version else None, "published": False}
    )  # fmt: skip
    return points


def queue_rows(leads: list, *, now: datetime, buckets: dict[str, engine.Bucket]) -> list[dict]:
    """The queue's rows (`QueuePage.leads`) as plain dicts of ready-made strings.

    The SLA and age are formatted once here; `queue_tags.queue_rows` writes the markup.
    """
    from leads.templatetags.queue_tags import ago, sla

    rows = []
    for lead in leads:
        info = buckets.get(lead.bucket)
        rows.append(
            {
                "pk": lead.pk,
                "url": f"/leads/{lead.pk}/",
                "label": f"{lead.grade}{lead.score}",
                "bucket": lead.bucket,
                "bucket_name": info.name if info else lead.bucket,
                "action": info.action if info else "",
                "name": f"{lead.first_name} {lead.last_name}".strip() or lead.email,
                "subtitle": " · ".join(part for part in (lead.title, lead.company) if part),
                "recycled": lead.recycled_count,
                "sla": sla(lead, now),
                "ago": ago(lead.last_activity_at, now),
                "owner": (lead.owner__first_name or lead.owner__username) if lead.owner else "",
            }
        )
    return rows


EXPORT_FIELDS = (
    "email", "first_name", "last_name", "company", "title", "seniority", "department", "industry",
    "company_size", "revenue_potential", "country", "source", "grade", "score", "bucket", "in_queue",
    "owner__username", "last_activity_at", "created_at", "attributes",
)  # fmt: skip


def lead_export_rows(*, user, q: str, grade: str, bucket: str):
    """The lead list with its filters as rows for a CSV export, read in chunks (constant memory)."""
    leads = filtered_leads(user=user, q=q, grade=grade, bucket=bucket).order_by("-score", "id")
    for row in leads.values_list(*EXPORT_FIELDS).iterator(chunk_size=2000):
        *fields, attributes = row
        yield [*fields, json.dumps(attributes, ensure_ascii=False, sort_keys=True) if attributes else ""]
