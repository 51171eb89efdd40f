"""Set-based rescoring (SQL) and incremental rescoring (Python) give exactly the engine's result."""

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Activity, Lead, Transition
from scoring import engine
from scoring.matrices import engine_matrix
from scoring.models import (
    ActivityType,
    ActivityWeight,
    Bucket,
    FitCriterion,
    Persona,
    PersonaRule,
    PersonaWeight,
    RoutingCell,
    ScoreBand,
    ScoringMatrix,
)
from scoring.rescore import SCORE_FIELDS, lead_activities, rescore_all, rescore_leads, rescore_set
from tests.factories import add_activity, make_lead
from tests.scoring.matrices import (
    NOW,
    act,
    activity_lists,
    criterion,
    matrices,
    profiles,
    simple_matrix,
    weight,
)

pytestmark = pytest.mark.django_db

OUTCOME = ["fit_points", "grade", "score", "bucket", "persona", "bucket_priority", "in_queue"]


def store_matrix(plain: engine.Matrix, *, status: str) -> ScoringMatrix:
    """Save an engine matrix as the rows a marketer would have built (version 2)."""
    a, b, c = plain.grade_cutoffs
    breadth = plain.breadth
    matrix = ScoringMatrix.objects.create(
        version=2,
        name="Generated",
        status=status,
        grade_a_min=a,
        grade_b_min=b,
        grade_c_min=c,
        breadth_measure=breadth.measure if breadth else "",
        breadth_window_days=breadth.window_days if breadth else 30,
        breadth_points=breadth.points if breadth else 0,
        breadth_cap=breadth.cap if breadth else None,
    )
    buckets = {
        bucket.key: bucket
        for bucket in Bucket.objects.bulk_create(
            Bucket(
                matrix=matrix,
                key=b.key,
                name=b.name,
                rank=b.rank,
                priority=b.priority,
                in_queue=b.in_queue,
            )
            for b in plain.buckets
        )
    }
    bands = {
        band.key: band
        for band in ScoreBand.objects.bulk_create(
            ScoreBand(matrix=matrix, key=b.key, low=b.low, high=b.high) for b in plain.bands
        )
    }
    RoutingCell.objects.bulk_create(
        RoutingCell(matrix=matrix, grade=grade, band=bands[band], bucket=buckets[bucket])
        for (grade, band), bucket in plain.grid.items()
    )
    FitCriterion.objects.bulk_create(
        FitCriterion(
            matrix=matrix, position=i, label=c.label, points=c.points, **condition_fields(c.condition)
        )
        for i, c in enumerate(plain.criteria)
    )
    personas = {}
    for i, p in enumerate(plain.personas):
        personas[p.key] = Persona.objects.create(matrix=matrix, key=p.key, name=p.name, position=i)
        PersonaRule.objects.bulk_create(
            PersonaRule(persona=personas[p.key], **condition_fields(c)) for c in p.conditions
        )
    type_ids = dict(ActivityType.objects.values_list("key", "pk"))
    for w in plain.weights:
        stored = ActivityWeight.objects.create(
            matrix=matrix,
            activity_type_id=type_ids[w.activity_type],
            points=w.points,
            half_life_days=w.half_life_days,
            cap=w.cap,
            floor_bucket=buckets.get(w.floor_bucket),
            ceiling_bucket=buckets.get(w.ceiling_bucket),
            override_days=w.override_days,
        )
        PersonaWeight.objects.bulk_create(
            PersonaWeight(weight=stored, persona=personas[key], multiplier=m)
            for key, m in w.persona_multipliers.items()
        )
    return matrix


def condition_fields(c: engine.Condition) -> dict:
    return {"field": c.field, "operator": c.operator, "value": c.value, "value_to": c.value_to}


def store_lead(n: int, profile: dict, activities: list[engine.ActivityFact]) -> Lead:
    lead = make_lead(email=f"Generated{n}@Example.org", **profile)
    type_ids = dict(ActivityType.objects.values_list("key", "pk"))
    Activity.objects.bulk_create(
        Activity(lead=lead, activity_type_id=type_ids[a.activity_type], occurred_at=a.occurred_at)
        for a in activities
    )
    return lead


def expected(matrix: engine.Matrix, lead: Lead, activities) -> tuple:
    r = engine.score_lead(matrix, lead.facts(), activities, NOW)
    bucket = matrix.bucket(r.bucket)
    return (r.fit_points, r.grade, r.score, r.bucket, r.persona or "", bucket.priority, bucket.in_queue)


def outcomes(ids) -> dict[int, tuple]:
    return {row[0]: row[1:] for row in Lead.objects.filter(pk__in=ids).values_list("pk", *OUTCOME)}


def forget_scores(ids) -> None:
    """Overwrite the scoring fields with values no rescore produces, so a skipped lead shows."""
    Lead.objects.filter(pk__in=ids).update(
        fit_points=-999,
        grade="?",
        score=-1,
        bucket="?",
        persona="?",
        bucket_priority=999,
        scored_version=None,
    )


@contextmanager
def rolled_back():
    """Run one example in a savepoint that is rolled back, with no published matrix cached."""
    with transaction.atomic(), mock.patch.dict("scoring.matrices._published_cache", clear=True):
        yield
        transaction.set_rollback(True)


DB_EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
leads_with_activities = st.lists(st.tuples(profiles(), activity_lists(max_size=8)), min_size=1, max_size=5)


@DB_EXAMPLES
@given(plain=matrices(), leads=leads_with_activities)
def test_set_based_incremental_and_id_list_rescoring_give_the_engines_result(plain, leads):
    with rolled_back():
        ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).update(
            status=ScoringMatrix.Status.RETIRED
        )
        matrix = store_matrix(plain, status=ScoringMatrix.Status.ACTIVE)
        stored = [(store_lead(n, profile, acts), acts) for n, (profile, acts) in enumerate(leads)]
        ids = [lead.pk for lead, _ in stored]
        want = {lead.pk: expected(engine_matrix(matrix), lead, acts) for lead, acts in stored}
        assert want == {lead.pk: expected(plain, lead, acts) for lead, acts in stored}

        forget_scores(ids)
        report = rescore_all(cause=Transition.Cause.PUBLISH, now=NOW, matrix=matrix)
        assert outcomes(ids) == want
        assert report.leads == len(ids)
        assert set(Lead.objects.values_list("scored_version", flat=True)) == {matrix.pk}

        forget_scores(ids)
        rescore_leads(ids, cause=Transition.Cause.PROFILE, now=NOW)
        assert outcomes(ids) == want
        assert set(Lead.objects.values_list("scored_version", flat=True)) == {matrix.pk}

        forget_scores(ids)
        rescore_set(ids, cause=Transition.Cause.ACTIVITY, now=NOW)
        assert outcomes(ids) == want
        assert set(Lead.objects.values_list("scored_version", flat=True)) == {matrix.pk}


EDGES = simple_matrix(
    criteria=(
        criterion("seniority", "equals", "executive", points=40),
        criterion("industry", "one_of", "Software, Ärzte", points=15),
        criterion("company_size", "between", "200", "999", points=-45),
    ),
    weights=(
        weight("web_visit", 10, half_life_days=7.0, cap=30),
        weight("video_view", 30, half_life_days=30.0, cap=60),
        weight("demo_request", 5, floor_bucket="mql", override_days=30),
        weight("unsubscribe", -50, cap=50, ceiling_bucket="nurture", override_days=90),
    ),
    breadth=engine.Breadth("activities", 30, 2, cap=10),
)


@pytest.mark.parametrize(
    ("profile", "activities"),
    [
        ({}, [act("web_visit", 7)]),  # exactly one half-life: 5 points
        ({}, [act("web_visit", 14)]),  # 2.5 rounds up to 3
        ({}, [act("web_visit", 30)]),  # on the breadth window's edge
        ({}, [act("web_visit", 30, microseconds=1)]),  # just outside it
        ({}, [act("web_visit", -20), act("web_visit", -1)]),  # in the future
        ({"seniority": "EXECUTIVE"}, [act("web_visit", d) for d in range(6)]),  # capped at 30
        ({}, [act("demo_request", 30)]),  # the floor's last moment
        ({}, [act("demo_request", 30, microseconds=1)]),  # the floor has lapsed
        ({"seniority": "executive"}, [act("video_view", 1), act("unsubscribe", 90)]),
        ({"seniority": "executive"}, [act("video_view", 1), act("unsubscribe", 91)]),
        ({"industry": "ÄRZTE", "company_size": 200}, [act("unsubscribe", 1)]),  # never below zero
        ({"industry": "ärzte", "company_size": 999}, [act("email_open", 1)]),  # unweighted type
    ],
)
def test_rescoring_agrees_with_the_engine_on_the_edges_of_each_rule(profile, activities):
    matrix = store_matrix(EDGES, status=ScoringMatrix.Status.DRAFT)
    lead = store_lead(0, profile, activities)
    want = expected(EDGES, lead, activities)

    rescore_all(cause=Transition.Cause.PUBLISH, now=NOW, matrix=matrix)
    assert outcomes([lead.pk]) == {lead.pk: want}

    ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).update(status="retired")
    ScoringMatrix.objects.filter(pk=matrix.pk).update(status=ScoringMatrix.Status.ACTIVE)
    forget_scores([lead.pk])
    with mock.patch.dict("scoring.matrices._published_cache", clear=True):
        rescore_leads([lead.pk], cause=Transition.Cause.ACTIVITY, now=NOW)
    assert outcomes([lead.pk]) == {lead.pk: want}


# --- transitions and batches, with the starting matrix -------------------------------------------

PROFILES = [
    {"seniority": "executive", "industry": "Software", "company_size": 5000},
    {"seniority": "head", "industry": "Healthcare", "revenue_potential": 250_000},
    {"seniority": "manager", "department": "Engineering", "company_size": 300},
    {"seniority": "staff"},
    {"seniority": "student"},
]


def ten_leads() -> list[Lead]:
    """Ten leads of mixed fit; the even ones were very active a day before NOW, the odd ones not."""
    leads = []
    for n in range(10):
        lead = make_lead(**PROFILES[n % len(PROFILES)])
        if n % 2 == 0:
            for kind in ("video_view", "video_view", "pricing_visit", "webinar_attended"):
                add_activity(lead, kind, NOW - timedelta(days=1))
        if n == 3:
            add_activity(lead, "demo_request", NOW - timedelta(days=2))
        leads.append(lead)
    return leads


def buckets() -> dict[int, str]:
    return dict(Lead.objects.values_list("pk", "bucket"))


def test_a_rescore_writes_a_transition_exactly_for_each_lead_whose_bucket_changed():
    ten_leads()
    active = ScoringMatrix.objects.active()
    rescore_all(cause=Transition.Cause.PUBLISH, now=NOW)
    before = buckets()
    first = set(Transition.objects.values_list("pk", flat=True))

    later = NOW + timedelta(days=60)
    report = rescore_all(cause=Transition.Cause.DECAY, now=later)

    after = buckets()
    moved = {pk for pk in after if after[pk] != before[pk]}
    assert moved and moved != set(after)  # decay moved some leads and left others
    new = Transition.objects.exclude(pk__in=first)
    assert sorted(new.values_list("lead_id", "from_bucket", "to_bucket")) == sorted(
        (pk, before[pk], after[pk]) for pk in moved
    )
    assert set(new.values_list("cause", "matrix", "at")) == {(Transition.Cause.DECAY, active.pk, later)}
    for t in new.select_related("lead"):
        assert (t.grade, t.score) == (t.lead.grade, t.lead.score)
    assert report.transitions == len(moved)


def test_rescoring_again_at_the_same_moment_changes_nothing():
    ten_leads()
    first = rescore_all(cause=Transition.Cause.PUBLISH, now=NOW)
    assert (first.changed, first.transitions) == (10, 10)
    transitions = Transition.objects.count()

    again = rescore_all(cause=Transition.Cause.DECAY, now=NOW)

    assert (again.leads, again.changed, again.transitions) == (10, 0, 0)
    assert Transition.objects.count() == transitions


def test_small_batches_give_the_same_result_as_one_and_report_progress_per_batch():
    ids = [lead.pk for lead in ten_leads()]
    columns = [*OUTCOME, "scored_version", "scored_at"]
    calls = []
    with rolled_back():
        small = rescore_all(
            cause=Transition.Cause.PUBLISH, now=NOW, batch_size=3, progress=lambda *a: calls.append(a)
        )
        in_batches = list(Lead.objects.order_by("pk").values_list(*columns))
        in_batches_moves = sorted(Transition.objects.values_list("lead_id", "to_bucket", "score"))

    whole = rescore_all(cause=Transition.Cause.PUBLISH, now=NOW)

    assert in_batches == list(Lead.objects.order_by("pk").values_list(*columns))
    plain, activities = engine_matrix(ScoringMatrix.objects.active()), lead_activities(ids)
    assert [row[: len(OUTCOME)] for row in in_batches] == [
        expected(plain, lead, activities.get(lead.pk, [])) for lead in Lead.objects.order_by("pk")
    ]
    assert in_batches_moves == sorted(Transition.objects.values_list("lead_id", "to_bucket", "score"))
    assert (small.leads, small.changed, small.transitions) == (whole.leads, whole.changed, whole.transitions)
    assert (small.batches, whole.batches) == (4, 1)
    assert calls[:3] == [(3, 10, ids[2]), (6, 10, ids[5]), (9, 10, ids[8])]
    assert [done for done, _, _ in calls] == [3, 6, 9, 10]


@pytest.mark.parametrize(
    "weights",
    [(), (weight("web_visit", 10), weight("unsubscribe", -50))],
    ids=["no-weights", "no-caps"],
)
def test_a_matrix_without_any_cap_rescores(weights):
    plain = simple_matrix(weights=weights)
    matrix = store_matrix(plain, status=ScoringMatrix.Status.DRAFT)
    activities = [act("web_visit", 1), act("web_visit", 2), act("unsubscribe", 3)]
    lead = store_lead(0, {}, activities)

    rescore_all(cause=Transition.Cause.PUBLISH, now=NOW, matrix=matrix)

    assert outcomes([lead.pk]) == {lead.pk: expected(plain, lead, activities)}


@pytest.mark.parametrize(
    "weights",
    [
        (weight("demo_request", 5, floor_bucket="mql"),),
        (weight("unsubscribe", -50, cap=50, ceiling_bucket="nurture"),),
        (weight("demo_request", 5, cap=5),),
    ],
    ids=["only-a-floor", "only-a-ceiling", "neither"],
)
def test_a_matrix_without_floors_or_ceilings_rescores(weights):
    plain = simple_matrix(
        weights=weights, criteria=(criterion("seniority", "equals", "executive", points=40),)
    )
    matrix = store_matrix(plain, status=ScoringMatrix.Status.DRAFT)
    activities = [act("demo_request", 1), act("unsubscribe", 3)]
    lead = store_lead(0, {"seniority": "executive"}, activities)

    rescore_all(cause=Transition.Cause.PUBLISH, now=NOW, matrix=matrix)

    assert outcomes([lead.pk]) == {lead.pk: expected(plain, lead, activities)}


def test_activities_decayed_to_nothing_score_as_in_the_engine():
    # 0.5 ** 1200 is below the smallest double: Python gives 0.0, PostgreSQL's POWER an error.
    plain = simple_matrix(weights=(weight("web_visit", 10, half_life_days=0.5),))
    matrix = store_matrix(plain, status=ScoringMatrix.Status.DRAFT)
    activities = [act("web_visit", 600), act("web_visit", 0.5)]
    lead = store_lead(0, {}, activities)

    rescore_all(cause=Transition.Cause.PUBLISH, now=NOW, matrix=matrix)

    assert outcomes([lead.pk]) == {lead.pk: expected(plain, lead, activities)}
    assert Lead.objects.get(pk=lead.pk).score == 5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="side by side only on PostgreSQL")
def test_batches_side_by_side_give_the_result_of_one_by_one_and_progress_in_id_order():
    ids = [lead.pk for lead in ten_leads()]
    columns = [*OUTCOME, "scored_version", "scored_at", "due_at", "queue_entered_at"]
    calls = []
    side = rescore_all(
        cause=Transition.Cause.PUBLISH, now=NOW, batch_size=2, workers=3, progress=lambda *a: calls.append(a)
    )
    side_rows = list(Lead.objects.order_by("pk").values_list(*columns))
    side_moves = sorted(Transition.objects.values_list("lead_id", "from_bucket", "to_bucket", "score"))
    Transition.objects.all().delete()
    forget_scores(ids)
    Lead.objects.update(bucket="", in_queue=False)

    with transaction.atomic():  # in a caller's transaction the batches run one by one
        one = rescore_all(cause=Transition.Cause.PUBLISH, now=NOW, batch_size=2, workers=3)

    assert side_rows == list(Lead.objects.order_by("pk").values_list(*columns))
    assert side_moves == sorted(
        Transition.objects.values_list("lead_id", "from_bucket", "to_bucket", "score")
    )
    assert (side.leads, side.changed, side.transitions, side.batches) == (10, 10, 10, 6)
    assert (one.leads, one.changed, one.transitions, one.batches) == (10, 10, 10, 6)
    assert calls == [(2 * n, 10, ids[2 * n - 1]) for n in range(1, 6)] + [(10, 10, ids[9])]


LEAD_ROW = [*SCORE_FIELDS, "last_activity_at"]  # every field a rescore writes


def rows_and_moves(ids) -> tuple[list, list]:
    rows = list(Lead.objects.filter(pk__in=ids).order_by("pk").values_list("pk", *LEAD_ROW))
    moves = sorted(
        Transition.objects.values_list(
            "lead_id", "from_bucket", "to_bucket", "in_queue", "grade", "score", "cause", "at"
        )
    )
    return rows, moves


def test_rescoring_a_list_of_leads_in_sql_writes_what_the_engine_path_writes():
    leads = ten_leads()
    rescore_all(cause=Transition.Cause.PUBLISH, now=NOW)
    # Queue states the next rescore must carry over: contacted, closed out (and recycled when its
    # bucket rises), and a lead that drops out of the queue when its demo request ages out.
    Lead.objects.filter(pk=leads[0].pk).update(first_contact_at=NOW - timedelta(hours=1))
    Lead.objects.filter(pk__in=[leads[1].pk, leads[2].pk]).update(closed_out=True)
    Lead.objects.filter(pk=leads[1].pk).update(bucket="nurture")
    add_activity(leads[1], "demo_request", NOW + timedelta(days=39))
    ids = [lead.pk for lead in leads]
    later = NOW + timedelta(days=40)
    newest = {ids[1]: NOW + timedelta(days=39), ids[3]: later, ids[4]: NOW - timedelta(days=400)}
    Lead.objects.filter(pk=ids[3]).update(last_activity_at=NOW)
    Lead.objects.filter(pk=ids[4]).update(last_activity_at=NOW)
    Transition.objects.all().delete()

    with rolled_back():
        rescore_leads(ids, cause=Transition.Cause.ACTIVITY, now=later, last_activity=newest)
        by_engine = rows_and_moves(ids)
    written = rescore_set(ids, cause=Transition.Cause.ACTIVITY, now=later, last_activity=newest)

    assert rows_and_moves(ids) == by_engine
    assert written == len(by_engine[1]) > 0
    assert {c for *_, c, _ in by_engine[1]} == {Transition.Cause.ACTIVITY, Transition.Cause.RECYCLE}
    latest = dict(Lead.objects.filter(pk__in=newest).values_list("pk", "last_activity_at"))
    assert latest == {ids[1]: NOW + timedelta(days=39), ids[3]: later, ids[4]: NOW}  # only ever moves forward
