"""Calibration: fit the matrix to known outcomes and suggest points on the matrix's own scale.

The model is one the matrix can express: every fit criterion (and, as candidates, `field equals value`
for the common values of short text fields) is a 0/1 indicator, every activity type a count of its
activities decayed with the type's half-life. scikit-learn's LogisticRegression (L2, on standardised
features) fits it on 70 % of the leads with a known outcome; the other 30 % are held out to measure
how well the current and the suggested matrix rank leads, both scored by the real engine.

Coefficients are log-odds per indicator or per decayed activity. One factor turns them all into points
(so fit and engagement stay on one scale, and a lead's fit points plus score orders leads as the model
does): the factor that gives the suggested engagement score the same 90th percentile as today's.
Caps scale with their points, so a cap still stops counting after the same number of activities.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from feedback.models import Calibration, Disposition
from feedback.selectors import known_outcomes
from leads.models import Activity, Lead
from scoring import engine
from scoring.fields import ATTRIBUTE_PREFIX, PROFILE_FIELDS, TEXT
from scoring.matrices import engine_matrix
from scoring.models import ScoringMatrix

MIN_OUTCOMES = 40
HOLDOUT = 0.3
SEED = 20261123
# Text fields worth testing as `equals` candidates; names, e-mails and companies are not categories.
CANDIDATE_FIELDS = [name for name, f in PROFILE_FIELDS.items() if f.kind == TEXT and name not in {"email", "company", "title"}]  # fmt: skip
MAX_CATEGORIES = 30


class CalibrationRefused(Exception):
    """Too little evidence to suggest anything; the message says what is missing."""


def calibrate(*, matrix: ScoringMatrix | None = None, by=None, now: datetime | None = None) -> Calibration:
    """Fit the matrix to the known outcomes and store the suggestion (or the reason there is none)."""
    matrix = matrix or ScoringMatrix.objects.active()
    now = now or timezone.now()
    try:
        result = suggest(matrix=matrix)
        refused = ""
    except CalibrationRefused as exc:
        result, refused = {}, str(exc)
    return Calibration.objects.create(matrix=matrix, result=result, refused=refused, by=by, at=now)


def suggest(*, matrix: ScoringMatrix) -> dict:
    """The suggestion as JSON-ready data: features with current and suggested points, held-out figures."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    outcomes = known_outcomes()
    positives = sum(outcomes.values())
    negatives = len(outcomes) - positives
    if positives < MIN_OUTCOMES or negatives < MIN_OUTCOMES:
        raise CalibrationRefused(
            f"Not enough outcomes to learn from: {positives} lead{'s' if positives != 1 else ''} converted "
            f"(opportunity or won) and {negatives} did not (lost or disqualified). A fit needs at least "
            f"{MIN_OUTCOMES} of each; log more outcomes or import historical ones."
        )
    current = engine_matrix(matrix)
    leads = _outcome_leads(outcomes)
    features = _features(current, leads)
    x = np.array([[f["x"](lead) for f in features] for lead in leads], dtype=float)
    y = np.array([1 if lead["converted"] else 0 for lead in leads])
    idx = np.arange(len(leads))
    train, test = train_test_split(idx, test_size=HOLDOUT, random_state=SEED, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(x[train], y[train])
    scale = model[0].scale_
    coefs = model[1].coef_[0] / np.where(scale == 0, 1, scale)
    # A column every lead shares (or none has) carries no evidence: its points stay as they are.
    silent = x.std(axis=0) == 0
    for feature, is_silent in zip(features, silent, strict=True):
        feature["evidence"] = not bool(is_silent)

    factor = _points_factor(current, leads, features, coefs, train)
    suggested = _suggested_matrix(current, features, coefs, factor)
    for feature, coef in zip(features, coefs, strict=True):
        feature["coef"] = round(float(coef), 4)
        feature["suggested"] = _points(feature, coef, factor)
        feature.update(_evidence(feature, leads))
    test_leads = [leads[i] for i in test]
    model_auc = _auc([lead["converted"] for lead in test_leads], list(model.predict_proba(x[test])[:, 1]))
    return {
        "outcomes": len(leads),
        "converted": positives,
        "not_converted": negatives,
        "base_rate": round(100 * positives / len(leads), 1),
        "train": len(train),
        "test": len(test),
        "factor": round(factor, 3),
        "features": [{k: v for k, v in f.items() if k != "x"} for f in features],
        "current": _evaluate(current, test_leads),
        "suggested": _evaluate(suggested, test_leads),
        "model_auc": model_auc,
    }


def _outcome_leads(outcomes: dict[int, bool]) -> list[dict]:
    """Each lead with a known outcome: its facts and activities up to its first decisive outcome."""
    decisive = Disposition.CONVERTED | Disposition.NOT_CONVERTED
    as_of = dict(
        Disposition.objects.filter(outcome__in=decisive)
        .values("lead_id")
        .annotate(at=Min("at"))
        .values_list("lead_id", "at")
    )
    activities: dict[int, list[engine.ActivityFact]] = defaultdict(list)
    rows = (
        Activity.objects.filter(
            lead_id__in=Disposition.objects.filter(outcome__in=decisive).values("lead_id")
        )
        .values_list("lead_id", "activity_type__key", "occurred_at")
        .order_by()
    )
    for lead_id, key, at in rows.iterator(chunk_size=5000):
        if at <= as_of[lead_id]:
            activities[lead_id].append(engine.ActivityFact(key, at))
    leads = []
    for lead in Lead.objects.filter(pk__in=list(outcomes)).order_by("pk").iterator(chunk_size=2000):
        leads.append(
            {
                "id": lead.pk,
                "facts": lead.facts(),
                "activities": activities.get(lead.pk, []),
                "as_of": as_of[lead.pk],
                "converted": outcomes[lead.pk],
            }
        )
    return leads


def _features(matrix: engine.Matrix, leads: list[dict]) -> list[dict]:
    """The model's columns: criteria, candidate criteria, then decayed activity counts per type."""
    features = []
    existing = set()
    for n, criterion in enumerate(matrix.criteria):
        c = criterion.condition
        existing.add((c.field, c.operator, c.value.strip().lower()))
        features.append(
            {
                "kind": "criterion",
                "index": n,
                "label": criterion.label or f"{c.field} {c.operator} {c.value}",
                "field": c.field,
                "operator": c.operator,
                "value": c.value,
                "value_to": c.value_to,
                "current": criterion.points,
                "x": lambda lead, c=c: float(engine.condition_matches(c, lead["facts"])),
            }
        )
    for field, value, label in _candidates(leads):
        if (field, engine.EQUALS, value) in existing:
            continue
        condition = engine.Condition(field, engine.EQUALS, value)
        features.append(
            {
                "kind": "candidate",
                "label": label,
                "field": field,
                "operator": engine.EQUALS,
                "value": value,
                "value_to": "",
                "current": None,
                "x": lambda lead, c=condition: float(engine.condition_matches(c, lead["facts"])),
            }
        )
    for weight in matrix.weights:
        features.append(
            {
                "kind": "activity",
                "label": weight.activity_type,
                "activity_type": weight.activity_type,
                "half_life_days": weight.half_life_days,
                "current": weight.points,
                "cap": weight.cap,
                "x": lambda lead, w=weight: _decayed(lead, w),
            }
        )
    return features


def _decayed(lead: dict, weight: engine.ActivityWeight) -> float:
    now = lead["as_of"]
    return sum(
        engine.decay_factor(engine.age_in_days(now, a.occurred_at), weight.half_life_days)
        for a in lead["activities"]
        if a.activity_type == weight.activity_type
    )


def _candidates(leads: list[dict]) -> list[tuple[str, str, str]]:
    """`field equals value` for values common enough to learn from, in fields with few distinct values."""
    minimum = max(10, len(leads) // 50)
    fields = list(CANDIDATE_FIELDS) + sorted(
        {key for lead in leads for key in lead["facts"] if key.startswith(ATTRIBUTE_PREFIX)}
    )
    result = []
    for field in fields:
        counts = Counter(
            str(lead["facts"].get(field)).strip().lower()
            for lead in leads
            if lead["facts"].get(field) not in (None, "")
        )
        if not counts or len(counts) > MAX_CATEGORIES:
            continue
        name = PROFILE_FIELDS[field].label if field in PROFILE_FIELDS else field[len(ATTRIBUTE_PREFIX) :]
        for value, n in sorted(counts.items()):
            if minimum <= n <= len(leads) - minimum:
                result.append((field, value, f"{name} is {value}"))
    return result


def _points_factor(matrix, leads, features, coefs, train) -> float:
    """Points per log-odds: the suggested engagement's 90th percentile equals today's score's."""
    import numpy as np

    activity = [(i, f) for i, f in enumerate(features) if f["kind"] == "activity"]
    raw = [max(0.0, sum(coefs[i] * f["x"](leads[n]) for i, f in activity)) for n in train]
    today = [engine.score_lead(matrix, leads[n]["facts"], leads[n]["activities"], leads[n]["as_of"]).score for n in train]  # fmt: skip
    raw_p90, today_p90 = float(np.percentile(raw, 90)), float(np.percentile(today, 90))
    if raw_p90 > 0 and today_p90 > 0:
        return today_p90 / raw_p90
    # No engagement to compare: keep the largest criterion's size instead.
    largest = max((abs(c.points) for c in matrix.criteria), default=40) or 40
    strongest = max((abs(c) for c in coefs), default=0.0)
    return largest / strongest if strongest else 1.0


def _suggested_matrix(matrix: engine.Matrix, features, coefs, factor: float) -> engine.Matrix:
    """The engine matrix with the suggested points (and caps scaled with them)."""
    criteria = list(matrix.criteria)
    added = []
    weights = {w.activity_type: w for w in matrix.weights}
    for feature, coef in zip(features, coefs, strict=True):
        points = _points(feature, coef, factor)
        if feature["kind"] == "criterion":
            criteria[feature["index"]] = replace(criteria[feature["index"]], points=points)
        elif feature["kind"] == "candidate" and points:
            condition = engine.Condition(feature["field"], engine.EQUALS, feature["value"])
            added.append(engine.Criterion(condition, points, feature["label"]))
        elif feature["kind"] == "activity":
            weight = weights[feature["activity_type"]]
            cap = scaled_cap(weight.cap, weight.points, points)
            feature["suggested_cap"] = cap
            weights[feature["activity_type"]] = replace(weight, points=points, cap=cap)
    return replace(
        matrix,
        criteria=tuple(criteria + added),
        weights=tuple(weights[w.activity_type] for w in matrix.weights),
    )


def _points(feature: dict, coef: float, factor: float) -> int:
    if not feature["evidence"]:
        return feature["current"] or 0
    return round(float(coef) * factor)


def scaled_cap(cap: int | None, old_points: int, new_points: int) -> int | None:
    """A cap that stops counting after as many activities as before (unchanged when it cannot scale)."""
    if cap is None or old_points == 0 or new_points == 0:
        return cap
    return max(1, round(cap * abs(new_points) / abs(old_points)))


def _evidence(feature: dict, leads: list[dict]) -> dict:
    """How many leads have the feature and how often those with and without it converted."""
    with_it = [lead["converted"] for lead in leads if feature["x"](lead) > 0]
    without = [lead["converted"] for lead in leads if feature["x"](lead) <= 0]
    return {
        "with_n": len(with_it),
        "with_rate": _pct(sum(with_it), len(with_it)),
        "without_rate": _pct(sum(without), len(without)),
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _evaluate(matrix: engine.Matrix, leads: list[dict]) -> dict:
    """How a matrix ranks held-out leads by fit points + score: AUC, top decile, conversion per band."""
    results = [engine.score_lead(matrix, lead["facts"], lead["activities"], lead["as_of"]) for lead in leads]
    labels = [lead["converted"] for lead in leads]
    ranks = [r.fit_points + r.score for r in results]
    ordered = sorted(zip(ranks, labels, strict=True), key=lambda pair: -pair[0])
    top = ordered[: max(1, len(ordered) // 10)]
    bands = []
    for band in sorted(matrix.bands, key=lambda b: b.low):
        inside = [label for r, label in zip(results, labels, strict=True) if r.band == band.key]
        bands.append({"band": band.label, "leads": len(inside), "rate": _pct(sum(inside), len(inside))})
    grades = []
    for grade in engine.GRADES:
        inside = [label for r, label in zip(results, labels, strict=True) if r.grade == grade]
        grades.append({"grade": grade, "leads": len(inside), "rate": _pct(sum(inside), len(inside))})
    return {
        "auc": _auc(labels, ranks),
        "top_decile": _pct(sum(label for _, label in top), len(top)),
        "bands": bands,
        "grades": grades,
    }


def _auc(labels: list, scores: list) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return round(float(roc_auc_score(labels, scores)), 3)


# --- from suggestion to draft --------------------------------------------------------------------


def create_draft_from_calibration(*, calibration: Calibration, by) -> ScoringMatrix:
    """Start a draft from the calibrated version with the suggested points, through governance.

    The draft then goes the way of every human change: propose, two approvals, publish. Nothing here
    touches the active version.
    """
    from scoring.governance import GovernanceError, add_criterion, edit_item, start_draft

    if calibration.refused:
        raise GovernanceError(f"This calibration made no suggestion: {calibration.refused}")
    if calibration.draft_id:
        raise GovernanceError(
            f"A draft was already made from this calibration: v{calibration.draft.version}."
        )
    if calibration.matrix.status != ScoringMatrix.Status.ACTIVE:
        raise GovernanceError(
            f"v{calibration.matrix.version} is no longer the active version; run the calibration again."
        )
    reason = f"Calibration #{calibration.pk}"
    with transaction.atomic():
        draft = start_draft(
            source=calibration.matrix, by=by, name=f"Calibrated from v{calibration.matrix.version}"
        )
        criteria = list(draft.criteria.order_by("position", "id"))
        weights = {w.activity_type.key: w for w in draft.weights.select_related("activity_type")}
        for feature in calibration.result["features"]:
            if feature["kind"] == "criterion" and feature["suggested"] != feature["current"]:
                item = criteria[feature["index"]]
                edit_item(
                    item=item,
                    revision=item.revision,
                    values={"points": feature["suggested"]},
                    by=by,
                    reason=reason,
                )
            elif feature["kind"] == "candidate" and feature["suggested"]:
                values = {
                    "label": feature["label"][:120],
                    "field": feature["field"],
                    "operator": feature["operator"],
                    "value": feature["value"],
                    "points": feature["suggested"],
                }
                add_criterion(matrix=draft, values=values, by=by, reason=reason)
            elif feature["kind"] == "activity" and feature["suggested"] != feature["current"]:
                item = weights[feature["activity_type"]]
                values = {"points": feature["suggested"], "cap": feature.get("suggested_cap", item.cap)}
                edit_item(item=item, revision=item.revision, values=values, by=by, reason=reason)
        calibration.draft = draft
        calibration.save(update_fields=["draft"])
    return draft
