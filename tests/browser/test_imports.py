"""A marketer imports messy files through the pages in a real browser, as a new user would."""

import csv
import io

from playwright.sync_api import expect

from feedback.models import Disposition
from leads.models import Lead
from tests.browser.conftest import BROWSER
from tests.factories import PASSWORD

pytestmark = BROWSER

# Latin-1 (Windows-1252), semicolons, a quoted newline, placeholders, thousands separators, a bad email.
LEADS = (
    "E-Mail;Vorname;Firma;Employees;Seniority;Visits;Notes\r\n"
    'ann@example.org;Anné;Müller AG;1.200;VP;12;"Met at the fair;\r\nwants a call"\r\n'
    "bo@example.org;Bo;N/A;Select;Manager;3;\r\n"
    "not-an-email;Cy;Acme;10;Staff;1;\r\n"
).encode("cp1252")
OUTCOMES = b"Email,Converted,Closed on\r\nann@example.org,1,15/01/2025\r\nbo@example.org,0,16/01/2025\r\n"


def upload(page, live_server, kind: str, name: str, data: bytes) -> None:
    page.get_by_test_id("nav-imports").click()
    page.get_by_label(kind).check()
    page.get_by_label("CSV file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Upload and map columns").click()


def test_a_marketer_imports_leads_then_outcomes_and_fixes_the_rejected_rows(
    page, live_server, sign_in, marketer, settings, tmp_path
):
    settings.IMPORTS_DIR = tmp_path
    sign_in(marketer.username, PASSWORD)

    upload(page, live_server, "Leads", "fair.csv", LEADS)
    mapping = page.get_by_test_id("mapping-table")
    expect(page.locator("main")).to_contain_text("3 rows · read as Windows-1252, semicolon-separated")
    expect(mapping).to_contain_text("Müller AG")  # sample values, decoded
    expect(page.get_by_label("E-Mail")).to_have_value("email")  # matched by name
    expect(page.get_by_label("Firma")).to_have_value("+attribute")
    page.get_by_label("Firma").select_option(label="Company")
    page.get_by_label("Vorname").select_option(label="First name")
    page.get_by_label("Notes").select_option(label="Skip")
    page.get_by_role("button", name="Preview the import").click()

    expect(page.get_by_test_id("preview-problems")).to_contain_text(
        "Row 4: email: “not-an-email” is not an email address"
    )
    expect(page.get_by_test_id("preview-table")).to_contain_text("Müller AG")
    expect(page.get_by_test_id("preview-table")).to_contain_text("1200")
    assert not Lead.objects.exists()
    page.get_by_test_id("start-import").click()

    expect(page.get_by_test_id("import-status")).to_have_text("Done")
    expect(page.get_by_test_id("count-created")).to_have_text("2")
    expect(page.get_by_test_id("count-rejected")).to_have_text("1")
    with page.expect_download() as download:
        page.get_by_test_id("rejected-download").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][-2:] == ["rejected row", "rejection reason"] and rows[1][0] == "not-an-email"
    ann = Lead.objects.get(email="ann@example.org")
    assert (ann.first_name, ann.company, ann.company_size, ann.attributes) == (
        "Anné",
        "Müller AG",
        1200,
        {"visits": "12"},
    )

    # The same file again: the remembered mapping is offered and nothing changes.
    upload(page, live_server, "Leads", "fair-again.csv", LEADS)
    expect(page.get_by_test_id("earlier-import")).to_be_visible()
    expect(page.get_by_label("Firma")).to_have_value("company")
    page.get_by_role("button", name="Preview the import").click()
    page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("count-duplicate")).to_have_text("2")
    expect(page.get_by_test_id("count-created")).to_have_text("0")
    expect(page.get_by_test_id("count-updated")).to_have_text("0")

    # Outcomes from before: a converted flag and a date.
    upload(page, live_server, "Historical outcomes", "won-lost.csv", OUTCOMES)
    page.get_by_label("Closed on").select_option(label="Date (required)")
    page.get_by_role("button", name="Preview the import").click()
    page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("count-created")).to_have_text("2")
    assert dict(Disposition.objects.values_list("lead__email", "outcome")) == {
        "ann@example.org": "won",
        "bo@example.org": "lost",
    }
    assert Disposition.objects.filter(imported=True).count() == 2


def test_a_file_that_is_not_csv_gets_a_clear_message(
    page, live_server, sign_in, marketer, settings, tmp_path
):
    settings.IMPORTS_DIR = tmp_path
    sign_in(marketer.username, PASSWORD)
    upload(page, live_server, "Leads", "leads.csv", b"PK\x03\x04\x14\x00\x06\x00")
    expect(page.get_by_test_id("upload-form")).to_contain_text("This is an Excel workbook")
