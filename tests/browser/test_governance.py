"""A marketer and a sales manager change the matrix together in a real browser, as new users would.

One story from start to finish, the way two new users would walk through it (each live-server test
costs a flush and a restore of the migrated rows, so the steps share one test).
"""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead
from scoring import governance
from scoring.models import ActivityWeight, ScoringMatrix
from tests.factories import PASSWORD, add_activity, make_lead
from tests.scoring.governance_helpers import forget_cached_matrices


def test_draft_edit_in_place_propose_approve_from_both_sides_and_publish(
    page, live_server, sign_in, marketer, manager
):
    forget_cached_matrices()  # ids are reused across flushed tests; see governance_helpers
    now = timezone.now()
    for n in range(4):
        lead = make_lead(first_name=f"Wendy{n}", seniority="head", industry="Software")
        for k in range(n):
            add_activity(lead, "whitepaper_download", now - timedelta(days=k + 1))

    # The marketer starts a draft from the active matrix and changes a weight in place.
    sign_in(marketer.username, PASSWORD)
    page.get_by_role("link", name="Matrix", exact=True).click()
    page.get_by_role("button", name="Start a draft").click()
    expect(page.get_by_role("heading", name=re.compile("Draft v2"))).to_be_visible()
    row = page.get_by_test_id("weight-whitepaper_download")
    row.get_by_test_id("points").click()
    form = page.get_by_test_id("item-form")
    expect(form).to_be_visible()
    url_before = page.url
    form.get_by_label("Points").fill("20")
    form.get_by_label("Reason").fill("Whitepaper readers convert")
    form.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("points")).to_have_text("+20")
    assert page.url == url_before  # swapped in place, no page load
    expect(page.get_by_test_id("problems")).to_contain_text("No problems")

    # A bad value is refused next to the field.
    row.get_by_role("link", name="Edit").click()
    page.get_by_test_id("item-form").get_by_label("Half-life (days)").fill("-3")
    page.get_by_test_id("item-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("item-form")).to_contain_text("A half-life must be more than 0 days")
    page.get_by_test_id("item-form").get_by_role("link", name="Cancel").click()
    expect(row.get_by_test_id("points")).to_have_text("+20")

    # Meanwhile the sales manager saves a row she has open: she sees his value and who changed it.
    visit = ActivityWeight.objects.get(matrix__version=2, activity_type__key="web_visit")
    visit_row = page.get_by_test_id("weight-web_visit")
    visit_row.get_by_test_id("points").click()
    page.get_by_test_id("item-form").get_by_label("Points").fill("8")
    governance.edit_item(
        item=visit, revision=visit.revision, values={"points": 6}, by=manager, reason="Visits matter"
    )
    page.get_by_test_id("item-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("conflict")).to_contain_text("sam changed this")
    expect(page.get_by_test_id("conflict")).to_contain_text("Visits matter")
    expect(page.get_by_test_id("item-form").get_by_label("Points")).to_have_value("6")
    page.get_by_test_id("item-form").get_by_label("Points").fill("8")
    page.get_by_test_id("item-form").get_by_role("button", name="Save").click()
    expect(visit_row.get_by_test_id("points")).to_have_text("+8")

    # She proposes it: the diff, the preview on today's leads and the backtest are there.
    page.get_by_test_id("propose-link").click()
    expect(page.get_by_test_id("diff")).to_contain_text("Whitepaper download: 15 → 20")
    expect(page.get_by_test_id("diff")).to_contain_text("Website visit: 5 → 8")
    page.get_by_label("Summary").fill("Whitepaper readers convert: count them more.")
    page.get_by_role("button", name="Propose for approval").click()
    expect(page.get_by_test_id("proposal-status")).to_have_text("Awaiting approval")
    expect(page.get_by_test_id("diff")).to_contain_text("Whitepaper download: 15 → 20")
    expect(page.get_by_test_id("preview")).to_contain_text("Effect on today's leads")
    expect(page.get_by_test_id("bucket-counts")).to_be_visible()
    expect(page.get_by_test_id("preview")).to_contain_text("Backtest on known outcomes")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("approvals")).to_contain_text("Marketing: maria")
    page.get_by_role("button", name="Sign out").click()

    # The sales manager sees the badge, approves for sales and publishes.
    sign_in(manager.username, PASSWORD)
    expect(page.get_by_test_id("proposals-badge")).to_have_text(re.compile(r"^1"))
    page.get_by_test_id("nav-proposals").click()
    page.get_by_role("link", name=re.compile(r"#\d+ · v2")).click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("proposal-status")).to_have_text("Approved")
    page.get_by_role("button", name=re.compile("Publish v2")).click()
    expect(page.get_by_test_id("rescore-progress")).to_contain_text("Done", timeout=15000)
    assert ScoringMatrix.objects.active().version == 2
    assert set(Lead.objects.values_list("scored_version__version", flat=True)) == {2}
    # Who changed which weight, and why, is on the version's history page (the admin shows the same,
    # see tests/scoring/test_governance_pages.py).
    page.goto(f"{live_server.url}/matrix/v2/history/")
    expect(page.get_by_test_id("history")).to_contain_text("Whitepaper readers convert")
    expect(page.get_by_test_id("history")).to_contain_text("Visits matter")
