"""The pure scoring engine: every rule by example, then the properties that must always hold."""

from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scoring import engine
from scoring.engine import (
    AT_LEAST,
    AT_MOST,
    BETWEEN,
    CONTAINS,
    EMPTY,
    EQUALS,
    ONE_OF,
    ActivityFact,
    Band,
    Breadth,
    Condition,
    Persona,
)
from tests.scoring.matrices import (
    NOW,
    act,
    activity_lists,
    ago,
    criterion,
    facts_of,
    matrices,
    offsets,
    profiles,
    simple_matrix,
    weight,
)

# --- fit: operators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "value", "matches"),
    [
        # text: case-insensitive, the condition's surrounding blanks ignored
        (Condition("industry", EQUALS, "Software"), "software", True),
        (Condition("industry", EQUALS, "software"), "SOFTWARE", True),
        (Condition("industry", EQUALS, " Software "), "Software", True),
        (Condition("industry", EQUALS, "software"), "software inc", False),
        (Condition("industry", EQUALS, "Ärzte"), "ÄRZTE", True),
        (Condition("industry", EQUALS, "straße"), "STRAẞE", True),
        (Condition("industry", ONE_OF, "Software, Healthcare"), "healthcare", True),
        (Condition("industry", ONE_OF, "Software\nHealthcare"), "HEALTHCARE", True),
        (Condition("industry", ONE_OF, "software,,Healthcare,"), "Software", True),
        (Condition("industry", ONE_OF, "Software, Healthcare"), "Retail", False),
        (Condition("industry", ONE_OF, "Software, Healthcare"), "Soft", False),
        (Condition("title", CONTAINS, "eng"), "Senior Engineer", True),
        (Condition("title", CONTAINS, "ENG "), "senior engineer", True),
        (Condition("title", CONTAINS, "ß"), "Straße", True),
        (Condition("title", CONTAINS, "sales"), "Engineer", False),
        (Condition("title", EMPTY), "", True),
        (Condition("title", EMPTY), "x", False),
        # numbers
        (Condition("company_size", EQUALS, "1000"), 1000, True),
        (Condition("company_size", EQUALS, "1000.0"), 1000, True),
        (Condition("company_size", EQUALS, "1000"), 999, False),
        (Condition("company_size", AT_LEAST, "1000"), 1000, True),
        (Condition("company_size", AT_LEAST, "1000"), 999, False),
        (Condition("company_size", AT_LEAST, " 99.5 "), 100, True),
        (Condition("company_size", AT_MOST, "10"), 10, True),
        (Condition("company_size", AT_MOST, "10"), 11, False),
        (Condition("revenue_potential", BETWEEN, "200", "999"), 200, True),
        (Condition("revenue_potential", BETWEEN, "200", "999"), 999, True),
        (Condition("revenue_potential", BETWEEN, "200", "999"), 199, False),
        (Condition("revenue_potential", BETWEEN, "200", "999"), 1000, False),
        (Condition("revenue_potential", BETWEEN, "200", ""), 500, False),
        (Condition("company_size", AT_LEAST, "many"), 500, False),
        (Condition("company_size", EMPTY), 0, False),
        # imported columns
        (Condition("attributes.plan", EQUALS, "Pro"), "pro", True),
        (Condition("attributes.plan", EQUALS, "Pro"), "Pro plus", False),
        (Condition("attributes.plan", ONE_OF, "pro, team"), "Team", True),
        (Condition("attributes.plan", CONTAINS, "ENT"), "Enterprise", True),
        (Condition("attributes.plan", EMPTY), "", True),
        (Condition("attributes.plan", EMPTY), "pro", False),
    ],
)
def test_a_condition_matches_by_its_operator(condition, value, matches):
    assert engine.condition_matches(condition, {condition.field: value}) is matches


ALL_OPERATORS = [
    Condition("industry", EQUALS, "software"),
    Condition("industry", ONE_OF, "software, healthcare"),
    Condition("industry", CONTAINS, "soft"),
    Condition("company_size", EQUALS, "0"),
    Condition("company_size", AT_LEAST, "0"),
    Condition("company_size", AT_MOST, "1000"),
    Condition("company_size", BETWEEN, "0", "1000"),
    Condition("attributes.plan", EQUALS, "pro"),
    Condition("attributes.plan", CONTAINS, "p"),
]


@pytest.mark.parametrize("condition", ALL_OPERATORS, ids=lambda c: f"{c.field}-{c.operator}")
@pytest.mark.parametrize(
    "facts",
    [{}, {"industry": None, "company_size": None}, {"industry": "", "attributes.plan": ""}],
    ids=["absent", "none", "blank"],
)
def test_a_missing_value_matches_no_operator_but_empty(condition, facts):
    assert not engine.condition_matches(condition, facts)
    assert engine.condition_matches(Condition(condition.field, EMPTY), facts)


def test_an_unknown_operator_is_refused():
    with pytest.raises(ValueError, match="unknown operator"):
        engine.condition_matches(Condition("title", "sounds_like", "x"), {"title": "x"})


# --- fit: grades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fit_points", "grade"),
    [(100, "A"), (40, "A"), (39, "B"), (20, "B"), (19, "C"), (0, "C"), (-1, "D"), (-50, "D")],
)
def test_fit_points_map_to_a_grade_with_each_cutoff_inclusive(fit_points, grade):
    assert engine.grade_for(fit_points, (40, 20, 0)) == grade


@pytest.mark.parametrize(
    ("points", "fit_points", "grade"),
    [((25, 15), 40, "A"), ((25, 14), 39, "B"), ((25, -5), 20, "B"), ((5, -5), 0, "C"), ((5, -6), -1, "D")],
)
def test_a_lead_is_graded_by_the_sum_of_its_matching_criteria(points, fit_points, grade):
    matrix = simple_matrix(
        criteria=(
            criterion("seniority", EQUALS, "head", points=points[0]),
            criterion("company_size", AT_MOST, "10", points=points[1]),
            criterion("industry", EQUALS, "software", points=1000),  # does not match
        )
    )
    result = engine.score_lead(matrix, {"seniority": "Head", "company_size": 8}, [], NOW)
    assert (result.fit_points, result.grade) == (fit_points, grade)


# --- engagement: decay -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_days", "half_life", "factor"),
    [(0, 14, 1.0), (14, 14, 0.5), (28, 14, 0.25), (7, 14, 0.5**0.5), (-5, 14, 1.0), (1000, None, 1.0)],
)
def test_decay_halves_an_activity_every_half_life(age_days, half_life, factor):
    assert engine.decay_factor(age_days, half_life) == factor


@pytest.mark.parametrize(
    ("occurred_at", "half_life", "score"),
    [
        (ago(7), 7.0, 5),  # exactly one half-life old: half of 10
        (ago(14), 7.0, 3),  # 2.5 rounds up
        (ago(365), None, 10),  # no half-life: no decay
        (ago(-3), 7.0, 10),  # in the future: counts as new
    ],
)
def test_an_activity_counts_by_its_age(occurred_at, half_life, score):
    matrix = simple_matrix(weights=(weight("web_visit", 10, half_life_days=half_life),))
    result = engine.score_lead(matrix, {}, [ActivityFact("web_visit", occurred_at)], NOW)
    assert result.score == score


def test_age_is_measured_in_fractional_days():
    assert engine.age_in_days(NOW, ago(1, hours=12)) == 1.5
    assert engine.age_in_days(NOW, ago(-1)) == -1.0


# --- engagement: caps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "cap", "count", "total", "capped"),
    [
        (10, 25, 4, 25, True),
        (10, 40, 4, 40, False),  # exactly at the cap is not capped
        (10, 100, 4, 40, False),
        (10, None, 4, 40, False),
        (-20, 30, 3, -30, True),
        (-20, 60, 3, -60, False),
        (-20, None, 3, -60, False),
    ],
)
def test_a_type_cap_limits_its_points_either_way(points, cap, count, total, capped):
    matrix = simple_matrix(weights=(weight("web_visit", points, cap=cap),))
    result = engine.score_lead(matrix, {}, [act("web_visit", d) for d in range(count)], NOW)
    (line,) = result.types
    assert (line.uncapped, line.points, line.capped) == (points * count, total, capped)


@pytest.mark.parametrize(
    ("total", "cap", "points"), [(12.5, 10, 10), (-12.5, 10, -10), (3.0, 0, 0), (-3.0, 0, 0), (0.0, 5, 0.0)]
)
def test_cap_points_clamps_to_plus_or_minus_the_cap(total, cap, points):
    assert engine.cap_points(total, cap) == points


# --- the score ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "score"),
    [(2.5, 3), (3.5, 4), (2.4999, 2), (0.5, 1), (0.49, 0), (7.0, 7), (-0.4, 0), (-0.5, 0), (-30.0, 0)],
)
def test_the_score_rounds_half_up_and_never_below_zero(total, score):
    assert engine.round_score(total) == score


def test_negative_activity_cannot_take_the_score_below_zero():
    matrix = simple_matrix(weights=(weight("web_visit", 10), weight("unsubscribe", -50)))
    result = engine.score_lead(matrix, {}, [act("web_visit", 1), act("unsubscribe", 1)], NOW)
    assert result.score == 0
    assert sum(t.points for t in result.types) == -40


# --- personas ------------------------------------------------------------------------------------

ENGINEER = Persona("engineer", "Engineer", (Condition("department", EQUALS, "engineering"),))
SENIOR = Persona("senior", "Senior", (Condition("seniority", ONE_OF, "head, executive"),))
ANYONE = Persona("anyone", "Anyone", ())
VIDEO = weight("video_view", 10, persona_multipliers={"engineer": 2.0, "senior": 0.5})


@pytest.mark.parametrize(
    ("personas", "facts", "persona", "score"),
    [
        ((ENGINEER, SENIOR), {"department": "Engineering", "seniority": "head"}, "engineer", 20),
        ((SENIOR, ENGINEER), {"department": "Engineering", "seniority": "head"}, "senior", 5),
        ((ENGINEER, SENIOR), {"department": "Sales", "seniority": "Executive"}, "senior", 5),
        ((ENGINEER, SENIOR), {"department": "Sales", "seniority": "staff"}, None, 10),
        ((ANYONE, ENGINEER), {"department": "Engineering"}, "engineer", 20),
        ((ANYONE,), {"department": "Sales"}, None, 10),
    ],
)
def test_the_first_matching_persona_wins_and_multiplies_its_types(personas, facts, persona, score):
    matrix = simple_matrix(personas=personas, weights=(VIDEO, weight("web_visit", 3)))
    result = engine.score_lead(matrix, facts, [act("video_view", 0)], NOW)
    assert (result.persona, result.score) == (persona, score)


def test_a_persona_multiplier_shows_in_the_activity_line_and_respects_the_cap():
    matrix = simple_matrix(
        personas=(ENGINEER,),
        weights=(weight("video_view", 30, cap=50, persona_multipliers={"engineer": 2.0}),),
    )
    result = engine.score_lead(matrix, {"department": "ENGINEERING"}, [act("video_view", 0)], NOW)
    assert result.activities[0].raw_points == 60
    assert (result.types[0].uncapped, result.types[0].points, result.score) == (60, 50, 50)


# --- breadth -------------------------------------------------------------------------------------

BREADTH_WEIGHTS = (weight("web_visit", 0), weight("email_open", 0), weight("video_view", 0))


@pytest.mark.parametrize(
    ("breadth", "activities", "points"),
    [
        (Breadth("activities", 30, 2), [act("web_visit", 1), act("web_visit", 2), act("email_open", 3)], 6),
        (Breadth("types", 30, 2), [act("web_visit", 1), act("web_visit", 2), act("email_open", 3)], 4),
        (Breadth("activities", 30, 2), [act("web_visit", 30)], 2),  # exactly at the window's edge
        (Breadth("activities", 30, 2), [act("web_visit", 30, microseconds=1)], 0),
        (Breadth("activities", 30, 2), [act("web_visit", -10)], 2),  # future activities count
        (Breadth("activities", 30, 2, cap=5), [act("web_visit", d) for d in range(10)], 5),
        (Breadth("types", 30, 3, cap=5), [act("web_visit", 1), act("video_view", 1)], 5),
        (Breadth("types", 30, 3), [act("webinar_attended", 1)], 0),  # a type without a weight
        (Breadth("activities", 7, -4), [act("web_visit", 1), act("email_open", 8)], -4),
    ],
)
def test_breadth_counts_activities_or_types_inside_its_window_up_to_its_cap(breadth, activities, points):
    matrix = simple_matrix(weights=BREADTH_WEIGHTS, breadth=breadth)
    result = engine.score_lead(matrix, {}, activities, NOW)
    assert result.breadth_points == points
    assert result.score == max(points, 0)


# --- buckets ---------------------------------------------------------------------------------------

DEMO = weight("demo_request", 0, floor_bucket="mql", override_days=30)
UNSUBSCRIBE = weight("unsubscribe", 0, ceiling_bucket="nurture")
HOT_VISITS = weight("web_visit", 100)
FLOOR_CEILING = simple_matrix(
    criteria=(
        criterion("seniority", EQUALS, "executive", points=40),
        criterion("seniority", EMPTY, points=-10),
    ),
    weights=(
        DEMO,
        UNSUBSCRIBE,
        HOT_VISITS,
        weight("email_bounce", 0, ceiling_bucket="lead", override_days=7),
    ),
)
EXEC, NOBODY = {"seniority": "executive"}, {}  # grades A and D


@pytest.mark.parametrize(
    ("facts", "activities", "bucket", "override"),
    [
        (NOBODY, [], "dead", None),
        (EXEC, [act("web_visit")], "sales_ready", None),
        (NOBODY, [act("demo_request", 3)], "mql", "demo_request"),
        (NOBODY, [act("demo_request", 30)], "mql", "demo_request"),  # the window's last moment
        (NOBODY, [act("demo_request", 30, microseconds=1)], "dead", None),  # expired
        (NOBODY, [act("demo_request", 40), act("demo_request", 2)], "mql", "demo_request"),
        (EXEC, [act("demo_request", 3), act("web_visit")], "sales_ready", None),  # already hotter
        (EXEC, [act("web_visit"), act("unsubscribe", 400)], "nurture", "unsubscribe"),  # no window
        (NOBODY, [act("unsubscribe", 1)], "dead", None),  # a ceiling never raises
        (NOBODY, [act("demo_request", 1), act("unsubscribe", 1)], "nurture", "unsubscribe"),
        (EXEC, [act("web_visit"), act("email_bounce", 7)], "lead", "email_bounce"),
        (EXEC, [act("web_visit"), act("email_bounce", 8)], "sales_ready", None),
        (EXEC, [act("web_visit"), act("email_bounce", 1), act("unsubscribe", 1)], "nurture", "unsubscribe"),
    ],
)
def test_floors_raise_and_ceilings_lower_the_bucket_while_their_window_lasts(
    facts, activities, bucket, override
):
    result = engine.score_lead(FLOOR_CEILING, facts, activities, NOW)
    assert (result.bucket, result.override) == (bucket, override)


@pytest.mark.parametrize(
    ("facts", "score", "grid_bucket"),
    [
        (EXEC, 9, "dead"),
        (EXEC, 10, "lead"),
        (EXEC, 79, "mql"),
        (EXEC, 80, "sales_ready"),
        (NOBODY, 79, "dead"),
        (NOBODY, 80, "nurture"),
    ],
)
def test_the_grid_routes_by_grade_and_the_band_holding_the_score(facts, score, grid_bucket):
    matrix = simple_matrix(criteria=FLOOR_CEILING.criteria, weights=(weight("web_visit", score),))
    result = engine.score_lead(matrix, facts, [act("web_visit")], NOW)
    assert (result.score, result.grid_bucket, result.bucket) == (score, grid_bucket, grid_bucket)


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "cold"), (9, "cold"), (10, "warm"), (39, "warm"), (40, "engaged"), (80, "hot"), (10**6, "hot")],
)
def test_band_lookup_is_inclusive_at_both_ends_and_open_at_the_top(score, band):
    assert simple_matrix().band_for(score).key == band


def test_a_score_outside_every_band_is_an_error():
    matrix = simple_matrix(bands=(Band("low", 0, 9), Band("high", 20, None)))
    with pytest.raises(ValueError, match="no score band holds 15"):
        matrix.band_for(15)


@pytest.mark.parametrize(("band", "label"), [(Band("warm", 10, 39), "10–39"), (Band("hot", 80, None), "80+")])
def test_a_band_labels_its_range(band, label):
    assert band.label == label


# --- what it would take ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "score", "bucket", "step"),
    [
        ("A", 3, "dead", engine.NextStep("lead", "warm", 7)),
        ("A", 45, "mql", engine.NextStep("sales_ready", "hot", 35)),
        ("A", 80, "sales_ready", None),
        ("C", 2, "nurture", engine.NextStep("lead", "engaged", 38)),  # warm is no hotter: skipped
        ("D", 0, "dead", engine.NextStep("nurture", "hot", 80)),
        ("A", 3, "mql", engine.NextStep("sales_ready", "hot", 77)),  # a floor lifted it to MQL
        ("B", 50, "sales_ready", None),
    ],
)
def test_next_step_names_the_nearest_hotter_bucket_and_the_points_it_needs(grade, score, bucket, step):
    assert engine.next_step(simple_matrix(), grade, score, bucket) == step


def test_the_result_carries_the_next_step_from_the_bucket_after_overrides():
    result = engine.score_lead(FLOOR_CEILING, EXEC, [act("demo_request", 1)], NOW)
    assert (result.grid_bucket, result.bucket) == ("dead", "mql")
    assert result.next_step == engine.NextStep("sales_ready", "hot", 80)


# --- the explanation -------------------------------------------------------------------------------


def test_the_result_explains_criteria_activities_and_type_totals():
    matrix = simple_matrix(
        criteria=(
            criterion("seniority", EQUALS, "head", points=25, label="Head of department"),
            criterion("company_size", BETWEEN, "200", "999", points=10),
            criterion("industry", ONE_OF, "Software, Healthcare", points=15),
            criterion("country", EMPTY, points=-5),
            criterion("seniority", EQUALS, "student", points=-40),
        ),
        weights=(
            weight("web_visit", 10, half_life_days=7.0, cap=12),
            weight("video_view", 30),
        ),
    )
    facts = {"seniority": "Head", "company_size": 500, "industry": "software", "country": ""}
    activities = [act("web_visit", 7), act("video_view", 2), act("webinar_attended", 1), act("web_visit", 0)]
    result = engine.score_lead(matrix, facts, activities, NOW)

    assert result.criteria == (
        engine.CriterionHit("Head of department", "seniority", 25),
        engine.CriterionHit("company_size between 200 and 999", "company_size", 10),
        engine.CriterionHit("industry one of Software, Healthcare", "industry", 15),
        engine.CriterionHit("country is empty", "country", -5),
    )
    assert result.activities == (  # oldest first; a type without a weight is left out
        engine.ActivityLine("web_visit", ago(7), 10, 0.5, 5.0),
        engine.ActivityLine("video_view", ago(2), 30, 1.0, 30.0),
        engine.ActivityLine("web_visit", ago(0), 10, 1.0, 10.0),
    )
    assert result.types == (
        engine.TypeTotal("video_view", 1, 30.0, 30.0, False),
        engine.TypeTotal("web_visit", 2, 15.0, 12, True),
    )
    assert (result.fit_points, result.grade, result.score, result.label) == (45, "A", 42, "A42")
    assert (result.band, result.bucket, result.override) == ("engaged", "mql", None)


# --- properties ----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=75, deadline=None, database=None)
positive_matrices = matrices(points=st.integers(1, 60), breadth_points=st.integers(0, 10))


@PROPERTY
@given(matrix=matrices(), profile=profiles(), activities=activity_lists(), data=st.data())
def test_the_order_of_activities_never_matters(matrix, profile, activities, data):
    shuffled = data.draw(st.permutations(activities))
    facts = facts_of(profile)
    assert engine.score_lead(matrix, facts, shuffled, NOW) == engine.score_lead(
        matrix, facts, activities, NOW
    )


@PROPERTY
@given(
    matrix=positive_matrices,
    profile=profiles(),
    activities=activity_lists(),
    later=st.lists(st.integers(1, 400 * 86_400), min_size=1, max_size=4),
)
def test_with_positive_weights_the_score_never_rises_as_time_passes(matrix, profile, activities, later):
    facts = facts_of(profile)
    moments = [NOW, *(NOW + timedelta(seconds=s) for s in sorted(later))]
    scores = [engine.score_lead(matrix, facts, activities, at).score for at in moments]
    assert scores == sorted(scores, reverse=True)


@PROPERTY
@given(matrix=matrices(), profile=profiles(), activities=activity_lists(max_size=25))
def test_no_type_moves_the_score_beyond_its_cap(matrix, profile, activities):
    result = engine.score_lead(matrix, facts_of(profile), activities, NOW)
    for total in result.types:
        cap = matrix.weight_for(total.activity_type).cap
        if cap is not None:
            assert abs(total.points) <= cap
            assert total.capped == (abs(total.uncapped) > cap)
        else:
            assert total.points == total.uncapped


@PROPERTY
@given(
    matrix=matrices(breadth_points=st.integers(0, 10)),
    profile=profiles(),
    activities=activity_lists(),
    offset=offsets,
    data=st.data(),
)
def test_an_activity_of_a_positive_type_never_lowers_the_score(matrix, profile, activities, offset, data):
    positive = [w.activity_type for w in matrix.weights if w.points > 0]
    assume(positive)
    new = ActivityFact(data.draw(st.sampled_from(positive)), NOW + offset)
    facts = facts_of(profile)
    before = engine.score_lead(matrix, facts, activities, NOW)
    after = engine.score_lead(matrix, facts, [*activities, new], NOW)
    assert after.score >= before.score


@PROPERTY
@given(
    matrix=matrices(breadth_points=st.integers(-5, 0)),
    profile=profiles(),
    activities=activity_lists(),
    offset=offsets,
    data=st.data(),
)
def test_an_activity_of_a_negative_type_never_raises_the_score(matrix, profile, activities, offset, data):
    negative = [w.activity_type for w in matrix.weights if w.points < 0]
    assume(negative)
    new = ActivityFact(data.draw(st.sampled_from(negative)), NOW + offset)
    facts = facts_of(profile)
    before = engine.score_lead(matrix, facts, activities, NOW)
    after = engine.score_lead(matrix, facts, [*activities, new], NOW)
    assert after.score <= before.score


@PROPERTY
@given(matrix=matrices(), profile=profiles(), activities=activity_lists(max_size=25))
def test_the_score_is_never_negative_and_always_lands_in_a_band(matrix, profile, activities):
    result = engine.score_lead(matrix, facts_of(profile), activities, NOW)
    assert result.score >= 0
    assert matrix.band_for(result.score).key == result.band
    assert result.bucket in {b.key for b in matrix.buckets}
