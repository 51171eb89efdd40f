"""Reports, before/after, calibration and the playbook in a real browser, as new users would use them.

One story per person: a sales manager reads the reports and the before/after of a publication, a
marketer runs a calibration and makes a draft from it, a rep reads the playbook. Checks that charts
drew (no CSP or script error) by the canvas having been sized by Chart.js.
"""

import random
import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from feedback.dispositions import record_disposition
from feedback.models import DailySnapshot, Disposition, Reason
from scoring import governance
from scoring.models import ScoringMatrix
from tests.factories import PASSWORD, make_lead, make_queue_lead
from tests.scoring.governance_helpers import approved, draft_of, forget_cached_matrices, set_points


def _watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def test_a_sales_manager_reads_the_reports_and_the_before_and_after_of_a_change(
    page, live_server, sign_in, marketer, manager, rep
):
    forget_cached_matrices()
    now = timezone.now()
    for n in range(3):
        lead = make_queue_lead(owner=rep, now=now - timedelta(hours=30 + n), source="webinar")
        record_disposition(
            lead_id=lead.pk,
            by=rep,
            outcome="connected",
            expected_owner_id=rep.pk,
            now=now - timedelta(hours=n),
        )
        if n == 0:
            record_disposition(
                lead_id=lead.pk, by=rep, outcome="won", expected_owner_id=rep.pk, amount=Decimal(800), now=now
            )
        else:
            record_disposition(lead_id=lead.pk, by=rep, outcome="disqualified", expected_owner_id=rep.pk,
                               reason=Reason.objects.get(code="no-budget"), now=now)  # fmt: skip
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 25, by=marketer)
    publication = governance.publish_proposal(
        proposal=approved(draft, marketer=marketer, manager=manager), by=manager
    )
    day = timezone.localdate(publication.at)
    for back in range(1, 4):
        DailySnapshot.objects.create(
            day=day - timedelta(days=back), matrix=publication.previous, mqls=2, taken_at=now
        )
    DailySnapshot.objects.create(day=day, matrix=publication.matrix, mqls=5, taken_at=now)
    errors = _watch_errors(page)

    sign_in(manager.username, PASSWORD)
    page.get_by_test_id("nav-reports").click()
    expect(page.get_by_role("heading", name=re.compile("Grade × score band"))).to_be_visible()
    expect(page.get_by_test_id("numbers-grid")).to_contain_text("33.3 % converted")
    expect(page.locator("canvas[data-chart='chart-grades']")).to_have_attribute("height", re.compile(r"\d+"))

    page.get_by_role("link", name="Why leads are rejected").click()
    expect(page.get_by_test_id("reasons-table")).to_contain_text("No budget")
    with page.expect_download() as download:
        page.get_by_test_id("export-reasons").click()
    assert download.value.suggested_filename == "rejection-reasons.csv"

    # A range that ends before it starts is explained, not an error page.
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_label("To").fill("2026-03-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("filter-error")).to_contain_text("before it starts")

    # A filter that matches nothing says so.
    page.get_by_role("link", name="Funnel").click()
    page.get_by_label("Source").select_option("webinar")
    page.get_by_label("Grade").select_option("D")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("empty-state")).to_contain_text("No leads match")

    page.get_by_role("link", name="Before / after").click()
    expect(page.get_by_role("heading", name=re.compile("v1 → v2"))).to_be_visible()
    expect(page.get_by_text("Whitepaper download: 15 → 25")).to_be_visible()
    mqls = page.get_by_test_id("comparison-table").get_by_role("row", name=re.compile("MQLs per day"))
    expect(mqls).to_contain_text("+150.0 %")
    expect(page.locator("canvas[data-chart='chart-before-after']")).to_have_attribute(
        "height", re.compile(r"\d+")
    )
    assert not errors, errors


def test_a_marketer_runs_calibration_and_creates_a_draft_from_the_suggestion(
    page, live_server, sign_in, marketer
):
    forget_cached_matrices()
    rng = random.Random(3)
    now = timezone.now()
    rows = []
    for n in range(120):
        won = n < 60
        seniority = (
            ("student" if won else "executive")
            if rng.random() < 0.85
            else rng.choice(["student", "executive"])
        )
        rows.append(
            Disposition(
                lead=make_lead(seniority=seniority), outcome="won" if won else "lost", at=now, imported=True
            )
        )
    Disposition.objects.bulk_create(rows)
    errors = _watch_errors(page)

    sign_in(marketer.username, PASSWORD)
    page.get_by_test_id("nav-calibration").click()
    expect(page.get_by_test_id("no-calibration")).to_be_visible()
    page.get_by_test_id("run-calibration").click()
    expect(page.get_by_text("Calibrated v1 on 120 leads")).to_be_visible()
    student = page.get_by_test_id("criteria-table").get_by_role("row", name=re.compile("^Student"))
    expect(student).to_contain_text("-40")
    expect(page.locator("canvas[data-chart='chart-calibration']")).to_have_attribute(
        "height", re.compile(r"\d+")
    )

    page.get_by_test_id("create-draft").click()
    expect(page.get_by_role("heading", name=re.compile("Draft v2"))).to_be_visible()
    expect(page.get_by_text("needs one approval from Marketing and one from a Sales manager")).to_be_visible()
    assert ScoringMatrix.objects.active().version == 1
    assert ScoringMatrix.objects.get(version=2).criteria.get(label="Student").points > -40
    assert not errors, errors


def test_a_rep_reads_the_playbook(page, live_server, sign_in, rep):
    forget_cached_matrices()
    sign_in(rep.username, PASSWORD)
    page.get_by_test_id("nav-playbook").click()
    expect(page.get_by_role("heading", name="The lead playbook")).to_be_visible()
    buckets = page.get_by_test_id("playbook-buckets")
    expect(buckets.get_by_role("row", name=re.compile("Sales-ready"))).to_contain_text("4 hours")
    expect(page.get_by_test_id("playbook-reasons")).to_contain_text("No budget")
    page.get_by_role("link", name="Logging an outcome").click()
    expect(page.get_by_text("This is the first contact: it stops the SLA clock.")).to_be_in_viewport()
