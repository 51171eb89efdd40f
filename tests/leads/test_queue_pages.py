"""The queue, the team overview and a lead's page as sales uses them."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback.models import Disposition, Reason
from leads.models import Lead
from tests.factories import make_queue_lead

pytestmark = pytest.mark.django_db


def rows(html: str) -> int:
    return html.count('data-testid="queue-row"')


def test_a_rep_sees_own_and_unassigned_leads_but_not_another_reps(client, rep, rep2):
    mine = make_queue_lead(owner=rep, first_name="Mine")
    make_queue_lead(first_name="Free")
    make_queue_lead(owner=rep2, first_name="Theirs")
    client.force_login(rep)
    html = client.get("/leads/queue/").content.decode()
    assert "Mine" in html and "Free" in html and "Theirs" not in html
    assert "My queue" in html and "Claim" in html
    assert client.get(f"/leads/{mine.pk}/").status_code == 200


def test_the_queue_is_in_work_order_and_flags_overdue_leads(client, manager):
    now = timezone.now()
    late = make_queue_lead(first_name="Late", now=now - timedelta(hours=60))
    fresh = make_queue_lead(first_name="Fresh", now=now)
    client.force_login(manager)
    html = client.get("/leads/queue/").content.decode()
    assert html.index("Late") < html.index("Fresh")
    assert "overdue 12 h" in html and "due in 47 h" in html
    assert "Team queue" in html and "Assign selected to" in html
    overdue = client.get("/leads/queue/?overdue=1").content.decode()
    assert "Late" in overdue and "Fresh" not in overdue
    assert late.pk != fresh.pk


def test_filters_and_search_answer_with_a_fragment_for_htmx(client, manager):
    make_queue_lead(first_name="Ana", company="Zeta Corp", industry="Software")
    make_queue_lead(first_name="Bo", company="Acme", industry="Retail")
    client.force_login(manager)
    fragment = client.get("/leads/queue/?q=zeta", headers={"HX-Request": "true"}).content.decode()
    # Whole words: a random CSRF token can hold the letters "Bo".
    assert re.search(r"\bAna\b", fragment) and not re.search(r"\bBo\b", fragment) and "<html" not in fragment
    assert rows(client.get("/leads/queue/?industry=Retail").content.decode()) == 1
    empty = client.get("/leads/queue/?q=nobody-at-all").content.decode()
    assert "No leads in the queue match these filters." in empty


def test_pages_follow_by_keyset_without_losing_or_repeating_a_lead(client, manager, settings):
    settings.LEADMATRIX = settings.LEADMATRIX | {"QUEUE_PAGE_SIZE": 5}
    now = timezone.now()
    for n in range(12):
        make_queue_lead(first_name=f"Lead{n:02d}", now=now - timedelta(hours=n))
    client.force_login(manager)
    seen, url = [], "/leads/queue/"
    while url:
        response = client.get(url)
        page = response.context["page"]
        seen += [lead.pk for lead in page.leads]
        url = f"/leads/queue/?after={page.next_cursor}" if page.next_cursor else ""
    expected = list(Lead.objects.in_queue().queue_order().values_list("pk", flat=True))
    assert seen == expected and len(seen) == 12


def test_the_arrivals_banner_counts_leads_that_entered_after_the_page_loaded(client, rep):
    since = timezone.now()
    client.force_login(rep)
    assert (
        "new lead" not in client.get("/leads/queue/arrivals/", {"since": since.isoformat()}).content.decode()
    )
    make_queue_lead(now=since + timedelta(seconds=1))
    html = client.get("/leads/queue/arrivals/", {"since": since.isoformat()}).content.decode()
    assert "1 new lead entered the queue" in html


def test_claiming_from_the_queue_and_losing_the_race(client, rep, rep2):
    lead = make_queue_lead()
    client.force_login(rep)
    client.post(f"/leads/{lead.pk}/claim/")
    client.force_login(rep2)
    response = client.post(f"/leads/{lead.pk}/claim/", follow=True)
    assert response.status_code == 404  # the lead is riley's now, out of robin's reach
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_a_manager_assigns_selected_leads(client, manager, rep):
    leads = [make_queue_lead() for _ in range(2)]
    client.force_login(manager)
    response = client.post(
        "/leads/queue/assign/", {"lead": [lead.pk for lead in leads], "owner": rep.pk}, follow=True
    )
    assert "2 leads assigned to riley" in response.content.decode()
    assert Lead.objects.filter(owner=rep).count() == 2


def test_logging_a_disqualification_through_the_modal_form(client, rep):
    lead = make_queue_lead(owner=rep)
    client.force_login(rep)
    form = client.get(f"/leads/{lead.pk}/outcome/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="outcome-form"' in form and "<html" not in form
    refused = client.post(
        f"/leads/{lead.pk}/outcome/",
        {"outcome": "disqualified", "expected_owner": rep.pk},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and "Choose a reason" in refused.content.decode()
    done = client.post(
        f"/leads/{lead.pk}/outcome/",
        {
            "outcome": "disqualified",
            "reason": Reason.objects.get(code="no-need").pk,
            "expected_owner": rep.pk,
        },
        headers={"HX-Request": "true"},
    )
    assert done.status_code == 204 and done["HX-Redirect"] == f"/leads/{lead.pk}/"
    assert Disposition.objects.get(lead=lead).outcome == "disqualified"
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Disqualified" in page and "No need" in page and "closed out by sales" in page


def test_the_lead_page_shows_owner_sla_history_and_chart_data(client, rep):
    lead = make_queue_lead(owner=rep)
    client.force_login(rep)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Owner: <strong>Riley" in html or "Owner: <strong>riley" in html
    assert "due in 47 h" in html
    assert 'id="score-history"' in html and '"bucket": "mql"' in html


def test_team_overview_counts_each_reps_work(client, manager, rep, rep2):
    now = timezone.now()
    make_queue_lead(owner=rep, now=now - timedelta(hours=60))
    make_queue_lead(owner=rep)
    make_queue_lead()
    client.force_login(manager)
    response = client.get("/leads/team/")
    rows = {row["rep"].username: row for row in response.context["rows"]}
    assert (rows["riley"]["owned"], rows["riley"]["overdue"]) == (2, 1)
    assert rows["robin"]["owned"] == 0
    assert response.context["unassigned_count"] == 1


def test_managers_add_rename_and_retire_reasons(client, manager):
    client.force_login(manager)
    client.post("/reasons/", {"reason-label": "Wrong region", "reason-code": "wrong-region"})
    reason = Reason.objects.get(code="wrong-region")
    client.post(f"/reasons/{reason.pk}/rename/", {"label": "Outside our regions"})
    client.post(f"/reasons/{reason.pk}/toggle/")
    reason.refresh_from_db()
    assert (reason.label, reason.active) == ("Outside our regions", False)
    client.post("/reasons/", {"queue-cool_off_days": "3", "queue-warn_hours": "2"})
    from feedback.models import QueueSettings

    assert QueueSettings.current().cool_off_days == 3
