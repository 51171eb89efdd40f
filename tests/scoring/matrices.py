"""Small engine matrices and lead data for scoring tests, plus hypothesis strategies that draw them.

Plain data only (no Django), so the engine tests run without a database and the rescoring tests can
store the very same values as matrix rows.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from scoring import engine
from scoring.fields import NUMBER, PROFILE_FIELDS, TEXT

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# The activity catalogue that migration 0002 creates (a migration never changes what it did).
CATALOGUE = (
    "web_visit",
    "pricing_visit",
    "whitepaper_download",
    "video_view",
    "webinar_attended",
    "email_open",
    "email_click",
    "newsletter_signup",
    "form_submit",
    "social_engagement",
    "demo_request",
    "unsubscribe",
    "email_bounce",
)

BUCKETS = (
    engine.Bucket("dead", "Dead", 0, priority=100),
    engine.Bucket("nurture", "Nurture", 1, priority=90),
    engine.Bucket("lead", "Lead", 2, priority=80),
    engine.Bucket("mql", "MQL", 3, priority=2, in_queue=True),
    engine.Bucket("sales_ready", "Sales-ready", 4, priority=1, in_queue=True),
)
BANDS = (
    engine.Band("cold", 0, 9),
    engine.Band("warm", 10, 39),
    engine.Band("engaged", 40, 79),
    engine.Band("hot", 80, None),
)
ROWS = {
    "A": ("dead", "lead", "mql", "sales_ready"),
    "B": ("dead", "nurture", "mql", "sales_ready"),
    "C": ("nurture", "nurture", "lead", "mql"),
    "D": ("dead", "dead", "dead", "nurture"),
}
GRID = {(grade, band.key): row[i] for grade, row in ROWS.items() for i, band in enumerate(BANDS)}


def simple_matrix(**overrides) -> engine.Matrix:
    """Five buckets, four bands, grades from 40/20/0, and nothing else unless given."""
    base = engine.Matrix(
        version=1,
        criteria=(),
        grade_cutoffs=(40, 20, 0),
        weights=(),
        bands=BANDS,
        buckets=BUCKETS,
        grid=GRID,
    )
    return dataclasses.replace(base, **overrides)


def weight(activity_type: str, points: int, **fields) -> engine.ActivityWeight:
    return engine.ActivityWeight(activity_type, points, **fields)


def criterion(
    field: str, operator: str, value: str = "", value_to: str = "", *, points: int = 10, label: str = ""
) -> engine.Criterion:
    return engine.Criterion(engine.Condition(field, operator, value, value_to), points, label)


def ago(days: float = 0, **delta) -> datetime:
    """A moment before NOW (negative days: after it)."""
    return NOW - timedelta(days=days, **delta)


def act(activity_type: str, days: float = 0, **delta) -> engine.ActivityFact:
    """An activity that happened `days` before NOW."""
    return engine.ActivityFact(activity_type, ago(days, **delta))


def facts_of(profile: dict) -> dict[str, object]:
    """A generated profile as the engine sees it, the way `Lead.facts()` flattens attributes."""
    facts = {name: value for name, value in profile.items() if name != "attributes"}
    for key, value in profile.get("attributes", {}).items():
        facts[f"attributes.{key}"] = value
    return facts


# --- hypothesis strategies ------------------------------------------------------------------------

TEXT_FIELDS = [name for name, f in PROFILE_FIELDS.items() if f.kind == TEXT and name != "email"]
NUMBER_FIELDS = [name for name, f in PROFILE_FIELDS.items() if f.kind == NUMBER]
ATTRIBUTE_KEYS = ["plan", "region"]

# Mixed case and letters beyond ASCII whose lower case is one letter in Python and in PostgreSQL.
WORDS = [
    "Software",
    "software",
    "SOFTWARE",
    "Healthcare",
    "Ärzte",
    "ärzte",
    "ÄRZTE",
    "Müller GmbH",
    "straße",
    "STRAẞE",
    "Café",
    "CAFÉ",
    "Engineering",
    "IT",
    "Niño",
]
PIECES = ["soft", "SOFT", "ärz", "ÄRZ", "ß", "É", "ñ", "eng", "t", "@example"]
NUMBERS = [0, 1, 9, 10, 11, 199, 200, 999, 1000, 5000, 100000]
NUMBER_VALUES = [*(str(n) for n in NUMBERS), "99.5", "1000.0", " 200 "]

text_values = st.sampled_from(["", *WORDS])
numbers = st.none() | st.sampled_from(NUMBERS) | st.integers(0, 200_000)


@st.composite
def conditions(draw) -> engine.Condition:
    """A valid condition (one a matrix could hold) on a text, number or attribute field."""
    kind = draw(st.sampled_from([TEXT, NUMBER, "attribute"]))
    if kind == NUMBER:
        field = draw(st.sampled_from(NUMBER_FIELDS))
        op = draw(st.sampled_from([engine.EQUALS, engine.AT_LEAST, engine.AT_MOST, engine.BETWEEN]))
        op = draw(st.sampled_from([op, engine.EMPTY]))
        if op == engine.EMPTY:
            return engine.Condition(field, op)
        if op == engine.BETWEEN:
            low, high = sorted(draw(st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=2)))
            return engine.Condition(field, op, str(low), str(high))
        return engine.Condition(field, op, draw(st.sampled_from(NUMBER_VALUES)))
    if kind == TEXT:
        field = draw(st.sampled_from([*TEXT_FIELDS, "email"]))
    else:
        field = "attributes." + draw(st.sampled_from(ATTRIBUTE_KEYS))
    op = draw(st.sampled_from([engine.EQUALS, engine.ONE_OF, engine.CONTAINS, engine.EMPTY]))
    if op == engine.EMPTY:
        return engine.Condition(field, op)
    if op == engine.CONTAINS:
        return engine.Condition(field, op, draw(st.sampled_from(PIECES)))
    if op == engine.ONE_OF:
        items = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
        return engine.Condition(field, op, draw(st.sampled_from([", ", ",", "\n"])).join(items))
    word = draw(st.sampled_from(WORDS))
    return engine.Condition(field, op, draw(st.sampled_from([word, f" {word} "])))


@st.composite
def profiles(draw) -> dict:
    """Lead profile fields (text never None, as on the model) and a few attribute strings."""
    profile = {name: draw(text_values) for name in TEXT_FIELDS}
    profile |= {name: draw(numbers) for name in NUMBER_FIELDS}
    profile["attributes"] = draw(st.dictionaries(st.sampled_from(ATTRIBUTE_KEYS), text_values))
    return profile


offsets = st.one_of(
    st.integers(-200, 200).map(lambda d: timedelta(days=d)),
    st.integers(-200 * 86_400_000_000, 200 * 86_400_000_000).map(lambda us: timedelta(microseconds=us)),
)


catalogue_types = st.sampled_from(CATALOGUE)
any_points = st.integers(-60, 60)
some_breadth_points = st.integers(-5, 10)


def activity_lists(types=catalogue_types, max_size: int = 10):
    """Activities spread over ±200 days around NOW, in no particular order."""
    return st.lists(
        st.builds(lambda t, off: engine.ActivityFact(t, NOW + off), types, offsets),
        max_size=max_size,
    )


@st.composite
def matrices(
    draw,
    *,
    points=any_points,
    breadth_points=some_breadth_points,
    types=CATALOGUE,
) -> engine.Matrix:
    """A whole valid matrix: contiguous bands from 0, a full grid, personas, weights, breadth."""
    ranks = range(draw(st.integers(2, 5)))
    buckets = tuple(
        engine.Bucket(
            f"b{r}", f"Bucket {r}", r, priority=draw(st.integers(1, 100)), in_queue=draw(st.booleans())
        )
        for r in ranks
    )
    keys = [b.key for b in buckets]
    lows = [0, *sorted(draw(st.sets(st.integers(1, 150), max_size=3)))]
    highs = [low - 1 for low in lows[1:]] + [None]
    bands = tuple(
        engine.Band(f"band{i}", low, high) for i, (low, high) in enumerate(zip(lows, highs, strict=True))
    )
    grid = {(g, band.key): draw(st.sampled_from(keys)) for g in engine.GRADES for band in bands}
    c = draw(st.integers(-30, 30))
    b = c + draw(st.integers(1, 40))
    a = b + draw(st.integers(1, 40))
    criteria = tuple(
        engine.Criterion(cond, draw(st.integers(-50, 50)), draw(st.sampled_from(["", "Named"])))
        for cond in draw(st.lists(conditions(), max_size=6))
    )
    personas = tuple(
        engine.Persona(f"p{i}", f"Persona {i}", tuple(draw(st.lists(conditions(), max_size=2))))
        for i in range(draw(st.integers(0, 2)))
    )
    multiplier = st.sampled_from([0.0, 0.5, 1.5, 2.0]) | st.floats(0, 4)
    weights = tuple(
        engine.ActivityWeight(
            activity_type=t,
            points=draw(points),
            half_life_days=draw(st.none() | st.sampled_from([7.0, 14.0, 30.0]) | st.floats(0.5, 120)),
            cap=draw(st.none() | st.integers(0, 100)),
            persona_multipliers={p.key: draw(multiplier) for p in personas if draw(st.booleans())},
            floor_bucket=draw(st.none() | st.sampled_from(keys)),
            ceiling_bucket=draw(st.none() | st.sampled_from(keys)),
            override_days=draw(st.none() | st.integers(1, 90)),
        )
        for t in draw(st.lists(st.sampled_from(types), unique=True, max_size=len(types)))
    )
    breadth = draw(
        st.none()
        | st.builds(
            engine.Breadth,
            measure=st.sampled_from([engine.BREADTH_ACTIVITIES, engine.BREADTH_TYPES]),
            window_days=st.integers(1, 60),
            points=breadth_points,
            cap=st.none() | st.integers(0, 30),
        )
    )
    return engine.Matrix(
        version=2,
        criteria=criteria,
        grade_cutoffs=(a, b, c),
        weights=weights,
        bands=bands,
        buckets=buckets,
        grid=grid,
        personas=personas,
        breadth=breadth,
    )
