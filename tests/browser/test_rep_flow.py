"""A rep works the queue in a real browser: claim, read why, log a call, disqualify, see it leave."""

import re

from playwright.sync_api import expect

from leads.models import Lead
from tests.browser.conftest import BROWSER
from tests.factories import PASSWORD, make_queue_lead

pytestmark = BROWSER


def test_a_rep_claims_reads_why_logs_a_call_and_disqualifies(page, live_server, sign_in, rep):
    lead = make_queue_lead(first_name="Quinn", last_name="Buyer", title="VP of IT", company="Northwind")
    sign_in(rep.username, PASSWORD)
    page.get_by_test_id("nav-queue").click()
    row = page.get_by_test_id("queue-row").filter(has_text="Quinn Buyer")
    expect(row).to_contain_text("A52")
    expect(row).to_contain_text("due in")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator(".alert-success")).to_contain_text("is yours now")
    expect(row).to_contain_text(re.compile("riley", re.I))
    row.get_by_role("link", name="Quinn Buyer").click()
    expect(page.get_by_test_id("lead-owner")).to_contain_text(re.compile("riley", re.I))

    expect(page.get_by_test_id("why")).to_contain_text("Executive (C-level, VP)")
    expect(page.get_by_test_id("why")).to_contain_text("Demo request")

    page.wait_for_load_state()  # htmx must be loaded, or the link opens the form as a page
    page.get_by_test_id("log-outcome").click()
    modal = page.locator("#outcome-modal")
    expect(modal).to_be_visible()
    modal.get_by_label("Connected").check()
    modal.get_by_role("button", name="Save outcome").click()
    expect(page.locator(".alert-success")).to_contain_text("Logged “Connected”")
    expect(page.get_by_test_id("lead-owner")).to_contain_text("contacted")

    page.wait_for_load_state()  # htmx must be loaded, or the link opens the form as a page
    page.get_by_test_id("log-outcome").click()
    expect(modal).to_be_visible()
    modal.get_by_label("Disqualified").check()
    modal.get_by_role("button", name="Save outcome").click()
    expect(modal.locator(".invalid-feedback, .alert-danger").first).to_contain_text("Choose a reason")
    modal.get_by_label("Reason").select_option(label="No budget")
    modal.get_by_role("button", name="Save outcome").click()
    expect(page.get_by_test_id("outcomes")).to_contain_text(re.compile(r"Disqualified · No budget"))
    expect(page.get_by_test_id("lead-owner")).to_contain_text("closed out by sales")

    page.get_by_test_id("nav-queue").click()
    expect(page.get_by_test_id("queue-table")).not_to_contain_text("Quinn Buyer")
    assert not Lead.objects.get(pk=lead.pk).in_queue
