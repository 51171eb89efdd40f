"""A marketer brings a lead file with a converted flag in through the import pages and calibrates on it.

The file is the first 400 rows of the public-style data set (`docs/data/public_style_leads.csv`):
imported once as leads, once as historical outcomes, then calibrated from `/calibration/`, and the
suggestion turned into a draft, all in a real browser.
"""

import re
from pathlib import Path

from playwright.sync_api import expect

from feedback.models import Calibration, Disposition
from leads.models import Lead
from scoring.models import ScoringMatrix
from tests.browser.conftest import BROWSER
from tests.factories import PASSWORD
from tests.scoring.governance_helpers import forget_cached_matrices

pytestmark = BROWSER

DATASET = Path(__file__).resolve().parents[2] / "docs" / "data" / "public_style_leads.csv"


def upload(page, kind: str, path: Path) -> None:
    page.get_by_test_id("nav-imports").click()
    page.get_by_label(kind).check()
    page.get_by_label("CSV file").set_input_files(path)
    page.get_by_role("button", name="Upload and map columns").click()


def test_a_marketer_imports_a_lead_file_with_a_converted_flag_and_calibrates_on_it(
    page, live_server, sign_in, marketer, settings, tmp_path
):
    forget_cached_matrices()
    settings.IMPORTS_DIR = tmp_path / "imports"
    lines = DATASET.read_text(encoding="utf-8").splitlines(keepends=True)
    slice_ = tmp_path / "leads-400.csv"
    slice_.write_text("".join(lines[:401]), encoding="utf-8")
    converted = sum(line.rstrip().endswith(",1") for line in lines[1:401])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(marketer.username, PASSWORD)

    # As leads: every suggested choice kept; the converted flag is skipped, the rest kept as attributes.
    upload(page, "Leads", slice_)
    expect(page.locator("main")).to_contain_text("400 rows")
    expect(page.get_by_label("email", exact=True)).to_have_value("email")
    expect(page.get_by_label("lead_source")).to_have_value("source")
    expect(page.get_by_label("occupation")).to_have_value("+attribute")
    expect(page.get_by_label("converted")).to_have_value("")
    page.get_by_role("button", name="Preview the import").click()
    page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("import-status")).to_have_text("Done")
    expect(page.get_by_test_id("count-created")).to_have_text("400")
    lead = Lead.objects.get(email="p00002@dataset.example")
    assert (lead.source, lead.attributes["occupation"], lead.attributes["total_visits"]) == (
        "Olark Chat",
        "Student",
        "3",
    )
    assert "converted" not in lead.attributes

    # As outcomes: the flag is matched by name; the date is the one choice to make.
    upload(page, "Historical outcomes", slice_)
    expect(page.get_by_label("converted")).to_have_value("outcome")
    page.get_by_label("last_activity_date").select_option(label="Date (required)")
    page.get_by_role("button", name="Preview the import").click()
    page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("count-created")).to_have_text("400")
    assert Disposition.objects.filter(imported=True, outcome="won").count() == converted

    page.get_by_test_id("nav-calibration").click()
    page.get_by_test_id("run-calibration").click()
    expect(page.get_by_text("Calibrated v1 on 400 leads")).to_be_visible()
    run = Calibration.objects.get()
    expect(page.get_by_test_id("auc-current")).to_have_text(str(run.result["current"]["auc"]))
    expect(page.get_by_test_id("auc-suggested")).to_have_text(str(run.result["suggested"]["auc"]))
    assert run.result["suggested"]["auc"] > run.result["current"]["auc"] + 0.1
    occupation = page.get_by_test_id("criteria-table").get_by_role(
        "row", name=re.compile("^occupation is working professional")
    )
    expect(occupation).to_be_visible()

    page.get_by_test_id("create-draft").click()
    expect(page.get_by_role("heading", name=re.compile("Draft v2"))).to_be_visible()
    draft = ScoringMatrix.objects.get(version=2)
    suggested = {
        f["label"]: f["suggested"]
        for f in run.result["features"]
        if f["kind"] == "candidate" and f["suggested"]
    }
    added = dict(draft.criteria.filter(field__startswith="attributes.").values_list("label", "points"))
    assert added and all(suggested[label] == points for label, points in added.items())
    assert added["occupation is working professional"] > 0
    assert ScoringMatrix.objects.active().version == 1
    assert not errors, errors
