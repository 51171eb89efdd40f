"""Report selectors and pages: figures computed in SQL, filters, empty states, bad input, CSV."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from feedback.dispositions import record_disposition
from feedback.models import Reason
from feedback.reports import (
    ReportFilters,
    default_filters,
    funnel,
    matrix_numbers,
    percentile_cont,
    rejections,
    speed,
)
from leads.models import Lead
from tests.factories import make_lead, make_queue_lead

pytestmark = pytest.mark.django_db


def log(lead, by, outcome, *, at, **kw):
    return record_disposition(
        lead_id=lead.pk, by=by, outcome=outcome, expected_owner_id=lead.owner_id, now=at, **kw
    )


@pytest.fixture
def history(rep, rep2):
    """Four queue leads (A52, MQL): one won, one disqualified, one nurtured, one not yet contacted."""
    now = timezone.now()
    won = make_queue_lead(owner=rep, now=now - timedelta(hours=10), source="webinar")
    log(won, rep, "connected", at=now - timedelta(hours=8))
    log(won, rep, "opportunity", at=now - timedelta(hours=7), amount=Decimal(5000))
    log(won, rep, "won", at=now - timedelta(hours=6), amount=Decimal(5000))
    dq = make_queue_lead(owner=rep2, now=now - timedelta(hours=60), source="website")
    log(dq, rep2, "connected", at=now - timedelta(hours=4))  # 56 h: outside the 48 h SLA
    log(dq, rep2, "disqualified", at=now - timedelta(hours=3), reason=Reason.objects.get(code="no-budget"))
    nurtured = make_queue_lead(owner=rep, now=now - timedelta(hours=20), source="website")
    log(nurtured, rep, "nurture", at=now - timedelta(hours=2), reason=Reason.objects.get(code="no-budget"))
    waiting = make_queue_lead(owner=rep2, now=now - timedelta(hours=1), source="website")
    cold = make_lead(source="website")  # never reached sales
    return {"won": won, "dq": dq, "nurtured": nurtured, "waiting": waiting, "cold": cold}


def test_the_grid_counts_leads_reached_sales_and_conversion_per_cell(history):
    numbers = matrix_numbers(filters=default_filters())
    cell = next(c for c in numbers.cells if c.grade == "A" and c.band == "40–79")
    assert (cell.leads, cell.reached, cell.converted, cell.rate) == (4, 4, 1, 25.0)
    assert cell.bucket == "mql"
    assert numbers.grades["A"] == 4 and numbers.total == 5
    assert dict((key, n) for key, _, n in numbers.buckets)["mql"] == 4


def test_filters_narrow_every_report_and_a_filter_that_matches_nothing_gives_zeros(history):
    webinar = matrix_numbers(
        filters=ReportFilters(start=default_filters().start, end=default_filters().end, source="webinar")
    )
    assert webinar.total == 1
    nothing = ReportFilters(start=default_filters().start, end=default_filters().end, industry="Shipbuilding")
    assert matrix_numbers(filters=nothing).total == 0
    assert funnel(filters=nothing) == []
    assert rejections(filters=nothing)["total"] == 0


def test_the_funnel_follows_a_cohort_stage_by_stage_with_conversion_between_stages(history):
    rows = funnel(filters=default_filters())
    totals = {
        key: sum(r.counts[key] for r in rows) for key in ("new", "mql", "accepted", "opportunity", "won")
    }
    assert totals == {"new": 5, "mql": 4, "accepted": 2, "opportunity": 1, "won": 1}
    assert len(rows) == 1  # every lead was created this week
    assert [rate for _, _, rate in rows[0].steps] == [None, 80.0, 50.0, 50.0, 100.0]


def test_speed_gives_median_and_90th_percentile_hours_and_sla_kept_per_bucket_and_rep(history):
    data = speed(filters=default_filters())
    overall = data["overall"]
    assert overall["entered"] == 4 and overall["contacted"] == 2
    assert overall["median_h"] == pytest.approx(29.0, abs=0.1)  # 2 h and 56 h
    assert overall["p90_h"] == pytest.approx(50.6, abs=0.1)
    assert overall["sla_rate"] == 50.0
    reps = {r["name"]: r for r in data["by_rep"]}
    assert reps["riley"]["sla_rate"] == 100.0 and reps["robin"]["sla_rate"] == 0.0
    won = next(r for r in data["to_close"] if r["outcome"] == "won")
    assert won["closed"] == 1 and won["median_h"] == pytest.approx(4.0, abs=0.1)


def test_percentile_interpolates_like_postgresql():
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile_cont([10.0], 0.9) == 10.0
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([0.0, 10.0], 0.9) == pytest.approx(9.0)


def test_rejections_rank_reasons_and_break_them_down_by_source_and_bucket(history):
    data = rejections(filters=default_filters())
    assert data["total"] == 2
    top = data["ranked"][0]
    assert (top["total"], top["disqualified"], top["nurtured"], top["share"]) == (2, 1, 1, 100.0)
    assert data["by_source"]["columns"] == ["website"]
    assert data["by_bucket"]["columns"] == ["MQL"] and data["by_bucket"]["rows"][0][1:] == ([2], 2)


def test_report_pages_show_their_figures(client, manager, history):
    client.force_login(manager)
    page = client.get("/reports/matrix/").content.decode()
    assert 'data-testid="numbers-grid"' in page and "25.0 % converted" in page
    assert "Accepted by sales" in client.get("/reports/funnel/").content.decode()
    assert "50.0 %" in client.get("/reports/speed/").content.decode()
    assert "No budget" in client.get("/reports/rejections/").content.decode()


def test_a_range_that_ends_before_it_starts_is_refused_with_a_message(client, manager, history):
    client.force_login(manager)
    response = client.get("/reports/matrix/?start=2026-03-10&end=2026-03-01")
    assert response.status_code == 200
    page = response.content.decode()
    assert "before it starts" in page and 'data-testid="numbers-grid"' not in page


def test_filters_that_match_nothing_show_an_empty_state(client, manager, history):
    client.force_login(manager)
    for url in ("/reports/matrix/", "/reports/funnel/", "/reports/speed/", "/reports/rejections/"):
        page = client.get(f"{url}?source=nowhere").content.decode()
        assert 'data-testid="empty-state"' in page, url


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_exports_are_streamed_csv_and_safe_against_formulas(client, manager, history):
    Lead.objects.filter(pk=history["cold"].pk).update(email="=cmd@example.org", source="=HYPERLINK()")
    client.force_login(manager)
    response = client.get("/reports/matrix/?export=leads")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0][:2] == ["lead id", "email"] and len(rows) == 6
    cold = next(r for r in rows if r[0] == str(history["cold"].pk))
    assert cold[1] == "'=cmd@example.org" and cold[2] == "'=HYPERLINK()"
    won = next(r for r in rows if r[0] == str(history["won"].pk))
    assert won[-2:] == ["yes", "yes"]
    grid = _csv(client.get("/reports/matrix/?export=grid"))
    assert ["A", "40–79", "MQL", "4", "4", "1", "25.0"] in grid
    reasons = _csv(client.get("/reports/rejections/?export=reasons"))
    assert reasons[1][:2] == ["No budget", "2"]


@pytest.mark.parametrize(
    ("counts", "fraction", "minutes"),
    [
        ({0: 1, 10: 1, 20: 2}, 0.5, 15.5),
        ({5: 3}, 0.5, 5.5),
        ({7: 1}, 0.9, 7.5),
        ({0: 9, 100: 1}, 0.9, 10.5),
        ({}, 0.5, None),
    ],
)
def test_binned_percentiles_agree_with_percentile_cont_on_the_middle_of_each_minute(
    counts, fraction, minutes
):
    from feedback.reports import binned_percentile

    expected = percentile_cont(sorted(m + 0.5 for m, n in counts.items() for _ in range(n)), fraction)
    result = binned_percentile(counts, fraction)
    if minutes is None:
        assert expected is None and result is None
    else:
        assert expected == pytest.approx(minutes)
        assert result.total_seconds() / 60 == pytest.approx(minutes)
