"""Imports end to end below the pages: counts, rejections, idempotent re-imports, no queue side effects."""

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.models import Disposition
from leads.imports.mapping import ATTRIBUTE, SKIP
from leads.imports.models import ImportJob, Rejection
from leads.imports.run import run_import, start_import
from leads.models import Activity, Lead, Transition
from tests.factories import make_lead, make_queue_lead
from tests.imports.helpers import import_file, upload

pytestmark = pytest.mark.django_db

LEADS = (
    "\ufeffE-mail;First name;Company;Employees;Seniority;Visits;Time on site;Converted\r\n"
    "ann@example.org;Ann;Acme;1.200;VP;12;3,5;1\r\n"
    "BO@example.org;Bo;N/A;Select;;3;;0\r\n"
    "not-an-email;Cy;Acme;10;Staff;1;;0\r\n"
    "dee@example.org;Dee;Initech;12;Emperor;1;;0\r\n"
)


def snapshot():
    leads = list(Lead.objects.order_by("pk").values())
    for lead in leads:
        lead.pop("updated_at")
    return leads, Transition.objects.count(), Activity.objects.count(), Disposition.objects.count()


def test_a_messy_lead_file_imports_with_counts_and_reasons(marketer):
    job = import_file(LEADS, by=marketer)
    assert job.status == ImportJob.Status.DONE
    assert (job.done, job.created, job.updated, job.duplicate, job.rejected) == (4, 2, 0, 0, 2)
    ann = Lead.objects.get(email="ann@example.org")
    assert (ann.first_name, ann.company, ann.company_size, ann.seniority) == (
        "Ann",
        "Acme",
        1200,
        "executive",
    )
    # The converted flag is skipped by default in a lead file (it comes in as an outcome).
    assert ann.attributes == {"visits": "12", "time_on_site": "3.5"}
    bo = Lead.objects.get(email="bo@example.org")
    assert (bo.company, bo.company_size, bo.seniority) == ("", None, "")  # placeholders are missing values
    reasons = dict(Rejection.objects.filter(job=job).values_list("row", "reason"))
    assert reasons[4].startswith("email:") and reasons[5].startswith("seniority:")
    assert ann.scored_at is not None  # scored on the way in


def test_reimporting_the_same_file_changes_nothing(marketer):
    import_file(LEADS, by=marketer)
    before = snapshot()
    again = import_file(LEADS, by=marketer)
    assert (again.created, again.updated, again.duplicate, again.rejected) == (0, 0, 2, 2)
    assert snapshot() == before


def test_a_changed_row_updates_and_empty_cells_keep_what_is_there(marketer):
    import_file(LEADS, by=marketer)
    job = import_file("Email,Company,Employees\nann@example.org,Acme Group,\n", by=marketer)
    assert (job.created, job.updated) == (0, 1)
    ann = Lead.objects.get(email="ann@example.org")
    assert (ann.company, ann.company_size) == ("Acme Group", 1200)


def test_skipped_columns_are_not_kept(marketer):
    job = import_file(
        LEADS, by=marketer, mapping={"Visits": SKIP, "Time on site": SKIP, "Converted": ATTRIBUTE}
    )
    assert job.created == 2
    assert Lead.objects.get(email="ann@example.org").attributes == {"converted": "1"}


def test_the_same_email_twice_in_a_file_is_one_lead_and_one_duplicate(marketer):
    job = import_file("Email,Company\nann@example.org,A\nANN@example.org,B\n", by=marketer)
    assert (job.created, job.duplicate) == (1, 1)
    assert Lead.objects.get().company == "B"  # the later line wins, as in the file


ACTIVITIES = (
    "Email\tType\tWhen\tPage\n"
    "ann@example.org\tWebsite visit\t05/03/2024 14:30\t/pricing\n"
    "ann@example.org\tdemo_request\t2024-03-06\t\n"
    "new@example.org\tEmail open\t6 Mar 2024\t\n"
    "ann@example.org\tFax received\t2024-03-06\t\n"
    "ann@example.org\tWebsite visit\tlast week\t\n"
)


def test_activities_import_once_and_rescore_their_leads(marketer):
    make_lead(email="ann@example.org")
    job = import_file(ACTIVITIES, kind="activities", by=marketer)
    assert (job.created, job.duplicate, job.rejected) == (3, 0, 2)
    visit = Activity.objects.get(activity_type__key="web_visit")
    assert visit.occurred_at == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    assert visit.properties == {"page": "/pricing"} and visit.source == "csv-import"
    assert Lead.objects.filter(email="new@example.org").exists()
    reasons = list(Rejection.objects.filter(job=job).order_by("row").values_list("reason", flat=True))
    assert "not a known activity type" in reasons[0] and "not a date" in reasons[1]

    again = import_file(ACTIVITIES, kind="activities", by=marketer)
    assert (again.created, again.duplicate, again.rejected) == (0, 3, 2)
    assert Activity.objects.count() == 3


OUTCOMES = (
    "Email,Result,Closed,Reason,Amount\n"
    'won@example.org,Closed Won,2024-02-01,,"12,500.00"\n'
    "lost@example.org,lost,01/02/2024,Went with a competitor,\n"
    "dq@example.org,Disqualified,2024-02-01,no-budget,\n"
    "dq@example.org,Disqualified,2024-02-01,,\n"
    "ghost@example.org,won,2024-02-01,,\n"
    "won@example.org,maybe,2024-02-01,,\n"
    "won@example.org,won,2099-01-01,,\n"
)


def test_historical_outcomes_are_recorded_with_their_date_and_nothing_else(marketer):
    queued = make_queue_lead(email="won@example.org")
    make_lead(email="lost@example.org")
    make_lead(email="dq@example.org")
    before = Lead.objects.get(pk=queued.pk)
    transitions = Transition.objects.count()
    job = import_file(OUTCOMES, kind="outcomes", by=marketer)
    assert (job.created, job.duplicate, job.rejected) == (3, 0, 4)
    won = Disposition.objects.get(lead=queued)
    assert (won.outcome, won.imported, won.amount, won.by) == ("won", True, 12500, marketer)
    assert won.at == datetime(2024, 2, 1, tzinfo=UTC)
    lost = Disposition.objects.get(lead__email="lost@example.org")
    assert lost.reason is None  # as when a rep logs it: only disqualifying keeps a reason
    assert Disposition.objects.get(lead__email="dq@example.org").reason.code == "no-budget"
    # History, not a rep acting now: the queue, the SLA clock and the owner are untouched.
    after = Lead.objects.get(pk=queued.pk)
    assert (after.in_queue, after.closed_out, after.due_at, after.first_contact_at, after.owner_id) == (
        before.in_queue,
        before.closed_out,
        before.due_at,
        before.first_contact_at,
        before.owner_id,
    )
    assert after.in_queue and Transition.objects.count() == transitions
    reasons = list(Rejection.objects.filter(job=job).order_by("row").values_list("reason", flat=True))
    assert reasons == [
        "reason: a disqualified lead needs a reason",
        "email: no lead has this email; import the leads first",
        "outcome: “maybe” is not won, lost or disqualified",
        "date: 2099-01-01 is in the future",
    ]
    again = import_file(OUTCOMES, kind="outcomes", by=marketer)
    assert (again.created, again.duplicate) == (0, 3)
    assert Disposition.objects.count() == 3


def test_a_converted_flag_records_won_and_lost_for_calibration(marketer):
    from feedback.selectors import known_outcomes

    a, b = make_lead(email="a@example.org"), make_lead(email="b@example.org")
    job = import_file(
        "Email,Converted,Last activity\na@example.org,1,2024-01-05\nb@example.org,0,2024-01-06\n",
        kind="outcomes",
        by=marketer,
        mapping={"Last activity": "at"},
    )
    assert job.created == 2
    assert known_outcomes() == {a.pk: True, b.pk: False}


def test_the_file_is_removed_when_the_import_finishes(marketer, imports_dir):
    job = upload(LEADS, by=marketer)
    path = job.path
    assert path.exists() and path.parent == imports_dir
    start_import(job=job, enqueue=False)
    job = run_import(job.pk)
    assert not path.exists() and job.stored_name == ""
    assert job.rejections.count() == 2  # what the result page needs stays in the database


def test_a_stopped_import_resumes_after_the_last_finished_batch(marketer, monkeypatch):
    monkeypatch.setattr("leads.imports.run.BATCH", 2)
    job = upload(LEADS, by=marketer)
    start_import(job=job, enqueue=False)
    # As if the worker died after committing the first batch (rows 2 and 3).
    ImportJob.objects.filter(pk=job.pk).update(status="running", done=2, created=2)
    job = run_import(job.pk)
    assert (job.done, job.created, job.rejected) == (4, 2, 2)
    assert not Lead.objects.exists()  # the first batch's rows were not read again


def test_an_import_whose_file_is_gone_fails_with_a_message(marketer):
    job = upload(LEADS, by=marketer)
    job.path.unlink()
    start_import(job=job, enqueue=False)
    job = run_import(job.pk)
    assert job.status == ImportJob.Status.FAILED and "upload it again" in job.error


EMAILS = st.from_regex(r"[a-z]{1,6}@example\.(org|com)", fullmatch=True)
COMPANY = st.one_of(
    st.sampled_from(["", "N/A", "Select", "Acme", "Initech", "=cmd()", "Café, Ltd."]),
    # A NUL byte refuses the whole file; a lone surrogate cannot be written as UTF-8 by any spreadsheet.
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=20),
)
SIZE = st.sampled_from(["", "12", "1,200", "1.200", "N/A", "lots"])


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    rows=st.lists(st.tuples(EMAILS, COMPANY, SIZE), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_importing_any_file_a_second_time_changes_nothing(marketer, rows, delimiter):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows([("Email", "Company", "Employees"), *rows])
    first = import_file(out.getvalue(), by=marketer)
    assert first.done == first.created + first.updated + first.duplicate + first.rejected
    before = snapshot()
    second = import_file(out.getvalue(), by=marketer)
    assert (second.created, second.updated) == (0, 0)
    assert second.rejected == first.rejected
    assert snapshot() == before


def test_files_of_imports_never_run_are_removed_after_the_retention_time(marketer, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from leads.imports.run import purge_stale_uploads

    settings.LEADMATRIX = settings.LEADMATRIX | {"IMPORT_RETENTION_HOURS": 24}
    old, fresh, running = upload(LEADS, by=marketer), upload(LEADS, by=marketer), upload(LEADS, by=marketer)
    ImportJob.objects.filter(pk__in=[old.pk, running.pk]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    ImportJob.objects.filter(pk=running.pk).update(status=ImportJob.Status.RUNNING)
    assert purge_stale_uploads() == 1
    assert not old.path.exists() and fresh.path.exists() and running.path.exists()
    old.refresh_from_db()
    assert old.stored_name == "" and not old.can_start
    call_command("purge_imports")  # the command for cron runs the same service


def test_a_failed_import_resumes_from_the_page(client, marketer, django_capture_on_commit_callbacks):
    job = upload(LEADS, by=marketer)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, error="The import stopped: boom"
    )
    client.force_login(marketer)
    assert "Resume the import" in client.get(f"/imports/{job.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imports/{job.pk}/start/")
    job.refresh_from_db()
    assert (job.status, job.created, job.error) == (ImportJob.Status.DONE, 2, "")


def test_the_admin_lists_imports_read_only(client, admin_user, marketer):
    job = upload(LEADS, by=marketer, name="admin-view.csv")
    client.force_login(admin_user)
    assert "admin-view.csv" in client.get("/admin/imports/importjob/").content.decode()
    assert client.get(f"/admin/imports/importjob/{job.pk}/change/").status_code == 200  # a view, no save
    assert client.post(f"/admin/imports/importjob/{job.pk}/change/", {}).status_code == 403


def test_a_lead_created_meanwhile_by_someone_else_is_updated_on_a_second_try(marketer, monkeypatch):
    from django.db import IntegrityError

    import leads.imports.run as run

    real, calls = run.upsert_leads, []

    def racing(items, **kwargs):
        calls.append(len(items))
        if len(calls) == 1:  # as if the API created ann@ between our SELECT and our INSERT
            make_lead(email="ann@example.org", company="From the API")
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(items, **kwargs)

    monkeypatch.setattr(run, "upsert_leads", racing)
    job = import_file(LEADS, by=marketer)
    assert job.status == ImportJob.Status.DONE and len(calls) == 2
    assert (job.created, job.updated, job.rejected) == (1, 1, 2)
    assert Lead.objects.get(email="ann@example.org").company == "Acme"
