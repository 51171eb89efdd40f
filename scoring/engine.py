"""The scoring engine: a pure function of (matrix, lead facts, activities, now).

No Django here. The matrix arrives as plain frozen dataclasses, the lead as a mapping of field names
to values, activities as (type, time) pairs, and `now` explicitly, so the same inputs always give the
same result. The set-based rescoring SQL in `scoring/rescore.py` mirrors these rules exactly; a
property test holds the two together.

Rules, in the order they apply:
1. Fit: every matching criterion adds its points; the total maps to a grade by cutoffs (A ≥ a, B ≥ b,
   C ≥ c, else D). Text compares case-insensitively; a missing value matches only `empty`.
2. Persona: the first persona whose conditions all match (none if none do).
3. Engagement: per activity type, the sum over its activities of 0.5 ** (age_days / half_life)
   (no decay without a half-life; activities in the future count as new), times the type's points,
   times the persona's multiplier; then the type's cap clamps that sum to ±cap. Breadth adds points
   per activity (or per distinct type) inside its window, up to its cap. The score is the total
   rounded half up, never below zero.
4. Bucket: the routing grid cell for (grade, the band holding the score); then activity types with a
   bucket floor raise it and those with a ceiling lower it, while their latest activity is inside the
   override window (a ceiling wins over a floor).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

GRADES = ("A", "B", "C", "D")

EQUALS = "equals"
ONE_OF = "one_of"
CONTAINS = "contains"
AT_LEAST = "at_least"
AT_MOST = "at_most"
BETWEEN = "between"
EMPTY = "empty"
NUMERIC_OPERATORS = frozenset({AT_LEAST, AT_MOST, BETWEEN})

BREADTH_ACTIVITIES = "activities"
BREADTH_TYPES = "types"

SECONDS_PER_DAY = 86400.0


# --- the matrix, as plain data ---------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A test on one lead field; `value_to` is the upper end of `between`."""

    field: str
    operator: str
    value: str = ""
    value_to: str = ""


@dataclass(frozen=True)
class Criterion:
    """A fit criterion: when its condition matches, the lead gets `points` fit points."""

    condition: Condition
    points: int
    label: str = ""


@dataclass(frozen=True)
class Persona:
    """A named kind of buyer; a lead is of the first persona whose conditions all match."""

    key: str
    name: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class ActivityWeight:
    """How one activity type counts: points, decay, cap, persona multipliers, bucket overrides."""

    activity_type: str
    points: int
    half_life_days: float | None = None
    cap: int | None = None
    persona_multipliers: Mapping[str, float] = field(default_factory=dict)
    floor_bucket: str | None = None
    ceiling_bucket: str | None = None
    override_days: int | None = None


@dataclass(frozen=True)
class Breadth:
    """Points for engaging broadly: per activity or per distinct type within a window, capped."""

    measure: str
    window_days: int
    points: int
    cap: int | None = None


@dataclass(frozen=True)
class Band:
    """An engagement score band, inclusive at both ends; `high` None is open-ended."""

    key: str
    low: int
    high: int | None

    @property
    def label(self) -> str:
        return f"{self.low}+" if self.high is None else f"{self.low}–{self.high}"

    def holds(self, score: int) -> bool:
        return score >= self.low and (self.high is None or score <= self.high)


@dataclass(frozen=True)
class Bucket:
    """Where a lead lands: its rank orders buckets from coldest (0) to hottest."""

    key: str
    name: str
    rank: int
    action: str = ""
    sla_hours: int | None = None
    priority: int = 100
    in_queue: bool = False


@dataclass(frozen=True)
class Matrix:
    """A whole scoring configuration."""

    version: int
    criteria: tuple[Criterion, ...]
    grade_cutoffs: tuple[int, int, int]
    weights: tuple[ActivityWeight, ...]
    bands: tuple[Band, ...]
    buckets: tuple[Bucket, ...]
    grid: Mapping[tuple[str, str], str]
    personas: tuple[Persona, ...] = ()
    breadth: Breadth | None = None

    def bucket(self, key: str) -> Bucket:
        return self._buckets_by_key()[key]

    def _buckets_by_key(self) -> dict[str, Bucket]:
        return {b.key: b for b in self.buckets}

    def weight_for(self, activity_type: str) -> ActivityWeight | None:
        for w in self.weights:
            if w.activity_type == activity_type:
                return w
        return None

    def band_for(self, score: int) -> Band:
        for band in self.bands:
            if band.holds(score):
                return band
        raise ValueError(f"no score band holds {score}")


@dataclass(frozen=True)
class ActivityFact:
    """One thing a lead did."""

    activity_type: str
    occurred_at: datetime


# --- the result, which explains itself ---------------------------------------------------------


@dataclass(frozen=True)
class CriterionHit:
    label: str
    field: str
    points: int


@dataclass(frozen=True)
class ActivityLine:
    """One activity's part: raw points, decay factor and what it adds before the type's cap."""

    activity_type: str
    occurred_at: datetime
    raw_points: float
    decay: float
    contribution: float


@dataclass(frozen=True)
class TypeTotal:
    """An activity type's sum before and after its cap."""

    activity_type: str
    count: int
    uncapped: float
    points: float
    capped: bool


@dataclass(frozen=True)
class NextStep:
    """The nearest hotter bucket reachable by engagement alone, and the points it needs."""

    bucket: str
    band: str
    points_needed: int


@dataclass(frozen=True)
class ScoreResult:
    fit_points: int
    grade: str
    persona: str | None
    score: int
    band: str
    grid_bucket: str
    bucket: str
    criteria: tuple[CriterionHit, ...]
    activities: tuple[ActivityLine, ...]
    types: tuple[TypeTotal, ...]
    breadth_points: float
    override: str | None
    next_step: NextStep | None

    @property
    def label(self) -> str:
        return f"{self.grade}{self.score}"


# --- rules ---------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).lower()
    return text if text != "" else None


def _number(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def split_values(value: str) -> list[str]:
    """The items of a `one of` value: separated by commas or new lines, blanks dropped."""
    return [part.strip().lower() for part in value.replace("\n", ",").split(",") if part.strip()]


def condition_matches(condition: Condition, facts: Mapping[str, object]) -> bool:
    """True when the lead's facts satisfy the condition."""
    raw = facts.get(condition.field)
    op = condition.operator
    if op == EMPTY:
        return raw is None or str(raw) == ""
    if op in NUMERIC_OPERATORS or (op == EQUALS and isinstance(raw, int | float | Decimal)):
        number = _number(raw)
        low = _number(condition.value)
        if number is None or low is None:
            return False
        if op == EQUALS:
            return number == low
        if op == AT_LEAST:
            return number >= low
        if op == AT_MOST:
            return number <= low
        high = _number(condition.value_to)
        return high is not None and low <= number <= high
    text = _text(raw)
    if text is None:
        return False
    if op == EQUALS:
        return text == condition.value.strip().lower()
    if op == ONE_OF:
        return text in split_values(condition.value)
    if op == CONTAINS:
        return condition.value.strip().lower() in text
    raise ValueError(f"unknown operator {op!r}")


def grade_for(fit_points: int, cutoffs: tuple[int, int, int]) -> str:
    """Map fit points to a grade by the A, B and C cutoffs."""
    for grade, cutoff in zip(GRADES, cutoffs, strict=False):
        if fit_points >= cutoff:
            return grade
    return "D"


def decay_factor(age_days: float, half_life_days: float | None) -> float:
    """0.5 ** (age / half-life); 1 without a half-life or for activities not yet in the past."""
    if half_life_days is None:
        return 1.0
    return 0.5 ** (max(age_days, 0.0) / half_life_days)


def age_in_days(now: datetime, then: datetime) -> float:
    """Age of an activity in (fractional) days."""
    return (now - then).total_seconds() / SECONDS_PER_DAY


def cap_points(total: float, cap: int | None) -> float:
    """Clamp a type's total to ±cap (a cap limits how far one type can move the score)."""
    if cap is None:
        return total
    return min(total, cap) if total > 0 else max(total, -cap)


def round_score(total: float) -> int:
    """Round half up and never go below zero."""
    return max(0, math.floor(total + 0.5))


def persona_of(matrix: Matrix, facts: Mapping[str, object]) -> str | None:
    """The key of the first persona whose conditions all match."""
    for persona in matrix.personas:
        if persona.conditions and all(condition_matches(c, facts) for c in persona.conditions):
            return persona.key
    return None


def score_lead(
    matrix: Matrix,
    facts: Mapping[str, object],
    activities: Iterable[ActivityFact],
    now: datetime,
) -> ScoreResult:
    """Score one lead against a matrix at time `now`, with an explanation of every point."""
    hits = tuple(
        CriterionHit(c.label or _describe(c.condition), c.condition.field, c.points)
        for c in matrix.criteria
        if condition_matches(c.condition, facts)
    )
    fit_points = sum(h.points for h in hits)
    grade = grade_for(fit_points, matrix.grade_cutoffs)
    persona = persona_of(matrix, facts)

    weights = {w.activity_type: w for w in matrix.weights}
    lines: list[ActivityLine] = []
    decayed: dict[str, float] = {}
    counts: dict[str, int] = {}
    latest: dict[str, datetime] = {}
    breadth_count = 0
    breadth_types: set[str] = set()
    breadth_since = now - timedelta(days=matrix.breadth.window_days) if matrix.breadth else None
    for activity in sorted(activities, key=lambda a: (a.occurred_at, a.activity_type)):
        weight = weights.get(activity.activity_type)
        if weight is None:
            continue
        factor = decay_factor(age_in_days(now, activity.occurred_at), weight.half_life_days)
        raw = weight.points * weight.persona_multipliers.get(persona, 1.0) if persona else weight.points
        lines.append(ActivityLine(activity.activity_type, activity.occurred_at, raw, factor, raw * factor))
        decayed[activity.activity_type] = decayed.get(activity.activity_type, 0.0) + factor
        counts[activity.activity_type] = counts.get(activity.activity_type, 0) + 1
        latest[activity.activity_type] = activity.occurred_at  # activities come sorted by time
        if breadth_since is not None and activity.occurred_at >= breadth_since:
            breadth_count += 1
            breadth_types.add(activity.activity_type)

    totals = []
    for activity_type in sorted(decayed):
        weight = weights[activity_type]
        multiplier = weight.persona_multipliers.get(persona, 1.0) if persona else 1.0
        uncapped = weight.points * multiplier * decayed[activity_type]
        points = cap_points(uncapped, weight.cap)
        totals.append(TypeTotal(activity_type, counts[activity_type], uncapped, points, points != uncapped))

    breadth_points = 0.0
    if matrix.breadth is not None:
        units = breadth_count if matrix.breadth.measure == BREADTH_ACTIVITIES else len(breadth_types)
        breadth_points = float(units * matrix.breadth.points)
        if matrix.breadth.cap is not None:
            breadth_points = min(breadth_points, float(matrix.breadth.cap))

    score = round_score(sum(t.points for t in totals) + breadth_points)
    band = matrix.band_for(score)
    grid_bucket = matrix.grid[(grade, band.key)]
    bucket, override = _apply_overrides(matrix, grid_bucket, latest, now)
    return ScoreResult(
        fit_points=fit_points,
        grade=grade,
        persona=persona,
        score=score,
        band=band.key,
        grid_bucket=grid_bucket,
        bucket=bucket,
        criteria=hits,
        activities=tuple(lines),
        types=tuple(totals),
        breadth_points=breadth_points,
        override=override,
        next_step=next_step(matrix, grade, score, bucket),
    )


def _apply_overrides(
    matrix: Matrix, bucket: str, latest: Mapping[str, datetime], now: datetime
) -> tuple[str, str | None]:
    """Raise the bucket to active floors, then lower it to active ceilings (a ceiling wins)."""
    rank = {b.key: b.rank for b in matrix.buckets}
    by_rank = {b.rank: b.key for b in matrix.buckets}
    floor = ceiling = None
    floor_by = ceiling_by = None
    for weight in matrix.weights:
        last = latest.get(weight.activity_type)
        if last is None:
            continue
        if weight.override_days is not None and last < now - timedelta(days=weight.override_days):
            continue
        if weight.floor_bucket and (floor is None or rank[weight.floor_bucket] > floor):
            floor, floor_by = rank[weight.floor_bucket], weight.activity_type
        if weight.ceiling_bucket and (ceiling is None or rank[weight.ceiling_bucket] < ceiling):
            ceiling, ceiling_by = rank[weight.ceiling_bucket], weight.activity_type
    current = rank[bucket]
    override = None
    if floor is not None and floor > current:
        current, override = floor, floor_by
    if ceiling is not None and ceiling < current:
        current, override = ceiling, ceiling_by
    return by_rank[current], override


def next_step(matrix: Matrix, grade: str, score: int, bucket: str) -> NextStep | None:
    """The nearest band above the score whose cell (same grade) is a hotter bucket than now."""
    current_rank = matrix.bucket(bucket).rank
    for band in sorted(matrix.bands, key=lambda b: b.low):
        if band.low <= score:
            continue
        target = matrix.grid[(grade, band.key)]
        if matrix.bucket(target).rank > current_rank:
            return NextStep(target, band.key, band.low - score)
    return None


def _describe(condition: Condition) -> str:
    if condition.operator == EMPTY:
        return f"{condition.field} is empty"
    if condition.operator == BETWEEN:
        return f"{condition.field} between {condition.value} and {condition.value_to}"
    return f"{condition.field} {condition.operator.replace('_', ' ')} {condition.value}"
