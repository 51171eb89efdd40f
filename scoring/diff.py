"""What differs between two matrix versions, item by item, in words both sides read the same way.

`snapshot` turns a version into plain, JSON-ready data keyed by what people call things (the
activity's name, the criterion's label, `B × 40–79`); `diff_versions` compares two snapshots;
`fingerprint` hashes a snapshot, so a proposal can tell whether its draft changed since.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from scoring import engine
from scoring.models import ScoringMatrix

SECTIONS = [
    ("settings", "Grades and breadth"),
    ("criteria", "Fit criteria"),
    ("personas", "Personas"),
    ("weights", "Engagement weights"),
    ("buckets", "Buckets"),
    ("bands", "Score bands"),
    ("grid", "Routing grid"),
]
# Fields whose change reads as "<item>: old → new" without naming the field.
MAIN_FIELDS = {"points", "bucket", "range", "value"}


@dataclass(frozen=True)
class Change:
    section: str
    kind: str  # "changed", "added" or "removed"
    item: str
    field: str = ""
    old: object = None
    new: object = None

    @property
    def text(self) -> str:
        if self.kind == "added":
            return f"New {_singular(self.section)}: {self.item}" + (f" ({self.new})" if self.new else "")
        if self.kind == "removed":
            return f"Removed {_singular(self.section)}: {self.item}" + (f" ({self.old})" if self.old else "")
        name = self.item if self.field in MAIN_FIELDS else f"{self.item} {self.field}"
        return f"{name}: {_show(self.old)} → {_show(self.new)}"


def _singular(section: str) -> str:
    return {
        "criteria": "criterion",
        "personas": "persona",
        "weights": "weight",
        "buckets": "bucket",
        "bands": "score band",
        "grid": "grid cell",
        "settings": "setting",
    }[section]


def _show(value: object) -> str:
    if value is None or value == "":
        return "none"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _rule_text(condition) -> str:
    if condition.operator == engine.EMPTY:
        return f"{condition.field} is empty"
    text = f"{condition.field} {condition.get_operator_display()} {condition.value}"
    return f"{text} and {condition.value_to}" if condition.operator == engine.BETWEEN else text


def _unique(key: str, seen: dict[str, int]) -> str:
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key} ({seen[key]})"


def snapshot(matrix: ScoringMatrix) -> dict:
    """The version's content as plain data keyed by display names (what scoring depends on)."""
    buckets = list(matrix.buckets.all())
    bucket_name = {b.pk: b.name for b in buckets}
    bands = list(matrix.bands.all())
    band_label = {b.pk: b.label for b in bands}
    personas = list(matrix.personas.prefetch_related("rules"))
    persona_name = {p.pk: p.name for p in personas}
    seen: dict[str, int] = {}
    criteria = {}
    for c in matrix.criteria.all():
        criteria[_unique(c.label or _rule_text(c), seen)] = {"rule": _rule_text(c), "points": c.points}
    weights = {}
    for w in matrix.weights.select_related("activity_type").prefetch_related("persona_weights"):
        entry = {
            "points": w.points,
            "half-life (days)": w.half_life_days,
            "cap": w.cap,
            "floor": bucket_name.get(w.floor_bucket_id),
            "ceiling": bucket_name.get(w.ceiling_bucket_id),
            "override days": w.override_days,
        }
        for pw in w.persona_weights.all():
            entry[f"multiplier for {persona_name[pw.persona_id]}"] = pw.multiplier
        weights[w.activity_type.name] = entry
    breadth = (
        f"{matrix.breadth_points} {matrix.get_breadth_measure_display()} in {matrix.breadth_window_days} days"
        + (f", at most {matrix.breadth_cap}" if matrix.breadth_cap is not None else "")
        if matrix.breadth_measure
        else "none"
    )
    return {
        "settings": {
            "Grade": {
                "A from": matrix.grade_a_min,
                "B from": matrix.grade_b_min,
                "C from": matrix.grade_c_min,
            },
            "Breadth": {"value": breadth},
        },
        "criteria": criteria,
        "personas": {
            p.name: {
                "order": n,
                "rules": " and ".join(_rule_text(r) for r in p.rules.all()),
            }
            for n, p in enumerate(personas, 1)
        },
        "weights": weights,
        "buckets": {
            b.name: {
                "rank": b.rank,
                "action": b.action,
                "SLA (hours)": b.sla_hours,
                "priority": b.priority,
                "in sales queue": b.in_queue,
            }
            for b in buckets
        },
        "bands": {b.key: {"range": b.label} for b in bands},
        "grid": {
            f"{cell.grade} × {band_label[cell.band_id]}": {"bucket": bucket_name[cell.bucket_id]}
            for cell in sorted(matrix.cells.all(), key=lambda c: (c.grade, band_label[c.band_id]))
        },
    }


def fingerprint(matrix: ScoringMatrix) -> str:
    """A hash of the version's content: equal fingerprints score every lead the same way."""
    data = json.dumps(snapshot(matrix), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def diff_versions(old: ScoringMatrix, new: ScoringMatrix) -> list[Change]:
    """Every difference from `old` to `new`, section by section, item by item."""
    return diff_snapshots(snapshot(old), snapshot(new))


def diff_snapshots(old: dict, new: dict) -> list[Change]:
    """Compare two snapshots; items are matched by name, fields within an item one by one."""
    changes: list[Change] = []
    for section, _title in SECTIONS:
        before, after = old.get(section, {}), new.get(section, {})
        for item, fields in after.items():
            if item not in before:
                changes.append(Change(section, "added", item, new=_summary(section, fields)))
                continue
            for name, value in fields.items():
                if before[item].get(name) != value:
                    changes.append(Change(section, "changed", item, name, before[item].get(name), value))
            for name in before[item].keys() - fields.keys():
                changes.append(Change(section, "changed", item, name, before[item][name], None))
        for item, fields in before.items():
            if item not in after:
                changes.append(Change(section, "removed", item, old=_summary(section, fields)))
    return changes


def _summary(section: str, fields: dict) -> str:
    if section == "criteria":
        return f"{fields['rule']}, {fields['points']:+d} points"
    if section == "weights":
        return f"{fields['points']:+d} points"
    if section == "personas":
        return fields["rules"]
    if section in {"bands", "grid"}:
        return _show(next(iter(fields.values())))
    return ""


def grouped(changes: list[Change]) -> list[tuple[str, list[Change]]]:
    """Changes grouped under their section titles, in the page's order, empty sections left out."""
    titles = dict(SECTIONS)
    return [
        (titles[key], [c for c in changes if c.section == key])
        for key, _ in SECTIONS
        if any(c.section == key for c in changes)
    ]
