"""The engine's rules as one set-based SQL statement per batch of leads (SQLite and PostgreSQL).

Every rule in `scoring.engine` has its counterpart here; keep the two in step (the property test
`tests/scoring/test_rescore_agrees.py` fails when they drift). On SQLite the decay factor and LOWER
are Python functions registered on the connection (`register_sqlite_functions`), so they are the
engine's own code; on PostgreSQL they are `POWER` and `lower`, which give the same doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from leads.queue import FAR_FUTURE
from scoring import engine
from scoring.fields import ATTRIBUTE_PREFIX, NUMBER, lookup_field

LEAD = "leads_lead"
ACTIVITY = "leads_activity"
TRANSITION = "leads_transition"
BUCKET = "scoring_bucket"
ACTIVITY_TYPE = "scoring_activitytype"


def register_sqlite_functions(sqlite_connection) -> None:
    """Give SQLite the engine's decay and Unicode-aware LOWER, so SQL and engine agree exactly."""
    from django.utils.dateparse import parse_datetime

    def decay(now: str, then: str, half_life: float | None) -> float:
        age = engine.age_in_days(parse_datetime(now), parse_datetime(then))
        return engine.decay_factor(age, half_life)

    sqlite_connection.create_function("lm_decay", 3, decay, deterministic=True)
    sqlite_connection.create_function(
        "LOWER", 1, lambda s: s.lower() if isinstance(s, str) else s, deterministic=True
    )


@dataclass
class BatchCounts:
    leads: int
    changed: int
    transitions: int


class RescoreSQL:
    """Builds and runs the batch statements for one matrix at one moment."""

    def __init__(self, matrix: engine.Matrix, *, matrix_id: int, now: datetime, vendor: str):
        if vendor not in {"sqlite", "postgresql"}:
            raise ValueError(f"rescoring SQL supports sqlite and postgresql, not {vendor}")
        self.matrix = matrix
        self.matrix_id = matrix_id
        self.now = now
        self.pg = vendor == "postgresql"

    # --- small vendor differences -----------------------------------------------------------------

    def ts(self, value: datetime) -> tuple[str, list]:
        """A timestamp parameter, in the form the database compares correctly."""
        if self.pg:
            return "CAST(%s AS timestamptz)", [value]
        from django.db import connection

        return "%s", [connection.ops.adapt_datetimefield_value(value)]

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.pg else f"MIN({a}, {b})"

    def column(self, field: str) -> tuple[str, list]:
        if field.startswith(ATTRIBUTE_PREFIX):
            key = field[len(ATTRIBUTE_PREFIX) :]
            if self.pg:
                return 'l."attributes" ->> %s', [key]
            return 'json_extract(l."attributes", %s)', [f'$."{key}"']
        if lookup_field(field) is None:
            raise ValueError(f"unknown lead field {field!r}")
        return f'l."{field}"', []

    # --- rules --------------------------------------------------------------------------------

    def condition(self, c: engine.Condition) -> tuple[str, list]:
        """A condition as a boolean SQL expression over the lead row `l`."""
        col, params = self.column(c.field)
        kind = lookup_field(c.field).kind
        op = c.operator
        if op == engine.EMPTY:
            if kind == NUMBER:
                return f"({col} IS NULL)", params
            return f"({col} IS NULL OR {col} = '')", params * 2
        if kind == NUMBER:
            low = _num(c.value)
            if op == engine.EQUALS:
                return f"({col} = %s)", [*params, low]
            if op == engine.AT_LEAST:
                return f"({col} >= %s)", [*params, low]
            if op == engine.AT_MOST:
                return f"({col} <= %s)", [*params, low]
            if op == engine.BETWEEN:
                return f"({col} >= %s AND {col} <= %s)", [*params, low, *params, _num(c.value_to)]
        else:
            if op == engine.EQUALS:
                return f"(LOWER({col}) = %s)", [*params, c.value.strip().lower()]
            if op == engine.ONE_OF:
                values = engine.split_values(c.value)
                return f"(LOWER({col}) IN ({', '.join(['%s'] * len(values))}))", [*params, *values]
            if op == engine.CONTAINS:
                find = "STRPOS(LOWER({0}), %s) > 0" if self.pg else "INSTR(LOWER({0}), %s) > 0"
                return "(" + find.format(col) + ")", [*params, c.value.strip().lower()]
        raise ValueError(f"operator {op!r} does not apply to {c.field}")

    def fit_sum(self) -> tuple[str, list]:
        parts, params = ["0"], []
        for criterion in self.matrix.criteria:
            cond, p = self.condition(criterion.condition)
            parts.append(f"(CASE WHEN {cond} THEN %s ELSE 0 END)")
            params += [*p, criterion.points]
        return " + ".join(parts), params

    def persona_case(self) -> tuple[str, list]:
        whens, params = [], []
        for persona in self.matrix.personas:
            if not persona.conditions:
                continue
            conds = []
            for c in persona.conditions:
                sql, p = self.condition(c)
                conds.append(sql)
                params += p
            whens.append(f"WHEN {' AND '.join(conds)} THEN %s")
            params.append(persona.key)
        if not whens:
            return "''", []
        return f"(CASE {' '.join(whens)} ELSE '' END)", params

    def by_type(self, column: str, values: dict[int, object], default: str = "NULL") -> tuple[str, list]:
        """CASE <column> WHEN type_id THEN value ... END, with parameters."""
        if not values:
            return default, []
        whens, params = [], []
        for type_id, value in values.items():
            whens.append("WHEN %s THEN %s")
            params += [type_id, value]
        return f"(CASE {column} {' '.join(whens)} ELSE {default} END)", params

    # --- the sales queue (mirrors leads/queue.py: next_queue_state) ----------------------------

    def due_for_bucket(self, bucket_column: str) -> tuple[str, list]:
        """CASE over bucket keys: when first contact falls due if the lead enters that bucket now."""
        whens, params = [], []
        for b in self.matrix.buckets:
            if b.sla_hours:
                t_sql, t_params = self.ts(self.now + timedelta(hours=b.sla_hours))
                whens.append(f"WHEN %s THEN {t_sql}")
                params += [b.key, *t_params]
        far_sql, far_params = self.ts(FAR_FUTURE)
        if not whens:
            return far_sql, far_params
        return f"(CASE {bucket_column} {' '.join(whens)} ELSE {far_sql} END)", params + far_params

    def queue_state_select(self) -> tuple[str, list]:
        """Join the new scores with each lead's queue state: recycled?, in the queue now (q)?"""
        now_sql, now_params = self.ts(self.now)
        query = f"""
WITH rc AS (
    SELECT r.id AS id,
           CASE WHEN l.closed_out AND r.in_queue AND (ob.rank IS NULL OR nb.rank > ob.rank)
                     AND (l.cool_off_until IS NULL OR l.cool_off_until <= {now_sql})
                THEN 1 ELSE 0 END AS recycle
    FROM lm_rescore r
    JOIN {LEAD} l ON l.id = r.id
    JOIN {BUCKET} nb ON nb.matrix_id = %s AND nb.key = r.bucket
    LEFT JOIN {BUCKET} ob ON ob.matrix_id = %s AND ob.key = l.bucket
)
SELECT r.id AS id, r.fit_points AS fit_points, r.persona AS persona, r.score AS score, r.grade AS grade,
       r.bucket AS bucket, r.bucket_priority AS bucket_priority, rc.recycle AS recycle,
       CASE WHEN r.in_queue AND (NOT l.closed_out OR rc.recycle = 1) THEN 1 ELSE 0 END AS q,
       l.in_queue AS old_q, l.bucket AS old_bucket
FROM lm_rescore r JOIN {LEAD} l ON l.id = r.id JOIN rc ON rc.id = r.id
"""
        return query, [*now_params, self.matrix_id, self.matrix_id]

    # --- the statement ------------------------------------------------------------------------

    def select(self, *, low: int, high: int | None, type_ids: dict[str, int]) -> tuple[str, list]:
        """SELECT id, fit_points, persona, score, grade, rank for leads with low < id <= high."""
        m = self.matrix
        weights = [w for w in m.weights if w.activity_type in type_ids]
        ids = {w.activity_type: type_ids[w.activity_type] for w in weights}
        rank = {b.key: b.rank for b in m.buckets}
        params: list = []

        lead_range = "l.id > %s" + (" AND l.id <= %s" if high is not None else "")
        range_params = [low] + ([high] if high is not None else [])
        act_range = lead_range.replace("l.id", "a.lead_id")

        fit_sql, fit_params = self.fit_sum()
        persona_sql, persona_params = self.persona_case()

        # Decay per activity: the engine's factor, by the type's half-life.
        half_lives = {ids[w.activity_type]: w.half_life_days for w in weights if w.half_life_days is not None}
        hl_sql, hl_params = self.by_type("a.activity_type_id", half_lives)
        if self.pg:
            now_sql, now_params = self.ts(self.now)
            age = (
                f"{self.greatest(f'EXTRACT(EPOCH FROM ({now_sql} - a.occurred_at))::float8', '0')} / 86400.0"
            )
            decay_sql = f"(CASE WHEN {hl_sql} IS NULL THEN 1.0 ELSE POWER(0.5, {age} / {hl_sql}) END)"
            decay_params = hl_params + now_params + hl_params
        else:
            now_sql, now_params = self.ts(self.now)
            decay_sql = f"lm_decay({now_sql}, a.occurred_at, {hl_sql})"
            decay_params = now_params + hl_params

        breadth = m.breadth
        since_sql, since_params = self.ts(self.now - timedelta(days=breadth.window_days if breadth else 0))

        # Per type: points × persona multiplier × decayed count, clamped to ±cap.
        points_sql, points_params = self.by_type(
            "p.type_id", {ids[w.activity_type]: w.points for w in weights}, "0"
        )
        mult_whens, mult_params = [], []
        for w in weights:
            for persona_key, multiplier in w.persona_multipliers.items():
                mult_whens.append("WHEN p.type_id = %s AND f.persona = %s THEN %s")
                mult_params += [ids[w.activity_type], persona_key, float(multiplier)]
        mult_sql = f"(CASE {' '.join(mult_whens)} ELSE 1.0 END)" if mult_whens else "1.0"
        cap_sql, cap_params = self.by_type(
            "p.type_id", {ids[w.activity_type]: w.cap for w in weights if w.cap is not None}
        )
        raw = f"({points_sql} * {mult_sql} * p.decayed)"
        raw_params = points_params + mult_params
        capped = (
            f"(CASE WHEN {cap_sql} IS NULL THEN {raw} "
            f"WHEN {raw} > 0 THEN {self.least(raw, cap_sql)} "
            # `0 - x`, not `-x`: PostgreSQL cannot type a unary minus on a bare NULL (no caps at all).
            f"ELSE {self.greatest(raw, f'0 - {cap_sql}')} END)"
        )
        capped_params = (
            cap_params + raw_params + raw_params + raw_params + cap_params + raw_params + cap_params
        )

        # Bucket floors and ceilings, while the type's latest activity is inside its window.
        def override(kind: str) -> tuple[str, list]:
            whens, p = [], []
            for w in weights:
                target = w.floor_bucket if kind == "floor" else w.ceiling_bucket
                if not target:
                    continue
                if w.override_days is None:
                    whens.append("WHEN t.type_id = %s THEN %s")
                    p += [ids[w.activity_type], rank[target]]
                else:
                    t_sql, t_params = self.ts(self.now - timedelta(days=w.override_days))
                    whens.append(f"WHEN t.type_id = %s AND t.last_at >= {t_sql} THEN %s")
                    p += [ids[w.activity_type], *t_params, rank[target]]
            # A typed NULL: PostgreSQL reads a bare NULL as text and cannot compare it with a rank.
            return (f"(CASE {' '.join(whens)} ELSE NULL END)" if whens else "CAST(NULL AS INTEGER)"), p

        floor_sql, floor_params = override("floor")
        ceiling_sql, ceiling_params = override("ceiling")

        if breadth is None:
            breadth_sql, breadth_params = "0", []
        else:
            units = (
                "COALESCE(e.recent_acts, 0)"
                if breadth.measure == engine.BREADTH_ACTIVITIES
                else "COALESCE(e.recent_types, 0)"
            )
            breadth_sql = f"({units} * %s)"
            breadth_params = [breadth.points]
            if breadth.cap is not None:
                breadth_sql = self.least(
                    f"CAST({breadth_sql} AS REAL)" if not self.pg else f"({breadth_sql})::float8", "%s"
                )
                breadth_params = [breadth.points, float(breadth.cap)]

        a, b, c = m.grade_cutoffs
        band_whens, band_params = [], []
        for band in m.bands:
            if band.high is None:
                band_whens.append("WHEN s.score >= %s THEN %s")
                band_params += [band.low, band.key]
            else:
                band_whens.append("WHEN s.score >= %s AND s.score <= %s THEN %s")
                band_params += [band.low, band.high, band.key]
        grid_whens, grid_params = [], []
        for (grade, band_key), bucket_key in m.grid.items():
            grid_whens.append("WHEN g.grade = %s AND g.band = %s THEN %s")
            grid_params += [grade, band_key, rank[bucket_key]]

        weighted_ids = sorted(ids.values()) or [-1]
        score_expr = self.greatest(f"CAST(FLOOR(COALESCE(e.total, 0) + {breadth_sql} + 0.5) AS INTEGER)", "0")
        query = f"""
WITH fit AS (
    SELECT l.id AS id, {fit_sql} AS fit_points, {persona_sql} AS persona
    FROM {LEAD} l WHERE {lead_range}
),
per_type AS (
    SELECT a.lead_id AS lead_id, a.activity_type_id AS type_id,
           SUM({decay_sql}) AS decayed,
           SUM(CASE WHEN a.occurred_at >= {since_sql} THEN 1 ELSE 0 END) AS recent,
           MAX(a.occurred_at) AS last_at
    FROM {ACTIVITY} a
    WHERE {act_range} AND a.activity_type_id IN ({", ".join(["%s"] * len(weighted_ids))})
    GROUP BY a.lead_id, a.activity_type_id
),
typed AS (
    SELECT p.lead_id AS lead_id, p.type_id AS type_id, p.recent AS recent, p.last_at AS last_at,
           {capped} AS pts
    FROM per_type p JOIN fit f ON f.id = p.lead_id
),
eng AS (
    SELECT t.lead_id AS lead_id, SUM(t.pts) AS total, SUM(t.recent) AS recent_acts,
           SUM(CASE WHEN t.recent > 0 THEN 1 ELSE 0 END) AS recent_types,
           MAX({floor_sql}) AS floor_rank, MIN({ceiling_sql}) AS ceiling_rank
    FROM typed t GROUP BY t.lead_id
),
scored AS (
    SELECT f.id AS id, f.fit_points AS fit_points, f.persona AS persona, {score_expr} AS score,
           e.floor_rank AS floor_rank, e.ceiling_rank AS ceiling_rank
    FROM fit f LEFT JOIN eng e ON e.lead_id = f.id
),
graded AS (
    SELECT s.*,
           CASE WHEN s.fit_points >= %s THEN 'A' WHEN s.fit_points >= %s THEN 'B'
                WHEN s.fit_points >= %s THEN 'C' ELSE 'D' END AS grade,
           CASE {" ".join(band_whens)} END AS band
    FROM scored s
),
routed AS (
    SELECT g.*, CASE {" ".join(grid_whens)} END AS grid_rank FROM graded g
),
floored AS (
    SELECT r.*, CASE WHEN r.floor_rank IS NOT NULL AND r.floor_rank > r.grid_rank
                     THEN r.floor_rank ELSE r.grid_rank END AS floored_rank
    FROM routed r
)
SELECT x.id AS id, x.fit_points AS fit_points, x.persona AS persona, x.score AS score, x.grade AS grade,
       bk.key AS bucket, bk.priority AS bucket_priority, bk.in_queue AS in_queue
FROM floored x
JOIN {BUCKET} bk ON bk.matrix_id = %s AND bk.rank =
     (CASE WHEN x.ceiling_rank IS NOT NULL AND x.ceiling_rank < x.floored_rank
           THEN x.ceiling_rank ELSE x.floored_rank END)
"""
        params += fit_params + persona_params + range_params
        params += decay_params + since_params + range_params + weighted_ids
        params += capped_params
        params += floor_params + ceiling_params
        params += breadth_params
        params += [a, b, c, *band_params]
        params += grid_params
        params += [self.matrix_id]
        return query, params

    def run_batch(self, *, low: int, high: int | None, cause: str) -> BatchCounts:
        """Rescore leads with low < id <= high inside the caller's transaction."""
        from django.db import connection

        type_ids = _activity_type_ids()
        query, params = self.select(low=low, high=high, type_ids=type_ids)
        lead_range = "id > %s" + (" AND id <= %s" if high is not None else "")
        range_params = [low] + ([high] if high is not None else [])
        now_sql, now_params = self.ts(self.now)
        with connection.cursor() as cur:
            if self.pg:
                # At a million leads the planner picks nested loops (and JIT-compiles them) for the
                # batch statement; measured with bench_scoring: 2,285 s for a full rescore as planned,
                # 56 s with these two settings, for this transaction only.
                cur.execute("SET LOCAL jit = off")
                cur.execute("SET LOCAL enable_nestloop = off")
                # Lock the batch in id order, as incremental rescoring does, so the two never deadlock
                # and no activity recorded meanwhile is overwritten by a stale score.
                cur.execute(
                    f"SELECT COUNT(*) FROM (SELECT id FROM {LEAD} WHERE {lead_range} ORDER BY id FOR UPDATE) locked",
                    range_params,
                )
                cur.execute("DROP TABLE IF EXISTS lm_rescore")
                cur.execute(f"CREATE TEMP TABLE lm_rescore ON COMMIT DROP AS {query}", params)
            else:
                cur.execute("DROP TABLE IF EXISTS temp.lm_rescore")
                cur.execute(f"CREATE TEMP TABLE lm_rescore AS {query}", params)
            cur.execute("SELECT COUNT(*) FROM lm_rescore")
            leads = cur.fetchone()[0]
            next_sql, next_params = self.queue_state_select()
            if self.pg:
                cur.execute("DROP TABLE IF EXISTS lm_next")
                cur.execute(f"CREATE TEMP TABLE lm_next ON COMMIT DROP AS {next_sql}", next_params)
            else:
                cur.execute("DROP TABLE IF EXISTS temp.lm_next")
                cur.execute(f"CREATE TEMP TABLE lm_next AS {next_sql}", next_params)
            cur.execute(
                f"""INSERT INTO {TRANSITION}
                        (lead_id, from_bucket, to_bucket, in_queue, grade, score, matrix_id, cause, at, by_id)
                    SELECT n.id, n.old_bucket, n.bucket, (n.q = 1), n.grade, n.score, %s,
                           CASE WHEN n.recycle = 1 THEN 'recycle' ELSE %s END, {now_sql}, NULL
                    FROM lm_next n WHERE n.old_bucket <> n.bucket OR n.old_q <> (n.q = 1) ORDER BY n.id""",
                [self.matrix_id, cause, *now_params],
            )
            transitions = cur.rowcount
            distinct = "IS DISTINCT FROM" if self.pg else "IS NOT"
            columns = ["fit_points", "grade", "score", "bucket", "bucket_priority", "persona"]
            differs = " OR ".join(f"{LEAD}.{c} {distinct} n.{c}" for c in columns)
            assignments = ", ".join(f"{c} = n.{c}" for c in columns)
            due_sql, due_params = self.due_for_bucket("n.bucket")
            far_sql, far_params = self.ts(FAR_FUTURE)
            entering = "(n.q = 1 AND NOT n.old_q)"
            cur.execute(
                f"""UPDATE {LEAD} SET {assignments},
                        in_queue = (n.q = 1),
                        closed_out = ({LEAD}.closed_out AND n.recycle = 0),
                        recycled_count = {LEAD}.recycled_count + n.recycle,
                        queue_entered_at = CASE WHEN {entering} THEN {now_sql} ELSE {LEAD}.queue_entered_at END,
                        first_contact_at = CASE WHEN {entering} THEN NULL ELSE {LEAD}.first_contact_at END,
                        due_at = CASE WHEN {entering} THEN {due_sql}
                                      WHEN n.q = 1 AND {LEAD}.first_contact_at IS NULL
                                          THEN {self.least(f"{LEAD}.due_at", due_sql)}
                                      WHEN n.q = 1 THEN {LEAD}.due_at
                                      ELSE {far_sql} END,
                        scored_version_id = %s, scored_at = {now_sql}
                    FROM lm_next n
                    WHERE {LEAD}.id = n.id AND ({differs} OR {LEAD}.in_queue {distinct} (n.q = 1)
                          OR n.recycle = 1 OR {LEAD}.scored_version_id {distinct} %s)""",
                [
                    *now_params,
                    *due_params,
                    *due_params,
                    *far_params,
                    self.matrix_id,
                    *now_params,
                    self.matrix_id,
                ],
            )
            changed = cur.rowcount
            cur.execute("DROP TABLE lm_next")
            cur.execute("DROP TABLE lm_rescore")
        return BatchCounts(leads=leads, changed=changed, transitions=transitions)


def _activity_type_ids() -> dict[str, int]:
    from scoring.models import ActivityType

    return dict(ActivityType.objects.values_list("key", "id"))


def _num(value: str) -> int | float:
    number = engine._number(value)
    if number is None:
        raise ValueError(f"{value!r} is not a number")
    return int(number) if number == number.to_integral_value() else float(number)
