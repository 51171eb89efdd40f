"""Each role signs in through a real browser and sees its own home and navigation."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BROWSER
from tests.factories import PASSWORD

pytestmark = BROWSER


@pytest.mark.parametrize(
    ("who", "card", "heading"),
    [
        ("marketer", "home-marketer", "The scoring matrix"),
        ("manager", "home-manager", "Your team"),
        ("rep", "home-rep", "Your leads"),
        ("admin_user", "home-admin", "Administration"),
    ],
)
def test_each_role_sees_its_home(page, live_server, sign_in, request, who, card, heading):
    user = request.getfixturevalue(who)
    sign_in(user.username, PASSWORD)
    expect(page.get_by_test_id(card)).to_contain_text(heading)
    expect(page.get_by_test_id("whoami")).to_contain_text(user.username)
    assert page.get_by_test_id("home-norole").count() == 0


def test_a_rep_follows_the_matrix_to_a_lead_and_reads_why_it_scored(page, live_server, sign_in, rep):
    from datetime import timedelta

    from django.utils import timezone

    from leads.ingest import ActivityIn, record_activity
    from tests.factories import make_lead

    lead = make_lead(first_name="Dana", last_name="Director", seniority="head", industry="Healthcare")
    now = timezone.now()
    for n in range(3):
        record_activity(
            ActivityIn(lead.email, "whitepaper_download", now - timedelta(days=n), "web", f"w{n}")
        )
    sign_in(rep.username, PASSWORD)
    page.get_by_role("link", name="Matrix", exact=True).click()
    expect(page.get_by_test_id("routing-grid")).to_be_visible()
    page.get_by_role("link", name="Leads", exact=True).click()
    page.get_by_role("link", name="Dana Director").click()
    expect(page.get_by_test_id("lead-label")).to_have_text(re.compile(r"^A\d+$"))
    expect(page.get_by_test_id("why")).to_contain_text("Head of department")
    expect(page.get_by_test_id("why")).to_contain_text("Whitepaper download")


def test_the_wrong_password_keeps_you_out(page, live_server, rep):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(rep.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".alert-danger, .alert-block, .errorlist, .invalid-feedback").first).to_be_visible()
    assert page.url.endswith("/accounts/login/")
