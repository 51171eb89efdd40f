"""The impact preview and backtest of a draft: where a matrix meets today's leads and known outcomes.

The draft's figures come from the very statement that publishing runs (`scoring.sql.RescoreSQL.select`),
batch by batch of lead ids, into a temporary table that is aggregated in SQL and joined with the
stored lead fields (the "before"). Nothing is written to leads, and no lead is loaded into Python
except the small samples. Publishing at the same `now` therefore produces exactly the "after" figures.

Imports `leads.models` and `feedback.selectors`; nothing in leads/ or feedback/ imports this module.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from feedback.selectors import known_outcomes
from leads.models import Lead
from scoring import sql
from scoring.diff import fingerprint
from scoring.matrices import engine_matrix
from scoring.models import ActivityType, Bucket, ImpactPreview, ScoringMatrix

log = logging.getLogger(__name__)

SAMPLE_SIZE = 10
OUTCOMES = "lm_preview_outcomes"
# Publishing reads a batch's new scores from a temporary table of this name (scoring/sql.py); so does the preview.
BATCH = "lm_rescore"


def start_preview(
    *, matrix: ScoringMatrix, by=None, now: datetime | None = None, enqueue: bool = True
) -> ImpactPreview:
    """Record a preview of the draft as it is now and (unless told not to) queue it after commit."""
    from scoring.tasks import preview_task

    preview = ImpactPreview.objects.create(
        matrix=matrix,
        fingerprint=fingerprint(matrix),
        scored_at=now or timezone.now(),
        requested_by=by,
        total=Lead.objects.count(),
    )
    if enqueue:
        transaction.on_commit(lambda: preview_task.enqueue(preview.pk))
    return preview


def run_preview(preview_id: int) -> ImpactPreview:
    """Compute a recorded preview, saving progress after each batch of leads."""
    preview = ImpactPreview.objects.select_related("matrix").get(pk=preview_id)
    if preview.finished:
        return preview
    ImpactPreview.objects.filter(pk=preview.pk).update(status=ImpactPreview.Status.RUNNING)

    def progress(done: int, total: int) -> None:
        ImpactPreview.objects.filter(pk=preview.pk).update(done=done, total=total)

    try:
        result = impact(matrix=preview.matrix, now=preview.scored_at, progress=progress)
    except Exception as exc:
        log.exception("preview %s failed", preview.pk)
        ImpactPreview.objects.filter(pk=preview.pk).update(
            status=ImpactPreview.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    preview.refresh_from_db()
    preview.result, preview.status, preview.finished_at = result, ImpactPreview.Status.DONE, timezone.now()
    preview.done = preview.total = result["leads"]
    preview.save()
    return preview


def impact(
    *,
    matrix: ScoringMatrix,
    now: datetime,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Bucket, grade and queue counts before and after, samples of leads entering and leaving the queue,
    and the backtest against known outcomes, for the matrix scoring every lead at `now`."""
    batch_size = batch_size or settings.LEADMATRIX["RESCORE_BATCH_SIZE"]
    statements = sql.RescoreSQL(engine_matrix(matrix), matrix_id=matrix.pk, now=now, vendor=connection.vendor)
    type_ids = dict(ActivityType.objects.values_list("key", "id"))
    total = Lead.objects.count()
    flows: Counter = Counter()
    entering: list[dict] = []
    leaving: list[dict] = []
    done = 0
    with connection.cursor() as cur:
        _load_outcomes(cur)
        try:
            low = 0
            while True:
                edge = list(
                    Lead.objects.filter(pk__gt=low)
                    .order_by("pk")
                    .values_list("pk", flat=True)[batch_size - 1 : batch_size]
                )
                upper = edge[0] if edge else None
                query, params = statements.select(low=low, high=upper, type_ids=type_ids)
                _drop(cur, BATCH)
                cur.execute(f"CREATE TEMP TABLE {BATCH} AS {query}", params)
                after_sql, after_params = _after_sql(statements)
                for row in _fetch(cur, FLOWS_SQL.format(after=after_sql), after_params):
                    *key, n = row
                    flows[tuple(key)] += n
                    done += n
                entering = _top(entering + _sample(cur, after_sql, after_params, entering=True))
                leaving = _top(leaving + _sample(cur, after_sql, after_params, entering=False))
                _drop(cur, BATCH)
                if progress:
                    progress(done, max(total, done))
                if upper is None:
                    break
                low = upper
        finally:
            _drop(cur, BATCH)
            _drop(cur, OUTCOMES)
    return _figures(matrix, now, flows, entering, leaving)


def _after_sql(statements: sql.RescoreSQL) -> tuple[str, list]:
    """Each lead's new bucket, grade, score and queue state `q`, exactly as publishing decides them.

    Publishing does not simply copy the bucket's `in_queue`: a lead a rep closed out stays out of the
    queue unless it is recycled. When the rescoring SQL has that step, the preview uses it as is.
    """
    if hasattr(statements, "queue_state_select"):
        query, params = statements.queue_state_select()
        return f"SELECT n.id, n.bucket, n.grade, n.score, n.q FROM ({query}) n", params
    return (
        f"SELECT r.id, r.bucket, r.grade, r.score, CASE WHEN r.in_queue THEN 1 ELSE 0 END AS q FROM {BATCH} r",
        [],
    )


# One row per combination of (bucket, grade, queue) before and after, and the known outcome.
FLOWS_SQL = f"""
SELECT l.bucket, n.bucket, l.grade, n.grade, CASE WHEN l.in_queue THEN 1 ELSE 0 END, n.q, o.converted, COUNT(*)
FROM ({{after}}) n JOIN {sql.LEAD} l ON l.id = n.id LEFT JOIN {OUTCOMES} o ON o.lead_id = n.id
GROUP BY l.bucket, n.bucket, l.grade, n.grade, CASE WHEN l.in_queue THEN 1 ELSE 0 END, n.q, o.converted
"""

SAMPLE_SQL = f"""
SELECT l.id, l.first_name, l.last_name, l.email, l.grade, l.score, l.bucket, n.grade, n.score, n.bucket
FROM ({{after}}) n JOIN {sql.LEAD} l ON l.id = n.id
WHERE n.q = %s AND CASE WHEN l.in_queue THEN 1 ELSE 0 END = %s
ORDER BY {{order}} DESC, l.id
LIMIT {SAMPLE_SIZE}
"""


def _fetch(cur, query: str, params=()) -> list[tuple]:
    cur.execute(query, params)
    return cur.fetchall()


def _drop(cur, table: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {'' if connection.vendor == 'postgresql' else 'temp.'}{table}")


def _load_outcomes(cur) -> None:
    """Known outcomes (lead id → converted) as a temporary table, so SQL can join them."""
    _drop(cur, OUTCOMES)
    cur.execute(f"CREATE TEMP TABLE {OUTCOMES} (lead_id BIGINT PRIMARY KEY, converted INTEGER NOT NULL)")
    rows = [(lead_id, int(converted)) for lead_id, converted in known_outcomes().items()]
    if rows:
        cur.executemany(f"INSERT INTO {OUTCOMES} (lead_id, converted) VALUES (%s, %s)", rows)


def _sample(cur, after_sql: str, after_params: list, *, entering: bool) -> list[dict]:
    order = "n.score" if entering else "l.score"
    query = SAMPLE_SQL.format(after=after_sql, order=order)
    rows = _fetch(cur, query, [*after_params, int(entering), int(not entering)])
    return [
        {
            "id": lead_id,
            "name": f"{first} {last}".strip() or email,
            "before": {"label": f"{grade}{score}", "bucket": bucket},
            "after": {"label": f"{new_grade}{new_score}", "bucket": new_bucket},
            "sort": new_score if entering else score,
        }
        for lead_id, first, last, email, grade, score, bucket, new_grade, new_score, new_bucket in rows
    ]


def _top(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (-r["sort"], r["id"]))[:SAMPLE_SIZE]


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _figures(matrix: ScoringMatrix, now: datetime, flows: Counter, entering, leaving) -> dict:
    names = dict(Bucket.objects.filter(matrix__status=ScoringMatrix.Status.ACTIVE).values_list("key", "name"))
    ranks = dict(Bucket.objects.filter(matrix__status=ScoringMatrix.Status.ACTIVE).values_list("key", "rank"))
    names.update(matrix.buckets.values_list("key", "name"))
    ranks.update(matrix.buckets.values_list("key", "rank"))
    buckets_before, buckets_after = Counter(), Counter()
    grades_before, grades_after = Counter(), Counter()
    queue = Counter()
    backtest = Counter()
    moved = 0
    for (b0, b1, g0, g1, q0, q1, converted), n in flows.items():
        buckets_before[b0] += n
        buckets_after[b1] += n
        grades_before[g0] += n
        grades_after[g1] += n
        queue["before"] += n * q0
        queue["after"] += n * q1
        queue["entering"] += n * (q1 and not q0)
        queue["leaving"] += n * (q0 and not q1)
        moved += n * (b0 != b1)
        if converted is not None:
            backtest["known"] += n
            backtest["converted"] += n * converted
            backtest["queue_before"] += n * q0
            backtest["queue_after"] += n * q1
            backtest["caught_before"] += n * q0 * converted
            backtest["caught_after"] += n * q1 * converted
    keys = sorted(set(buckets_before) | set(buckets_after), key=lambda k: (-ranks.get(k, -1), k))
    for rows in (entering, leaving):
        for row in rows:
            row.pop("sort", None)
            for side in ("before", "after"):
                row[side]["bucket_name"] = names.get(row[side]["bucket"], row[side]["bucket"] or "unscored")

    def side(which: str) -> dict:
        size, caught = backtest[f"queue_{which}"], backtest[f"caught_{which}"]
        return {
            "queue": size,
            "converted": caught,
            "precision": _share(caught, size),
            "recall": _share(caught, backtest["converted"]),
        }

    return {
        "scored_at": now.isoformat(),
        "leads": sum(buckets_after.values()),
        "moved": moved,
        "buckets": [
            {
                "key": k,
                "name": names.get(k, k or "Not scored yet"),
                "before": buckets_before[k],
                "after": buckets_after[k],
                "change": buckets_after[k] - buckets_before[k],
            }
            for k in keys
        ],
        "grades": [
            {
                "grade": g,
                "before": grades_before[g],
                "after": grades_after[g],
                "change": grades_after[g] - grades_before[g],
            }
            for g in "ABCD"
        ],
        "queue": {k: queue[k] for k in ("before", "after", "entering", "leaving")},
        "entering": entering,
        "leaving": leaving,
        "backtest": {
            "known": backtest["known"],
            "converted": backtest["converted"],
            "current": side("before"),
            "draft": side("after"),
        },
    }


def baseline_figures() -> dict:
    """The effectiveness figures as they stand (taken at publication, for a later before/after report)."""
    outcomes = known_outcomes()
    return {
        "taken_at": timezone.now().isoformat(),
        "leads": Lead.objects.count(),
        "buckets": dict(Lead.objects.values_list("bucket").annotate(n=Count("id")).order_by()),
        "grades": dict(Lead.objects.values_list("grade").annotate(n=Count("id")).order_by()),
        "queue": Lead.objects.in_queue().count(),
        "outcomes": {
            "converted": sum(1 for converted in outcomes.values() if converted),
            "not_converted": sum(1 for converted in outcomes.values() if not converted),
        },
    }


def current_preview(matrix: ScoringMatrix) -> ImpactPreview | None:
    """The newest preview computed for the draft's content as it is now (None if it changed since)."""
    content = fingerprint(matrix)
    return matrix.previews.filter(fingerprint=content).first()
