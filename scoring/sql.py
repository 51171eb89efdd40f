"""The engine's rules as one set-based SQL statement per batch of leads (SQLite and PostgreSQL).

Every rule in `scoring.engine` has its counterpart here; keep the two in step (the property test
`tests/scoring/test_rescore_agrees.py` fails when they drift). On SQLite the decay factor and LOWER
are Python functions registered on the connection (`register_sqlite_functions`), so they are the
engine's own code; on PostgreSQL they are `POWER` and `lower`, which give the same doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from leads.queue import FAR_FUTURE
from scoring import engine
from scoring.fields import ATTRIBUTE_PREFIX, NUMBER, lookup_field

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LEAD = "leads_lead"
ACTIVITY = "leads_activity"
TRANSITION = "leads_transition"
BUCKET = "scoring_bucket"
ACTIVITY_TYPE = "scoring_activitytype"
# Each batch's new scores, read by the transitions insert, the update and the impact preview.
BATCH = "lm_rescore"


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

    @property
    def real_type(self) -> str:
        return "DOUBLE PRECISION" if self.pg else "REAL"

    def real(self, expr: str) -> str:
        """A double, also for a parameter: a Python float bound client-side is a `numeric` literal."""
        return f"CAST({expr} AS {self.real_type})"

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
        """CASE <column> WHEN type_id THEN value ... END, with parameters (floats as doubles)."""
        if not values:
            return default, []
        whens, params = [], []
        for type_id, value in values.items():
            whens.append(f"WHEN %s THEN {self.real('%s') if isinstance(value, float) else '%s'}")
            params += [type_id, value]
        return f"(CASE {column} {' '.join(whens)} ELSE {default} END)", params

    def decay(self, ids: dict[str, int], weights: list[engine.ActivityWeight]) -> tuple[str, list]:
        """Each activity's decay factor, to the last bit the engine's `decay_factor(age_in_days(...))`."""
        half_lives = {
            ids[w.activity_type]: float(w.half_life_days) for w in weights if w.half_life_days is not None
        }
        if not self.pg:
            hl_sql, hl_params = self.by_type("a.activity_type_id", half_lives)
            now_sql, now_params = self.ts(self.now)
            return f"lm_decay({now_sql}, a.occurred_at, {hl_sql})", now_params + hl_params
        # The engine's age is (now - then) in whole microseconds / 10**6 / 86400, each step rounded
        # once. date_part('epoch') is a double of the microseconds / 10**6; for any time between 1834
        # and 2106 it is within 0.24 µs of the exact value and its product with 10**6 adds at most
        # 0.25 µs, under half a microsecond in all, so ROUND(x * 10**6) gives back the exact
        # microseconds and the rest is the engine's own float arithmetic, in doubles: no numeric per
        # activity, which cost a quarter of the batch. Without a half-life the divisor is infinite:
        # 0.5 ^ 0 = 1.0.
        hl_sql, hl_params = self.by_type(
            "a.activity_type_id", half_lives, "CAST('Infinity' AS DOUBLE PRECISION)"
        )
        now_us = (self.now - EPOCH) // timedelta(microseconds=1)
        age = (
            "GREATEST(CAST(%s AS DOUBLE PRECISION) - ROUND(date_part('epoch', a.occurred_at) * 1e6::float8), 0)"
            " / 1e6::float8 / 86400::float8"
        )
        # PostgreSQL raises an error where 0.5 ^ x underflows (x > 1075, e.g. two years at a
        # half-life of one day) and Python returns 0.0; capped at 1074 it is the smallest double,
        # 5e-324, which no score rounded to a whole number can tell from 0.
        return f"POWER(0.5::float8, LEAST({age} / {hl_sql}, 1074))", [float(now_us), *hl_params]

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

    # --- the statement ------------------------------------------------------------------------

    def lead_filter(self, column: str, lead_ids: list[int]) -> tuple[str, list]:
        """`column` is one of the ids: one array parameter on PostgreSQL, a list of placeholders on SQLite."""
        if self.pg:
            return f"{column} = ANY(%s::bigint[])", [list(lead_ids)]
        return f"{column} IN ({', '.join(['%s'] * len(lead_ids))})", list(lead_ids)

    def select(
        self,
        *,
        low: int = 0,
        high: int | None = None,
        type_ids: dict[str, int],
        lead_ids: list[int] | None = None,
    ) -> tuple[str, list]:
        """One row per lead with low < id <= high (or with an id in `lead_ids`): new scores, bucket
        and queue state, and the old ones.

        Columns: id, fit_points, persona, score, grade, bucket, bucket_priority, in_queue (of the new
        bucket), recycle and q (1 or 0: recycled, in the queue after this), old_bucket, old_q.
        """
        m = self.matrix
        weights = [w for w in m.weights if w.activity_type in type_ids]
        ids = {w.activity_type: type_ids[w.activity_type] for w in weights}
        rank = {b.key: b.rank for b in m.buckets}
        real = self.real

        if lead_ids is not None:
            lead_range, range_params = self.lead_filter("l.id", lead_ids)
            act_range = self.lead_filter("a.lead_id", lead_ids)[0]
        else:
            lead_range = "l.id > %s" + (" AND l.id <= %s" if high is not None else "")
            range_params = [low] + ([high] if high is not None else [])
            act_range = lead_range.replace("l.id", "a.lead_id")

        fit_sql, fit_params = self.fit_sum()
        persona_sql, persona_params = self.persona_case()
        decay_sql, decay_params = self.decay(ids, weights)

        breadth = m.breadth
        # Aggregates cost per activity, so each runs only where a rule reads it: the count inside
        # the breadth window only with breadth, the latest time only for types whose floor or
        # ceiling lasts `override_days`.
        if breadth is None:
            recent_sql, recent_params = "0", []
        else:
            since_sql, since_params = self.ts(self.now - timedelta(days=breadth.window_days))
            recent_sql = f"COUNT(*) FILTER (WHERE a.occurred_at >= {since_sql})"
            recent_params = since_params
        timed_ids = [
            ids[w.activity_type]
            for w in weights
            if (w.floor_bucket or w.ceiling_bucket) and w.override_days is not None
        ]
        if timed_ids:
            last_sql = f"MAX(a.occurred_at) FILTER (WHERE a.activity_type_id IN ({', '.join(['%s'] * len(timed_ids))}))"
        else:
            last_sql, timed_ids = "NULL", []

        # Per type: points × persona multiplier × decayed count, clamped to ±cap. The factors are
        # doubles multiplied in the engine's order, so the products are the engine's to the last bit.
        points_sql, points_params = self.by_type(
            "p.type_id", {ids[w.activity_type]: float(w.points) for w in weights}, real("0")
        )
        mult_whens, mult_params = [], []
        for w in weights:
            for persona_key, multiplier in w.persona_multipliers.items():
                mult_whens.append(f"WHEN p.type_id = %s AND f.persona = %s THEN {real('%s')}")
                mult_params += [ids[w.activity_type], persona_key, float(multiplier)]
        mult_sql = f"(CASE {' '.join(mult_whens)} ELSE {real('1.0')} END)" if mult_whens else real("1.0")
        cap_sql, cap_params = self.by_type(
            "p.type_id", {ids[w.activity_type]: float(w.cap) for w in weights if w.cap is not None}
        )
        raw = f"({points_sql} * {mult_sql} * p.decayed)"
        # The engine's cap, min(x, cap) if x > 0 else max(x, -cap), is max(min(x, cap), -cap) for a
        # cap >= 0 (the field is a PositiveIntegerField): x appears once, so it is computed once.
        if not cap_params:
            capped, capped_params = raw, points_params + mult_params
        elif self.pg:  # LEAST and GREATEST skip a NULL cap
            capped = f"GREATEST(LEAST({raw}, {cap_sql}), 0 - {cap_sql})"
            capped_params = points_params + mult_params + cap_params + cap_params
        else:  # SQLite's MIN and MAX return NULL for a NULL cap
            capped = f"COALESCE(MAX(MIN({raw}, {cap_sql}), 0 - {cap_sql}), {raw})"
            capped_params = points_params + mult_params + cap_params * 2 + points_params + mult_params

        # Bucket floors and ceilings, while the type's latest activity is inside its window.
        def override(kind: str) -> tuple[str, list]:
            whens, p = [], []
            for w in weights:
                target = w.floor_bucket if kind == "floor" else w.ceiling_bucket
                if not target:
                    continue
                if w.override_days is None:
                    whens.append("WHEN p.type_id = %s THEN %s")
                    p += [ids[w.activity_type], rank[target]]
                else:
                    t_sql, t_params = self.ts(self.now - timedelta(days=w.override_days))
                    whens.append(f"WHEN p.type_id = %s AND p.last_at >= {t_sql} THEN %s")
                    p += [ids[w.activity_type], *t_params, rank[target]]
            # A typed NULL: PostgreSQL reads a bare NULL as text and cannot compare it with a rank.
            return (f"(CASE {' '.join(whens)} ELSE NULL END)" if whens else "CAST(NULL AS INTEGER)"), p

        floor_sql, floor_params = override("floor")
        ceiling_sql, ceiling_params = override("ceiling")

        if breadth is None:
            breadth_sql, breadth_params = real("0"), []
        else:
            units = "e.recent_acts" if breadth.measure == engine.BREADTH_ACTIVITIES else "e.recent_types"
            breadth_sql = f"CAST(COALESCE({units}, 0) * %s AS {self.real_type})"
            breadth_params = [breadth.points]
            if breadth.cap is not None:
                breadth_sql = self.least(breadth_sql, real("%s"))
                breadth_params = [breadth.points, float(breadth.cap)]

        a, b, c = m.grade_cutoffs
        # The routing grid as integer tests only: per grade (by the cutoffs), the first band that
        # holds the score, as the engine's band_for picks it, gives the cell's bucket rank.
        grid_whens, grid_params = [], []
        for grade, cutoff in (("A", a), ("B", b), ("C", c), ("D", None)):
            band_whens, band_params = [], []
            for band in m.bands:
                cell = m.grid.get((grade, band.key))
                if band.high is None:
                    band_whens.append("WHEN s.score >= %s THEN %s")
                    band_params += [band.low, rank.get(cell)]
                else:
                    band_whens.append("WHEN s.score >= %s AND s.score <= %s THEN %s")
                    band_params += [band.low, band.high, rank.get(cell)]
            cell_sql = f"CAST(CASE {' '.join(band_whens)} END AS INTEGER)"
            if cutoff is None:
                grid_whens.append(f"ELSE {cell_sql}")
                grid_params += band_params
            else:
                grid_whens.append(f"WHEN s.fit_points >= %s THEN {cell_sql}")
                grid_params += [cutoff, *band_params]
        # The old bucket's rank in this matrix (NULL for a bucket it does not have), for recycling.
        old_rank_whens, old_rank_params = [], []
        for bucket in m.buckets:
            old_rank_whens.append("WHEN %s THEN %s")
            old_rank_params += [bucket.key, bucket.rank]
        now_sql, now_params = self.ts(self.now)

        # Only weighted types count. The test runs once per activity, so it names the shorter list
        # of types, and is left out when the matrix weights every type (as the starting one does).
        weighted = sorted(ids.values())
        unweighted = sorted(set(type_ids.values()) - set(weighted))
        if not unweighted:
            type_filter, type_params = "", []
        elif weighted and len(unweighted) < len(weighted):
            type_filter = f" AND a.activity_type_id NOT IN ({', '.join(['%s'] * len(unweighted))})"
            type_params = unweighted
        else:
            type_filter = f" AND a.activity_type_id IN ({', '.join(['%s'] * max(len(weighted), 1))})"
            type_params = weighted or [-1]
        score_expr = self.greatest(
            f"CAST(FLOOR(COALESCE(e.total, {real('0')}) + {breadth_sql} + {real('0.5')}) AS INTEGER)", "0"
        )
        # Every CTE that later steps read more than once is MATERIALIZED: inlined, PostgreSQL would
        # copy the decayed sums and the score into every CASE that reads them (a 2 MB expression
        # tree per batch, evaluated many times over per lead).
        query = f"""
WITH fit AS MATERIALIZED (
    SELECT l.id AS id, {fit_sql} AS fit_points, {persona_sql} AS persona,
           l.bucket AS old_bucket, l.in_queue AS old_in_queue, l.closed_out AS closed_out,
           l.cool_off_until AS cool_off_until
    FROM {LEAD} l WHERE {lead_range}
),
per_type AS (
    SELECT a.lead_id AS lead_id, a.activity_type_id AS type_id,
           SUM({decay_sql}) AS decayed,
           {recent_sql} AS recent, {last_sql} AS last_at
    FROM {ACTIVITY} a
    WHERE {act_range}{type_filter}
    GROUP BY a.lead_id, a.activity_type_id
),
typed AS (
    SELECT p.lead_id AS lead_id, p.recent AS recent, {capped} AS pts,
           {floor_sql} AS floor_rank, {ceiling_sql} AS ceiling_rank
    FROM per_type p JOIN fit f ON f.id = p.lead_id
),
eng AS (
    SELECT t.lead_id AS lead_id, SUM(t.pts) AS total, SUM(t.recent) AS recent_acts,
           SUM(CASE WHEN t.recent > 0 THEN 1 ELSE 0 END) AS recent_types,
           MAX(t.floor_rank) AS floor_rank, MIN(t.ceiling_rank) AS ceiling_rank
    FROM typed t GROUP BY t.lead_id
),
scored AS MATERIALIZED (
    SELECT f.id AS id, f.fit_points AS fit_points, f.persona AS persona, {score_expr} AS score,
           e.floor_rank AS floor_rank, e.ceiling_rank AS ceiling_rank,
           f.old_bucket AS old_bucket, f.old_in_queue AS old_in_queue, f.closed_out AS closed_out,
           f.cool_off_until AS cool_off_until
    FROM fit f LEFT JOIN eng e ON e.lead_id = f.id
),
routed AS MATERIALIZED (
    SELECT s.*,
           CASE WHEN s.fit_points >= %s THEN 'A' WHEN s.fit_points >= %s THEN 'B'
                WHEN s.fit_points >= %s THEN 'C' ELSE 'D' END AS grade,
           CASE {" ".join(grid_whens)} END AS grid_rank,
           CASE s.old_bucket {" ".join(old_rank_whens)} ELSE NULL END AS old_rank
    FROM scored s
),
bucketed AS (
    SELECT r.*, CASE WHEN r.ceiling_rank IS NOT NULL AND r.ceiling_rank < (
                         CASE WHEN r.floor_rank IS NOT NULL AND r.floor_rank > r.grid_rank
                              THEN r.floor_rank ELSE r.grid_rank END)
                     THEN r.ceiling_rank
                     WHEN r.floor_rank IS NOT NULL AND r.floor_rank > r.grid_rank THEN r.floor_rank
                     ELSE r.grid_rank END AS rank
    FROM routed r
),
queued AS (
    -- The sales queue, as leads/queue.py: next_queue_state decides it.
    SELECT x.*, bk.key AS bucket, bk.priority AS bucket_priority, bk.in_queue AS in_queue,
           CASE WHEN x.closed_out AND bk.in_queue AND (x.old_rank IS NULL OR x.rank > x.old_rank)
                     AND (x.cool_off_until IS NULL OR x.cool_off_until <= {now_sql})
                THEN 1 ELSE 0 END AS recycle
    FROM bucketed x JOIN {BUCKET} bk ON bk.matrix_id = %s AND bk.rank = x.rank
)
SELECT q.id AS id, q.fit_points AS fit_points, q.persona AS persona, q.score AS score, q.grade AS grade,
       q.bucket AS bucket, q.bucket_priority AS bucket_priority, q.in_queue AS in_queue,
       q.recycle AS recycle,
       CASE WHEN q.in_queue AND (NOT q.closed_out OR q.recycle = 1) THEN 1 ELSE 0 END AS q,
       q.old_bucket AS old_bucket, q.old_in_queue AS old_q
FROM queued q
"""
        params = fit_params + persona_params + range_params
        params += decay_params + recent_params + timed_ids + range_params + type_params
        params += capped_params + floor_params + ceiling_params
        params += breadth_params
        params += [a, b, c, *grid_params, *old_rank_params]
        params += [*now_params, self.matrix_id]
        return query, params

    def queue_state_select(self) -> tuple[str, list]:
        """The batch table's new scores and queue state (`q`), as the impact preview reads them."""
        return f"SELECT * FROM {BATCH}", []

    def transitions_insert(self, cause: str, *, source: str = BATCH) -> tuple[str, list]:
        """INSERT of a transition row for each lead of `source` whose bucket or queue state changes."""
        now_sql, now_params = self.ts(self.now)
        return (
            f"""INSERT INTO {TRANSITION}
                    (lead_id, from_bucket, to_bucket, in_queue, grade, score, matrix_id, cause, at, by_id)
                SELECT n.id, n.old_bucket, n.bucket, (n.q = 1), n.grade, n.score, %s,
                       CASE WHEN n.recycle = 1 THEN 'recycle' ELSE %s END, {now_sql}, NULL
                FROM {source} n WHERE n.old_bucket <> n.bucket OR n.old_q <> (n.q = 1) ORDER BY n.id""",
            [self.matrix_id, cause, *now_params],
        )

    def score_assignments(self) -> tuple[str, list]:
        """The SET list that writes a new score row `n` and its queue state (leads/queue.py) to the lead."""
        columns = ["fit_points", "grade", "score", "bucket", "bucket_priority", "persona"]
        assignments = ", ".join(f"{c} = n.{c}" for c in columns)
        now_sql, now_params = self.ts(self.now)
        due_sql, due_params = self.due_for_bucket("n.bucket")
        far_sql, far_params = self.ts(FAR_FUTURE)
        entering = "(n.q = 1 AND NOT n.old_q)"
        sql = f"""{assignments},
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
                        scored_version_id = %s, scored_at = {now_sql}"""
        params = [*now_params, *due_params, *due_params, *far_params, self.matrix_id, *now_params]
        return sql, params

    def run_leads(
        self, *, lead_ids: list[int], cause: str, last_activity: dict[int, datetime] | None = None
    ) -> int:
        """Rescore the leads with these ids inside the caller's transaction; returns the transitions written.

        What `rescore.rescore_leads` does with the engine, set-based: the leads are locked in id
        order, every one is written (score, queue state, `scored_at`), and `last_activity` (lead id →
        newest new activity) moves `last_activity_at` forward in the same write.
        """
        from django.db import connection

        ids = sorted(set(lead_ids))
        if not ids:
            return 0
        last_activity = last_activity or {}
        type_ids = _activity_type_ids_cached()
        query, params = self.select(type_ids=type_ids, lead_ids=ids)
        sets_sql, sets_params = self.score_assignments()
        moves_sql, moves_params = self.transitions_insert(cause, source="n")
        with connection.cursor() as cur:
            if self.pg:
                # One round trip to lock, one to score and write. The lock comes first and alone: the
                # scoring statement's snapshot is taken after it, so it sees every activity a batch
                # that held these leads committed. JIT off as in run_batch (it compiles for longer
                # than the statement runs). Unlike an id range, an id array lets the planner count
                # the leads, so it needs no help against nested loops (EXPLAIN ANALYZE, 900 leads of
                # 20 activities: 20 ms either way).
                lock, lock_params = self.lead_filter("id", ids)
                cur.execute(
                    "SELECT set_config('jit', 'off', true), COUNT(*)"
                    f" FROM (SELECT id FROM {LEAD} WHERE {lock} ORDER BY id FOR NO KEY UPDATE) locked",
                    lock_params,
                )
                latest_ids = sorted(last_activity)
                cur.execute(
                    f"""WITH n AS MATERIALIZED ({query}),
                    latest AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)),
                    moved AS ({moves_sql} RETURNING 1),
                    written AS (
                        UPDATE {LEAD} SET {sets_sql},
                            last_activity_at = GREATEST({LEAD}.last_activity_at, latest.at)
                        FROM n LEFT JOIN latest ON latest.id = n.id
                        WHERE {LEAD}.id = n.id RETURNING 1
                    )
                    SELECT (SELECT COUNT(*) FROM moved), (SELECT COUNT(*) FROM written)""",
                    [
                        *params,
                        latest_ids,
                        [last_activity[pk] for pk in latest_ids],
                        *moves_params,
                        *sets_params,
                    ],
                )
                return cur.fetchone()[0]
            if last_activity:
                cur.executemany(
                    f"UPDATE {LEAD} SET last_activity_at = %s"
                    " WHERE id = %s AND (last_activity_at IS NULL OR last_activity_at < %s)",
                    [
                        [
                            connection.ops.adapt_datetimefield_value(at),
                            pk,
                            connection.ops.adapt_datetimefield_value(at),
                        ]
                        for pk, at in last_activity.items()
                    ],
                )
            cur.execute(f"DROP TABLE IF EXISTS temp.{BATCH}")
            cur.execute(f"CREATE TEMP TABLE {BATCH} AS {query}", params)
            cur.execute(*self.transitions_insert(cause))
            transitions = cur.rowcount
            cur.execute(f"UPDATE {LEAD} SET {sets_sql} FROM {BATCH} n WHERE {LEAD}.id = n.id", sets_params)
            cur.execute(f"DROP TABLE {BATCH}")
        return transitions

    def run_batch(self, *, low: int, high: int | None, cause: str) -> BatchCounts:
        """Rescore leads with low < id <= high inside the caller's transaction."""
        from django.db import connection

        type_ids = _activity_type_ids()
        query, params = self.select(low=low, high=high, type_ids=type_ids)
        lead_range = "id > %s" + (" AND id <= %s" if high is not None else "")
        range_params = [low] + ([high] if high is not None else [])
        with connection.cursor() as cur:
            if self.pg:
                # Measured with bench_scoring at a million leads: JIT compiles the batch statement for
                # longer than it runs, so it is off for this transaction.
                cur.execute("SET LOCAL jit = off")
                # The batch's sorts and hashes fit in memory instead of spilling to temporary files.
                cur.execute("SET LOCAL work_mem = '64MB'")
                # A batch need not wait for its commit to reach the disk: the run's progress is saved
                # by a later, synchronous commit, which flushes the log up to and past this one.
                cur.execute("SET LOCAL synchronous_commit = off")
                # Lock the batch in id order, as incremental rescoring does, so the two never deadlock
                # and no activity recorded meanwhile is overwritten by a stale score.
                cur.execute(
                    f"SELECT COUNT(*) FROM (SELECT id FROM {LEAD} WHERE {lead_range} ORDER BY id FOR UPDATE) locked",
                    range_params,
                )
                cur.execute(f"DROP TABLE IF EXISTS {BATCH}")
                # The planner cannot estimate how many leads the per-type sums group into (it assumes
                # 200) and would join the batch's leads to them by a nested loop: 20,000 x 20,000
                # comparisons, over a minute per batch. For this statement only; the statements after
                # it join the batch table to leads_lead by id, which a nested loop does best.
                cur.execute("SET LOCAL enable_nestloop = off")
                cur.execute(f"CREATE TEMP TABLE {BATCH} ON COMMIT DROP AS {query}", params)
                cur.execute("SET LOCAL enable_nestloop = on")
            else:
                cur.execute(f"DROP TABLE IF EXISTS temp.{BATCH}")
                cur.execute(f"CREATE TEMP TABLE {BATCH} AS {query}", params)
            cur.execute(f"SELECT COUNT(*) FROM {BATCH}")
            leads = cur.fetchone()[0]
            moves_sql, moves_params = self.transitions_insert(cause)
            cur.execute(moves_sql, moves_params)
            transitions = cur.rowcount
            distinct = "IS DISTINCT FROM" if self.pg else "IS NOT"
            columns = ["fit_points", "grade", "score", "bucket", "bucket_priority", "persona"]
            differs = " OR ".join(f"{LEAD}.{c} {distinct} n.{c}" for c in columns)
            sets_sql, sets_params = self.score_assignments()
            # The id range as well as the join: it lets PostgreSQL read only this batch's index range.
            cur.execute(
                f"""UPDATE {LEAD} SET {sets_sql}
                    FROM {BATCH} n
                    WHERE {LEAD}.id = n.id AND {lead_range.replace("id", f"{LEAD}.id")}
                          AND ({differs} OR {LEAD}.in_queue {distinct} (n.q = 1)
                               OR n.recycle = 1 OR {LEAD}.scored_version_id {distinct} %s)""",
                [*sets_params, *range_params, self.matrix_id],
            )
            changed = cur.rowcount
            cur.execute(f"DROP TABLE {BATCH}")
        return BatchCounts(leads=leads, changed=changed, transitions=transitions)


def _activity_type_ids_cached() -> dict[str, int]:
    """Activity type keys and ids, kept per process for ingest (types are only added; see leads.ingest)."""
    from leads.ingest import activity_type_ids

    return activity_type_ids()


def _activity_type_ids() -> dict[str, int]:
    from scoring.models import ActivityType

    return dict(ActivityType.objects.values_list("key", "id"))


def _num(value: str) -> int | float:
    number = engine._number(value)
    if number is None:
        raise ValueError(f"{value!r} is not a number")
    return int(number) if number == number.to_integral_value() else float(number)
