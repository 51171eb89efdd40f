"""Measuring how rescoring keeps up on PostgreSQL: data generation, floors, timings, latencies.

Used only by `manage.py bench_scoring`. Everything here runs against a dedicated benchmark database
and may empty the lead tables of that database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import NOT_PROVIDED

from leads.models import Activity, Lead, Transition
from scoring.models import ActivityType

GENERATED_SOURCE = "bench"
INCREMENTAL_SOURCE = "bench-incremental"
RESULT_PREFIX = "BENCH_RESULT "
STARTED_LINE = "BENCH_STARTED"
DAY = 86400
MEASURED_CODE = ["scoring/sql.py", "scoring/rescore.py", "leads/ingest.py"]

# Share of generated activities per type, in thousandths (sums to 1000).
TYPE_MIX = [
    ("email_open", 300),
    ("web_visit", 250),
    ("email_click", 120),
    ("social_engagement", 60),
    ("pricing_visit", 60),
    ("whitepaper_download", 45),
    ("video_view", 35),
    ("newsletter_signup", 30),
    ("form_submit", 30),
    ("webinar_attended", 25),
    ("demo_request", 25),
    ("email_bounce", 10),
    ("unsubscribe", 10),
]

# What the generator writes; every other lead column is scoring or queue state and gets its default.
PROFILE_COLUMNS = ["id", "email", "first_name", "last_name", "company", "title", "seniority"]
PROFILE_COLUMNS += ["department", "industry", "company_size", "revenue_potential", "country"]
PROFILE_COLUMNS += ["source", "attributes", "created_at", "updated_at", "last_activity_at"]


def _h(expr: str, salt: int, modulus: int) -> str:
    """SQL for a deterministic pseudo-random integer in [0, modulus) from `expr` and `salt`."""
    return f"mod(hashint8extended(({expr})::bigint, {salt}) & 9223372036854775807, {modulus})"


def _pick(expr: str, salt: int, values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"(ARRAY[{quoted}])[1 + {_h(expr, salt, len(values))}::int]"


def _activity_offset(lead: str, key: str) -> str:
    """Seconds before the anchor: 15 % of leads are busy (last 30 days), the rest spread over 180."""
    return (
        f"(CASE WHEN {_h(lead, 13, 100)} < 15 THEN {_h(key, 11, 30 * DAY)} "
        f"ELSE {_h(key, 11, 180 * DAY)} END)::float8"
    )


# --- small database helpers -------------------------------------------------------------------


def execute(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params or [])


def scalar(sql: str, params: list | None = None):
    with connection.cursor() as cur:
        cur.execute(sql, params or [])
        row = cur.fetchone()
    return row[0] if row else None


def timed(fn: Callable[[], object]) -> float:
    """Seconds that `fn()` took."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


BATCH_SELECT = "CREATE TEMP TABLE lm_rescore"


def batch_select_settings(pairs: list[tuple[str, str]]):
    """A Django execute wrapper giving the rescoring batch SELECT these settings, and nothing else.

    It does what `SET LOCAL name = value` before that statement (and back after it) in
    `RescoreSQL.run_batch` would do, so a proposed fix can be measured without editing the code.
    """

    def wrapper(execute, sql, params, many, context):
        if not pairs or not sql.lstrip().startswith(BATCH_SELECT):
            return execute(sql, params, many, context)
        raw = context["connection"].connection
        with raw.cursor() as cur:
            cur.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(pairs)), [n for n, _ in pairs])
            before = cur.fetchone()
            for name, value in pairs:
                cur.execute("SELECT set_config(%s, %s, true)", [name, value])
        try:
            return execute(sql, params, many, context)
        finally:
            with raw.cursor() as cur:
                for (name, _), value in zip(pairs, before, strict=True):
                    cur.execute("SELECT set_config(%s, %s, true)", [name, value])

    return wrapper


def describe_settings(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={value}" for name, value in pairs)


def checkpoint() -> None:
    """Flush dirty buffers before a timed step, so one step's writes are not billed to the next."""
    # CHECKPOINT needs superuser or pg_checkpoint; without it the figures are only noisier.
    with contextlib.suppress(DatabaseError):
        execute("CHECKPOINT")


def vacuum(*tables: str, analyze: bool = False) -> float:
    """VACUUM (and ANALYZE) the tables; returns seconds."""
    verb = "VACUUM (ANALYZE)" if analyze else "VACUUM"
    return timed(lambda: execute(f"{verb} {', '.join(tables)}"))


def server_facts() -> dict[str, str]:
    """The PostgreSQL version and the settings that shape these figures."""
    names = ["server_version", "shared_buffers", "work_mem", "temp_buffers", "jit"]
    with connection.cursor() as cur:
        cur.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", [names])
        return dict(cur.fetchall())


def code_fingerprint() -> str:
    """A short hash of the code being measured, so figures can be tied to a version of it."""
    digest = hashlib.sha1()
    for name in MEASURED_CODE:
        path = Path(settings.BASE_DIR) / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return f"{digest.hexdigest()[:10]} ({', '.join(MEASURED_CODE)})"


def table_counts() -> tuple[int, int]:
    """(leads, generated activities) currently in the database."""
    leads = scalar("SELECT count(*) FROM leads_lead")
    activities = scalar("SELECT count(*) FROM leads_activity")
    return leads, activities


def delete_incremental_activities() -> int:
    """Remove activities an earlier incremental step recorded."""
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM leads_activity WHERE source = %s AND source_event_id IS NOT NULL",
            [INCREMENTAL_SOURCE],
        )
        return cur.rowcount


def anchor_time() -> datetime | None:
    """The moment the data was generated (activities are spread over the 180 days before it)."""
    return scalar(
        "SELECT recorded_at FROM leads_activity WHERE source = %s ORDER BY id LIMIT 1",
        [GENERATED_SOURCE],
    )


def lead_id_range() -> tuple[int, int]:
    return tuple(scalar("SELECT ARRAY[min(id), max(id)] FROM leads_lead"))


# --- generating data --------------------------------------------------------------------------


def _model_defaults(model, given: set[str]) -> tuple[list[str], list]:
    """Columns outside `given` with their model defaults (NULL where nullable without one)."""
    columns, params = [], []
    for f in model._meta.concrete_fields:
        if f.column in given or f.db_default is not NOT_PROVIDED:
            continue
        value = f.get_default()
        if value is None and not f.null:
            raise ValueError(f"cannot generate {model.__name__}.{f.name}: NOT NULL without default")
        columns.append(f.column)
        params.append(None if value is None else f.get_db_prep_save(value, connection))
    return columns, params


def generate(
    *,
    leads: int,
    per_lead: int,
    anchor: datetime,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Empty the lead tables, then insert `leads` leads with `per_lead` activities each, set-based."""
    type_ids = dict(ActivityType.objects.values_list("key", "id"))
    missing = [key for key, _ in TYPE_MIX if key not in type_ids]
    if missing:
        raise ValueError(f"activity types missing (run migrate): {', '.join(missing)}")
    key = "g * 1000 + k"  # one key per (lead, activity); per_lead stays below 1000
    # width_bucket finds the type's slot in the cumulative shares with one hash per activity.
    starts, edge = [], 0
    for _, share in TYPE_MIX:
        starts.append(edge)
        edge += share
    ids = ", ".join(str(int(type_ids[type_key])) for type_key, _ in TYPE_MIX)
    type_pick = (
        f"(ARRAY[{ids}]::bigint[])"
        f"[width_bucket({_h(key, 12, 1000)}::int, ARRAY[{', '.join(map(str, starts))}])]"
    )
    departments = [
        "Engineering",
        "IT",
        "Product",
        "Marketing",
        "Sales",
        "Finance",
        "Operations",
        "",
    ]
    industries = ["Software", "Financial services", "Healthcare", "Manufacturing", "Retail"]
    industries += ["Education", "Public sector", "Media", "Logistics", ""]
    titles = ["Engineer", "Director", "VP Sales", "Analyst", "Founder", "Consultant"]
    countries = ["US", "UK", "DE", "FR", "NL", "SE", "CA", "AU", "IN", "BR"]

    # The profile is generated; every other column (scoring, queue) gets its model default.
    rest, rest_params = _model_defaults(Lead, set(PROFILE_COLUMNS))
    lead_columns = ", ".join(PROFILE_COLUMNS + rest)
    lead_more_values = "".join(", %s" for _ in rest)
    lead_sql = f"""
INSERT INTO leads_lead ({lead_columns})
SELECT g, 'lead' || g || '@bench.example', 'First' || mod(g, 997), 'Last' || mod(g, 991),
    'Company ' || {_h("g", 1, 50000)},
    {_pick("g", 2, titles)},
    CASE WHEN s < 4 THEN 'executive' WHEN s < 14 THEN 'head' WHEN s < 36 THEN 'manager'
         WHEN s < 78 THEN 'staff' WHEN s < 84 THEN 'student' ELSE '' END,
    {_pick("g", 4, departments)},
    {_pick("g", 5, industries)},
    CASE WHEN {_h("g", 6, 20)} = 0 THEN NULL
         ELSE round(power(10.0::float8, 0.5 + {_h("g", 7, 400)} / 100.0))::int END,
    CASE WHEN {_h("g", 8, 10)} = 0 THEN NULL ELSE {_h("g", 9, 250000)} END,
    {_pick("g", 10, countries)},
    {_pick("g", 12, ["web", "event", "import", "partner", "ads"])},
    '{{}}'::jsonb, %s - make_interval(days => {_h("g", 14, 365)}::int), %s,
    %s - make_interval(secs => (SELECT min({_activity_offset("g", key)})
                                FROM generate_series(1, %s) k)){lead_more_values}
FROM generate_series(%s::bigint, %s::bigint) g, LATERAL (SELECT {_h("g", 3, 100)} AS s) r
"""
    activity_columns = ["lead_id", "activity_type_id", "occurred_at", "source", "source_event_id"]
    activity_columns += ["properties", "recorded_at"]
    act_rest, act_rest_params = _model_defaults(Activity, {"id", *activity_columns})
    act_more_values = "".join(", %s" for _ in act_rest)
    activity_sql = f"""
INSERT INTO leads_activity ({", ".join(activity_columns + act_rest)})
SELECT g, {type_pick},
    %s - make_interval(secs => {_activity_offset("g", key)}), %s, NULL, '{{}}'::jsonb, %s
    {act_more_values}
FROM generate_series(%s::bigint, %s::bigint) g CROSS JOIN generate_series(1, %s) k
"""
    execute("TRUNCATE leads_transition, leads_activity, leads_lead RESTART IDENTITY CASCADE")
    with connection.cursor() as cur:
        # The rows are consistent by construction; skipping the per-row foreign-key triggers (as
        # pg_restore --disable-triggers does) makes loading 20M activities minutes faster.
        skip_triggers = bool(scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        if skip_triggers:
            cur.execute("SET session_replication_role = replica")
        try:
            for low in range(1, leads + 1, chunk):
                high = min(low + chunk - 1, leads)
                with transaction.atomic():
                    cur.execute(lead_sql, [anchor, anchor, anchor, per_lead, *rest_params, low, high])
                    cur.execute(
                        activity_sql,
                        [anchor, GENERATED_SOURCE, anchor, *act_rest_params, low, high, per_lead],
                    )
                if progress:
                    progress(high)
        finally:
            if skip_triggers:
                cur.execute("SET session_replication_role = DEFAULT")
        cur.execute("SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), %s)", [leads])


def reset_scores(*, start_after: int = 0) -> None:
    """Make leads with id > start_after unscored again, as before a first publication."""
    columns, params = _model_defaults(Lead, set(PROFILE_COLUMNS))
    assignments = ", ".join(f"{c} = %s" for c in columns)
    with transaction.atomic():
        execute(f"UPDATE leads_lead SET {assignments} WHERE id > %s", [*params, start_after])
        if start_after == 0:
            # CASCADE: webhook deliveries point at transitions; a bench database has none worth keeping.
            execute("TRUNCATE leads_transition CASCADE")
        else:
            Transition.objects.filter(lead_id__gt=start_after).delete()


# --- the floors -------------------------------------------------------------------------------


def time_group_by() -> float:
    """One GROUP BY lead over every activity, consumed on the server."""
    checkpoint()
    return timed(
        lambda: scalar(
            "SELECT count(*) FROM (SELECT lead_id, count(*) FROM leads_activity GROUP BY lead_id) s"
        )
    )


def time_noop_update() -> float:
    """One no-op UPDATE of every lead row, in its own transaction, committed."""
    checkpoint()

    def update() -> None:
        with transaction.atomic():
            execute("UPDATE leads_lead SET score = score")

    return timed(update)


# --- rescoring in a fresh process -------------------------------------------------------------


@dataclass
class ChildResult:
    seconds: float
    leads: int
    changed: int
    transitions: int
    batches: int
    maxrss_kb: int
    rss_before_kb: int


def current_rss_kb() -> int:
    """This process's resident set now, in KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def peak_rss_kb() -> int:
    """This process's peak resident set so far (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rescore_in_child(
    *,
    now: datetime,
    cause: str,
    start_after: int = 0,
    batch_size: int | None = None,
    workers: int | None = None,
    pg_settings: list[tuple[str, str]] | None = None,
    while_running: Callable[[Callable[[], bool]], None] | None = None,
) -> ChildResult:
    """Run `bench_scoring --rescore-only` in a fresh Python process and return what it measured.

    `while_running(done)` is called in this process once the child has started rescoring, and
    should return when `done()` turns true (the reads-during-rescore step uses it).
    """
    args = [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "bench_scoring",
        "--rescore-only",
        "--now",
        now.isoformat(),
        "--cause",
        cause,
        "--start-after",
        str(start_after),
    ]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    if workers:
        args += ["--workers", str(workers)]
    for name, value in pg_settings or []:
        args += ["--pg-set", f"{name}={value}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    started, finished = threading.Event(), threading.Event()
    lines: list[str] = []

    def pump() -> None:
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == STARTED_LINE:
                started.set()
        finished.set()

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    if while_running:
        while not started.wait(0.05):
            if finished.is_set():
                break
        if started.is_set():
            while_running(finished.is_set)
    code = proc.wait()
    pump_thread.join()
    results = [line for line in lines if line.startswith(RESULT_PREFIX)]
    if code != 0 or not results:
        raise RuntimeError(f"the rescoring child failed (exit {code}): {''.join(lines)[-2000:]}")
    return ChildResult(**json.loads(results[-1][len(RESULT_PREFIX) :]))


# --- incremental latency ----------------------------------------------------------------------


def incremental_latencies(*, calls: int, now: datetime, seed: int, warmup: int = 10) -> list[float]:
    """Milliseconds of `record_activity` for random existing leads, one call per transaction."""
    from leads.ingest import ActivityIn, record_activity

    rng = random.Random(seed)
    low, high = lead_id_range()
    keys = [key for key, _ in TYPE_MIX if key != "unsubscribe"]
    picked = [rng.randint(low, high) for _ in range(warmup + calls)]
    emails = dict(Lead.objects.filter(pk__in=set(picked)).values_list("pk", "email"))
    latencies = []
    for i, lead_id in enumerate(picked):
        item = ActivityIn(
            email=emails[lead_id],
            activity_type=rng.choice(keys),
            occurred_at=now - timedelta(seconds=rng.randrange(3 * DAY)),
            source=INCREMENTAL_SOURCE,
            source_event_id=f"inc-{i}",
        )
        started = time.perf_counter()
        record_activity(item, now=now)
        if i >= warmup:
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


# --- reads ------------------------------------------------------------------------------------


def queue_read() -> None:
    """The first page of the sales queue, in the app's work order."""
    list(Lead.objects.in_queue().queue_order()[:50])


def grade_read() -> None:
    """A page of the lead list filtered by grade and bucket, as `search_leads` orders it."""
    list(Lead.objects.filter(grade="B", bucket="mql", score__gte=40).order_by("-score", "id")[:50])


@dataclass
class Reads:
    queue_ms: list[float] = field(default_factory=list)
    grade_ms: list[float] = field(default_factory=list)
    lock_waits: int = 0  # reads that waited for a lock longer than the lock timeout

    def all(self) -> list[float]:
        return self.queue_ms + self.grade_ms


def read_loop(
    reads: Reads, done: Callable[[], bool], *, pause: float = 0.01, lock_timeout_ms: int = 100
) -> None:
    """Alternate the two reads, each timed, pausing between rounds, until `done()`.

    A read that waits for a lock longer than `lock_timeout_ms` fails with a lock timeout and is
    counted in `lock_waits`, which tells waiting for a lock apart from waiting for a CPU.
    """
    execute("SET lock_timeout = %s", [f"{lock_timeout_ms}ms"])
    try:
        while not done():
            for read, sink in ((queue_read, reads.queue_ms), (grade_read, reads.grade_ms)):
                started = time.perf_counter()
                try:
                    read()
                except OperationalError as exc:
                    if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                        raise
                    reads.lock_waits += 1
                sink.append((time.perf_counter() - started) * 1000)
            time.sleep(pause)
    finally:
        execute("RESET lock_timeout")


def idle_reads(*, seconds: float) -> Reads:
    """The same reads with nothing else running, for comparison."""
    reads = Reads()
    deadline = time.monotonic() + seconds
    read_loop(reads, lambda: time.monotonic() > deadline)
    return reads


# --- figures ----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan
