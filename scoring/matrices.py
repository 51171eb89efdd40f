"""Reading a matrix version: its validation and its plain-data form for the engine."""

from __future__ import annotations

from itertools import pairwise

from django.core.exceptions import ValidationError

from scoring import engine
from scoring.models import ScoringMatrix, condition_errors

_published_cache: dict[tuple[int, object], engine.Matrix] = {}
_CACHEABLE = {ScoringMatrix.Status.ACTIVE, ScoringMatrix.Status.RETIRED}


def engine_matrix(matrix: ScoringMatrix) -> engine.Matrix:
    """The matrix as the engine's frozen dataclasses.

    Published versions never change, so they are cached per process, keyed by id *and* publication
    time (an id alone can come back for another version after a rolled-back transaction).
    """
    key = (matrix.pk, matrix.published_at)
    if matrix.status in _CACHEABLE and key in _published_cache:
        return _published_cache[key]
    buckets = list(matrix.buckets.all())
    bucket_key = {b.pk: b.key for b in buckets}
    bands = list(matrix.bands.all())
    personas = list(matrix.personas.prefetch_related("rules"))
    persona_key = {p.pk: p.key for p in personas}
    weights = matrix.weights.select_related("activity_type").prefetch_related("persona_weights")
    result = engine.Matrix(
        version=matrix.version,
        criteria=tuple(
            engine.Criterion(c.as_condition(), c.points, c.label or "") for c in matrix.criteria.all()
        ),
        grade_cutoffs=(matrix.grade_a_min, matrix.grade_b_min, matrix.grade_c_min),
        weights=tuple(
            engine.ActivityWeight(
                activity_type=w.activity_type.key,
                points=w.points,
                half_life_days=w.half_life_days,
                cap=w.cap,
                persona_multipliers={
                    persona_key[pw.persona_id]: pw.multiplier for pw in w.persona_weights.all()
                },
                floor_bucket=bucket_key.get(w.floor_bucket_id),
                ceiling_bucket=bucket_key.get(w.ceiling_bucket_id),
                override_days=w.override_days,
            )
            for w in weights
        ),
        bands=tuple(engine.Band(b.key, b.low, b.high) for b in bands),
        buckets=tuple(
            engine.Bucket(b.key, b.name, b.rank, b.action, b.sla_hours, b.priority, b.in_queue)
            for b in buckets
        ),
        grid={
            (cell.grade, cell.band.key): bucket_key[cell.bucket_id]
            for cell in matrix.cells.select_related("band")
        },
        personas=tuple(
            engine.Persona(p.key, p.name, tuple(r.as_condition() for r in p.rules.all())) for p in personas
        ),
        breadth=engine.Breadth(
            matrix.breadth_measure, matrix.breadth_window_days, matrix.breadth_points, matrix.breadth_cap
        )
        if matrix.breadth_measure
        else None,
    )
    if matrix.status in _CACHEABLE:
        _published_cache[key] = result
    return result


def matrix_problems(matrix: ScoringMatrix) -> list[str]:
    """Everything that keeps a matrix from scoring leads, in words a marketer can act on."""
    problems: list[str] = []
    try:
        matrix.clean()
    except ValidationError as exc:
        problems.extend(exc.messages)

    bands = sorted(matrix.bands.all(), key=lambda b: b.low)
    if not bands:
        problems.append("Add at least one score band.")
    else:
        if bands[0].low != 0:
            problems.append(f"Score bands must start at 0; the lowest starts at {bands[0].low}.")
        for lower, upper in pairwise(bands):
            if lower.high is None or lower.high >= upper.low:
                problems.append(f"Score bands {lower.label} and {upper.label} overlap.")
            elif lower.high + 1 != upper.low:
                problems.append(
                    f"Scores {lower.high + 1}–{upper.low - 1} fall between bands {lower.label} and {upper.label}."
                )
        for band in bands:
            if band.high is not None and band.high < band.low:
                problems.append(f"Score band {band.label} ends before it starts.")
        if bands[-1].high is not None:
            problems.append(f"The top score band must be open-ended (it stops at {bands[-1].high}).")

    buckets = list(matrix.buckets.all())
    if not buckets:
        problems.append("Add at least one bucket.")
    cells = {(c.grade, c.band_id) for c in matrix.cells.all()}
    for grade in engine.GRADES:
        for band in bands:
            if (grade, band.pk) not in cells:
                problems.append(f"The grid cell {grade} × {band.label} has no bucket.")

    for criterion in matrix.criteria.all():
        for message in condition_errors(
            criterion.field, criterion.operator, criterion.value, criterion.value_to
        ).values():
            problems.append(f"Criterion “{criterion}”: {message}")
    for persona in matrix.personas.prefetch_related("rules"):
        rules = list(persona.rules.all())
        if not rules:
            problems.append(f"Persona “{persona}” has no rules, so no lead can match it.")
        for rule in rules:
            for message in condition_errors(rule.field, rule.operator, rule.value, rule.value_to).values():
                problems.append(f"Persona “{persona}”: {message}")
    for weight in matrix.weights.select_related("activity_type"):
        if weight.half_life_days is not None and weight.half_life_days <= 0:
            problems.append(f"{weight.activity_type}: a half-life must be more than 0 days.")
    return problems
