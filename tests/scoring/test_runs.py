"""Incremental, full and decay rescoring as the rest of the app uses them."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads.ingest import ActivityIn, IngestError, record_activities, record_activity
from leads.models import Activity, Lead, Transition
from scoring.models import RescoreRun
from scoring.runs import refresh_decay, run_rescore, start_rescore
from tests.factories import add_activity, make_lead

pytestmark = pytest.mark.django_db


def test_a_new_activity_rescores_its_lead_in_the_same_transaction():
    now = timezone.now()
    lead = make_lead(seniority="executive")
    record_activity(ActivityIn(lead.email, "demo_request", now, "crm", "ev-1"), now=now)
    lead.refresh_from_db()
    assert (lead.label, lead.bucket, lead.in_queue) == ("A52", "mql", True)
    assert lead.last_activity_at == now
    transition = Transition.objects.get(lead=lead)
    assert (transition.from_bucket, transition.to_bucket, transition.cause) == ("", "mql", "activity")


def test_an_activity_for_an_unknown_email_creates_the_lead():
    now = timezone.now()
    recorded = record_activity(ActivityIn("New.Person@Example.org", "web_visit", now, "web", "v1"), now=now)
    lead = Lead.objects.get(pk=recorded.lead_id)
    assert lead.email == "new.person@example.org"
    assert lead.score == 7  # 5 for the visit + 2 for breadth


def test_a_resent_event_is_stored_once_and_reported_as_a_duplicate():
    now = timezone.now()
    item = ActivityIn("a@example.org", "whitepaper_download", now, "mautic", "42")
    first, again = record_activities([item, item], now=now)
    assert first.created and not again.created
    assert Activity.objects.count() == 1


def test_an_unknown_activity_type_is_refused_and_nothing_is_written():
    now = timezone.now()
    with pytest.raises(IngestError, match="unknown activity type 'telepathy'"):
        record_activities(
            [ActivityIn("a@example.org", "web_visit", now), ActivityIn("a@example.org", "telepathy", now)],
            now=now,
        )
    assert not Lead.objects.exists()


def test_a_full_rescore_run_records_progress_and_finishes():
    now = timezone.now()
    for n in range(5):
        add_activity(make_lead(seniority="head"), "webinar_attended", now - timedelta(days=n))
    run = start_rescore(cause="publish", now=now, enqueue=False)
    run = run_rescore(run.pk)
    assert (run.status, run.done, run.total, run.percent) == ("done", 5, 5, 100)
    assert Transition.objects.filter(cause="publish").count() == 5


def test_a_stopped_run_resumes_where_it_stopped(settings):
    settings.LEADMATRIX = settings.LEADMATRIX | {"RESCORE_BATCH_SIZE": 2}
    now = timezone.now()
    leads = [make_lead(seniority="manager") for _ in range(5)]
    run = start_rescore(cause="publish", now=now, enqueue=False)
    # As if the worker died after the first batch: leads up to the second id are done.
    RescoreRun.objects.filter(pk=run.pk).update(status="failed", done=2, last_lead_id=leads[1].pk)
    run = run_rescore(run.pk)
    assert run.status == "done" and run.done == 5
    scored = set(Lead.objects.filter(scored_version__isnull=False).values_list("pk", flat=True))
    assert scored == {lead.pk for lead in leads[2:]}


def test_enqueued_runs_are_carried_out_by_the_task_backend(django_capture_on_commit_callbacks):
    make_lead(seniority="staff")
    with django_capture_on_commit_callbacks(execute=True):
        run = start_rescore(cause="publish")
    run.refresh_from_db()
    assert run.status == "done"


def test_decay_moves_a_silent_lead_down_and_writes_a_decay_transition():
    now = timezone.now()
    lead = make_lead(seniority="executive")
    for n in range(3):
        record_activity(
            ActivityIn(lead.email, "video_view", now - timedelta(hours=n + 1), "web", f"v{n}"), now=now
        )
    lead.refresh_from_db()
    assert lead.bucket == "mql"
    assert refresh_decay(now=now) == 0  # nothing moved yet
    later = now + timedelta(days=45)
    assert refresh_decay(now=later) == 1
    lead.refresh_from_db()
    assert lead.bucket == "lead" and lead.score < 40
    decay = Transition.objects.get(lead=lead, cause="decay")
    assert (decay.from_bucket, decay.to_bucket) == ("mql", "lead")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_a_full_rescore_that_moves_many_leads_refreshes_the_planner_statistics():
    from scoring.rescore import rescore_all

    def analyzed():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'leads_lead'")
            return cursor.fetchone()[0]

    for n in range(30):
        add_activity(make_lead(email=f"p{n}@example.org"), "whitepaper_download")
    Lead.objects.update(score=0, grade="", bucket="")  # as if never scored: every lead will move
    before = analyzed()
    rescore_all(cause="publish")
    assert analyzed() == before + 1
    rescore_all(cause="publish")  # nothing moves this time: no ANALYZE
    assert analyzed() == before + 1
