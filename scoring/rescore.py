"""Rescoring: where the matrix meets leads.

Three paths that agree exactly with `scoring.engine` (a property test holds them together):
- `rescore_leads` runs the engine in Python for a few leads (a new activity, a profile change), in
  the caller's transaction, with the leads locked in id order so concurrent batches cannot deadlock;
- `rescore_set` does the same for a list of lead ids with the set-based SQL of `scoring.sql` (an
  ingest batch: no activities read into Python);
- `rescore_all` runs the same rules as set-based SQL (`scoring.sql`) over every lead, in batches of
  lead ids, each batch its own short transaction (on PostgreSQL, `RESCORE_WORKERS` batches side by
  side); it serves publication and the decay refresh.
Both write a `Transition` row whenever a lead's bucket changes.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from leads.models import Activity, Lead, Transition
from leads.queue import next_queue_state, state_of
from scoring import engine, sql
from scoring.matrices import engine_matrix
from scoring.models import ActivityType, ScoringMatrix

log = logging.getLogger(__name__)

SCORE_FIELDS = [
    "fit_points",
    "grade",
    "score",
    "bucket",
    "bucket_priority",
    "in_queue",
    "persona",
    "scored_version",
    "scored_at",
    "closed_out",
    "due_at",
    "queue_entered_at",
    "first_contact_at",
    "recycled_count",
]


def lead_activities(lead_ids: Iterable[int]) -> dict[int, list[engine.ActivityFact]]:
    """The engine's view of the leads' activities, grouped by lead."""
    grouped: dict[int, list[engine.ActivityFact]] = {}
    # Type ids mapped to keys here rather than joined in SQL: a batch reads tens of thousands of
    # rows, and the join's extra column costs more than one small lookup of all types.
    keys = _type_keys()
    rows = Activity.objects.filter(lead_id__in=list(lead_ids)).values_list(
        "lead_id", "activity_type_id", "occurred_at"
    )
    fact = engine.ActivityFact
    for lead_id, type_id, occurred_at in rows.order_by():
        key = keys.get(type_id) or _type_keys(fresh=True)[type_id]
        grouped.setdefault(lead_id, []).append(fact(key, occurred_at))
    return grouped


_type_key_cache: dict[int, str] = {}


def _type_keys(*, fresh: bool = False) -> dict[int, str]:
    """Activity type ids to keys; types are only added (their keys are fixed), so a process keeps them."""
    if fresh or not _type_key_cache:
        _type_key_cache.clear()
        _type_key_cache.update(ActivityType.objects.values_list("id", "key"))
    return _type_key_cache


def explain(
    lead: Lead, *, now: datetime | None = None, matrix: ScoringMatrix | None = None
) -> engine.ScoreResult:
    """Score one lead live against a matrix (the active one by default), with the explanation."""
    matrix = matrix or ScoringMatrix.objects.active()
    activities = lead_activities([lead.pk]).get(lead.pk, [])
    return engine.score_lead(engine_matrix(matrix), lead.facts(), activities, now or timezone.now())


def rescore_leads(
    lead_ids: Iterable[int],
    *,
    cause: str,
    now: datetime | None = None,
    by=None,
    last_activity: dict[int, datetime] | None = None,
) -> list[Lead]:
    """Rescore a few leads with the active matrix: lock them in id order, score, save, log transitions.

    `last_activity` (lead id → time of its newest new activity) moves `last_activity_at` forward in
    the same write, so recording an activity writes the lead row once.
    """
    now = now or timezone.now()
    ids = sorted(set(lead_ids))
    last_activity = last_activity or {}
    # No savepoint: inside a caller's transaction it would cost two round trips and buy nothing,
    # since any error here aborts the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        matrix = ScoringMatrix.objects.active()
        plain = engine_matrix(matrix)
        # NO KEY UPDATE: the scoring columns are not keys, so a concurrent insert of an activity
        # for the lead (its foreign key takes a KEY SHARE lock) neither blocks us nor waits for us.
        # Every multi-lead writer locks in id order, so batches sharing leads queue, never deadlock.
        no_key = connection.features.has_select_for_no_key_update
        leads = list(Lead.objects.select_for_update(no_key=no_key).filter(pk__in=ids).order_by("pk"))
        activities = lead_activities(ids)
        transitions = []
        for lead in leads:
            latest = last_activity.get(lead.pk)
            if latest is not None and (lead.last_activity_at is None or lead.last_activity_at < latest):
                lead.last_activity_at = latest
            result = engine.score_lead(plain, lead.facts(), activities.get(lead.pk, []), now)
            old_bucket, old_in_queue = lead.bucket, lead.in_queue
            recycled = apply_result(lead, result, plain, matrix, now)
            if lead.bucket != old_bucket or lead.in_queue != old_in_queue:
                transitions.append(
                    Transition(
                        lead=lead,
                        from_bucket=old_bucket,
                        to_bucket=lead.bucket,
                        in_queue=lead.in_queue,
                        grade=lead.grade,
                        score=lead.score,
                        matrix=matrix,
                        cause=Transition.Cause.RECYCLE if recycled else cause,
                        at=now,
                        by=by,
                    )
                )
        fields = [*SCORE_FIELDS, "last_activity_at"] if last_activity else SCORE_FIELDS
        write_scores(leads, fields)
        Transition.objects.bulk_create(transitions)
    return leads


def rescore_set(
    lead_ids: Iterable[int],
    *,
    cause: str,
    now: datetime | None = None,
    last_activity: dict[int, datetime] | None = None,
) -> int:
    """Rescore many leads with the active matrix set-based (`scoring.sql`), in the caller's transaction.

    The same result as `rescore_leads` (the property test holds them together), without reading
    activities into Python: on PostgreSQL two statements whatever the number of leads. Returns the
    number of transitions written.
    """
    now = now or timezone.now()
    matrix = ScoringMatrix.objects.active()
    statements = sql.RescoreSQL(engine_matrix(matrix), matrix_id=matrix.pk, now=now, vendor=connection.vendor)
    with transaction.atomic(savepoint=False):
        return statements.run_leads(lead_ids=list(lead_ids), cause=cause, last_activity=last_activity)


def save_fields(leads: list[Lead], fields: list[str]) -> None:
    """Write some fields of many leads: one prepared UPDATE, run once per lead (executemany).

    `bulk_update` builds a CASE with a branch per lead for every field; compiling that costs about
    ten milliseconds per lead in batches of a thousand, far more than scoring them. A prepared
    statement run many times costs a small fraction (psycopg pipelines it on PostgreSQL).
    """
    if not leads:
        return
    columns = [Lead._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(c.column)} = %s" for c in columns)
    statement = f"UPDATE {quote(Lead._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"
    rows = [
        [c.get_db_prep_save(getattr(lead, c.attname), connection) for c in columns] + [lead.pk]
        for lead in leads
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)


def write_scores(leads: list[Lead], fields: list[str]) -> None:
    """Save the named fields of scored leads in as few statements as the database allows.

    `bulk_update` builds one `CASE WHEN id = … THEN …` per field, which PostgreSQL evaluates row by
    row against every branch: quadratic in the batch. One lead gets a plain `UPDATE`; on PostgreSQL
    a batch is one `UPDATE … FROM unnest(arrays)` joined on the id.
    """
    if len(leads) == 1:
        leads[0].save(update_fields=fields)
        return
    if not leads:
        return
    if connection.vendor != "postgresql":
        save_fields(leads, fields)
        return
    columns = [Lead._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    # One array parameter per column: a 1,000-lead batch is 16 parameters, not 16,000 placeholders
    # for the driver to parse and the server to plan.
    arrays = ", ".join(["%s::bigint[]", *(f"%s::{c.db_type(connection)}[]" for c in columns)])
    names = ", ".join(["id", *(quote(c.column) for c in columns)])
    sets = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns)
    params = [[lead.pk for lead in leads]]
    params += [[c.get_db_prep_save(getattr(lead, c.attname), connection) for lead in leads] for c in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Lead._meta.db_table} AS l SET {sets} FROM unnest({arrays}) AS v({names}) WHERE l.id = v.id",
            params,
        )


def apply_result(
    lead: Lead, result: engine.ScoreResult, plain: engine.Matrix, matrix: ScoringMatrix, now
) -> bool:
    """Copy an engine result and the queue state it leads to onto the lead (the caller saves).

    Returns whether the lead was recycled into the queue.
    """
    bucket = plain.bucket(result.bucket)
    old = next((b for b in plain.buckets if b.key == lead.bucket), None)
    state, recycled = next_queue_state(
        state_of(lead),
        old_rank=old.rank if old else None,
        in_queue_bucket=bucket.in_queue,
        rank=bucket.rank,
        sla_hours=bucket.sla_hours,
        now=now,
    )
    lead.fit_points = result.fit_points
    lead.grade = result.grade
    lead.score = result.score
    lead.bucket = bucket.key
    lead.bucket_priority = bucket.priority
    lead.persona = result.persona or ""
    lead.scored_version = matrix
    lead.scored_at = now
    for name, value in vars(state).items():
        setattr(lead, name, value)
    return recycled


@dataclass
class RescoreReport:
    leads: int = 0
    changed: int = 0
    transitions: int = 0
    batches: int = 0
    seconds: float = 0.0


def rescore_all(
    *,
    cause: str,
    now: datetime | None = None,
    matrix: ScoringMatrix | None = None,
    batch_size: int | None = None,
    start_after: int = 0,
    progress: Callable[[int, int, int], None] | None = None,
    workers: int | None = None,
) -> RescoreReport:
    """Rescore every lead set-based, batch by batch of lead ids; only changed rows are written.

    `progress(done_leads, total_leads, last_id)` is called after each committed batch, so a caller
    can show progress and a rerun can resume with `start_after=last_id`: every lead up to `last_id`
    is done. On PostgreSQL, outside a transaction, `workers` batches (RESCORE_WORKERS) run at once,
    each on its own connection; inside a caller's transaction the batches run in it, one by one.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    matrix = matrix or ScoringMatrix.objects.active()
    plain = engine_matrix(matrix)
    batch_size = batch_size or settings.LEADMATRIX["RESCORE_BATCH_SIZE"]
    workers = workers or settings.LEADMATRIX["RESCORE_WORKERS"]
    report = RescoreReport()
    total = Lead.objects.filter(pk__gt=start_after).count()
    statements = sql.RescoreSQL(plain, matrix_id=matrix.pk, now=now, vendor=connection.vendor)

    def done(counts: sql.BatchCounts, upper: int) -> None:
        report.leads += counts.leads
        report.changed += counts.changed
        report.transitions += counts.transitions
        report.batches += 1
        if progress:
            progress(report.leads, total, upper)

    ranges = _batch_ranges(start_after=start_after, batch_size=batch_size)
    # Separate connections cannot see a caller's uncommitted rows (nor SQLite's in-memory test
    # database), so the batches run side by side only on PostgreSQL in autocommit.
    if workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        _run_side_by_side(statements, ranges, cause=cause, workers=workers, done=done)
    else:
        for low, upper in ranges:
            with transaction.atomic():
                counts = statements.run_batch(low=low, high=upper, cause=cause)
            done(counts, upper or low)
    if report.changed > total // 10 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Many leads changed bucket or left the queue at once; autovacuum would notice later, but
        # until it does the queue's plans are made for where the leads were (a rep's queue read 0.6 ms
        # with fresh statistics and 57 ms with the stale ones, after the load test's set-up).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Lead._meta.db_table}")
    report.seconds = time.perf_counter() - started
    log.info("rescored %s leads (%s changed) in %.1f s", report.leads, report.changed, report.seconds)
    return report


def _batch_ranges(*, start_after: int, batch_size: int) -> Iterator[tuple[int, int | None]]:
    """(low, high) id ranges of `batch_size` leads each, low < id <= high; the last one is open."""
    low = start_after
    while True:
        edge = list(
            Lead.objects.filter(pk__gt=low)
            .order_by("pk")
            .values_list("pk", flat=True)[batch_size - 1 : batch_size]
        )
        upper = edge[0] if edge else None
        yield low, upper
        if upper is None:
            return
        low = upper


def _run_side_by_side(
    statements: sql.RescoreSQL,
    ranges: Iterator[tuple[int, int | None]],
    *,
    cause: str,
    workers: int,
    done: Callable[[sql.BatchCounts, int], None],
) -> None:
    """Run the batches on `workers` threads, each batch its own transaction on the thread's connection.

    Batches cover disjoint id ranges, so they never wait for each other's row locks. Results are taken
    in id order, so progress only ever reports a `last_id` below which every batch has committed.
    """

    def one(low: int, upper: int | None) -> sql.BatchCounts:
        try:
            with transaction.atomic():
                return statements.run_batch(low=low, high=upper, cause=cause)
        finally:
            connection.close()  # this thread's own connection; a pool thread may not run again

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rescore") as pool:
        pending: deque = deque()
        for low, upper in ranges:
            pending.append((pool.submit(one, low, upper), upper or low))
            # Enough queued to keep every worker busy; results are taken in order as they finish.
            while len(pending) > workers:
                future, edge = pending.popleft()
                done(future.result(), edge)
        while pending:
            future, edge = pending.popleft()
            done(future.result(), edge)
