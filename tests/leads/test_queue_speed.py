"""What keeps the queue page cheap at a million leads, without changing what it shows.

The figures are measured by `manage.py bench_queue` (docs/benchmarks.md); these tests hold the
means in place: the rows written by one tag (escaped as the template escaped them), the lookups
kept in the per-process cache, and the few queries a request makes.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from feedback.models import Notification
from leads.models import Lead
from leads.selectors import ACTIVE_BUCKETS_KEY, active_buckets, rep_choices
from leads.templatetags.queue_tags import options
from scoring.models import ScoringMatrix
from tests.factories import make_queue_lead, make_user

pytestmark = pytest.mark.django_db


def test_a_queue_row_escapes_what_people_typed(client, manager):
    make_queue_lead(first_name="<script>x</script>", company='Tom & "Jerry"', title="CTO")
    client.force_login(manager)
    html = client.get("/leads/queue/").content.decode()
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "CTO · Tom &amp; &quot;Jerry&quot;" in html
    assert 'aria-label="Select &lt;script&gt;x&lt;/script&gt;' in html


def test_a_queue_row_shows_label_action_sla_activity_owner_and_recycling(client, manager, rep):
    now = timezone.now()
    lead = make_queue_lead(owner=rep, now=now - timedelta(hours=3), first_name="Ana")
    Lead.objects.filter(pk=lead.pk).update(recycled_count=2)
    client.force_login(manager)
    html = client.get("/leads/queue/").content.decode()
    row = html[html.index('data-testid="queue-row"') : html.index("</tr>", html.index("Ana"))]
    assert f'<span class="lm-label lm-b-mql">{lead.grade}{lead.score}</span>' in row
    assert f'<a href="/leads/{lead.pk}/">Ana {lead.last_name}</a>' in row
    assert "recycled ×2" in row and "due in 44 h" in row and "3 h ago" in row
    assert '<span class="lm-bucket lm-b-mql">MQL</span>' in row
    assert '<td class="small">riley</td>' in row  # the owner's first name, else the username


def test_a_rep_gets_a_claim_button_and_its_form_for_unassigned_leads_only(client, rep, rep2):
    free = make_queue_lead(first_name="Free")
    mine = make_queue_lead(first_name="Mine", owner=rep)
    client.force_login(rep)
    html = client.get("/leads/queue/?q=e").content.decode()
    assert f'form="claim-{free.pk}">Claim</button>' in html
    assert f'<form id="claim-{free.pk}" method="post" action="/leads/{free.pk}/claim/">' in html
    assert 'name="next" value="/leads/queue/?q=e"' in html
    assert f"claim-{mine.pk}" not in html


def test_filter_options_mark_the_chosen_value_and_escape_labels():
    assert options([("7", "Riley <R>"), ("8", "Robin")], "8") == (
        '<option value="7">Riley &lt;R&gt;</option><option value="8" selected>Robin</option>'
    )
    assert options("ABCD", "B") == (
        "<option>A</option><option selected>B</option><option>C</option><option>D</option>"
    )
    assert options(["web", "ads"]) == "<option>web</option><option>ads</option>"


def test_the_htmx_fragment_keeps_the_reps_in_the_managers_assign_select(client, manager, rep):
    make_queue_lead()
    client.force_login(manager)
    fragment = client.get("/leads/queue/?grade=A", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert f'<option value="{rep.pk}">riley</option>' in fragment


def test_a_queue_request_asks_the_database_six_times(client, manager, django_assert_num_queries):
    for _ in range(3):
        make_queue_lead()
    Notification.objects.create(user=manager, kind="sla", key="k1", message="Due soon")
    client.force_login(manager)
    client.get("/leads/queue/")  # fills the per-process cache: buckets, reps, filter values
    # session, user, the two-factor check (has the person a device?), roles, the page of leads, both badges
    with django_assert_num_queries(6):
        html = client.get("/leads/queue/").content.decode()
    assert '<span class="badge rounded-pill text-bg-danger lm-badge-count">1</span>' in html


def test_the_bell_is_not_counted_for_an_htmx_fragment(client, rep, django_assert_num_queries):
    client.force_login(rep)
    client.get("/leads/queue/")
    with django_assert_num_queries(5):  # session, user, the two-factor check, roles, the page of leads
        client.get("/leads/queue/", headers={"HX-Request": "true"})


def test_saving_a_matrix_version_forgets_the_cached_buckets(db):
    names = {b.key: b.name for b in active_buckets()}
    assert names["mql"] == "MQL" and cache.get(ACTIVE_BUCKETS_KEY) is not None
    ScoringMatrix.objects.active().save()  # publication saves the new and the retired version
    assert cache.get(ACTIVE_BUCKETS_KEY) is None


def test_reps_are_listed_by_name_and_kept_for_a_minute(db, rep):
    assert rep_choices() == [(str(rep.pk), rep.get_full_name() or rep.username)]
    make_user("rory", "Sales rep")
    assert len(rep_choices()) == 1  # from the cache; a new rep shows within the minute
    cache.clear()
    assert len(rep_choices()) == 2
