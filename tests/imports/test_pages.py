"""The import pages through the Django client: the flow, bad files, the mapping step, exports."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.imports.mapping import ATTRIBUTE
from leads.imports.models import ImportJob, SavedMapping
from leads.models import Lead
from tests.factories import make_lead
from tests.imports.helpers import import_file, upload

pytestmark = pytest.mark.django_db

FILE = (
    "Email;Vorname;Firma;Mitarbeiter;Webinar visits\r\n"
    "ann@example.org;Ann;Acme;1.200;3\r\n"
    '=bad;Evil;=HYPERLINK("http://x");1;1\r\n'
)


def post_file(client, data: bytes | str, *, name="leads.csv", kind="leads"):
    content = data.encode() if isinstance(data, str) else data
    return client.post("/imports/", {"kind": kind, "file": SimpleUploadedFile(name, content)})


def mapping_data(job: ImportJob, **changes) -> dict:
    data = {f"col_{i}": job.mapping[h] for i, h in enumerate(job.headers)}
    for header, value in changes.items():
        data[f"col_{job.headers.index(header)}"] = value
    return data | {"remember": "on", "day_first": "1"}


def test_a_marketer_uploads_maps_previews_and_imports(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    response = post_file(client, FILE)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == f"/imports/{job.pk}/mapping/"

    page = client.get(response.url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Mitarbeiter" in text and "1.200" in text  # every column, with sample values
    assert job.mapping == {
        "Email": "email",
        "Vorname": "first_name",
        "Firma": ATTRIBUTE,  # no field by that name: kept as an attribute unless changed
        "Mitarbeiter": ATTRIBUTE,
        "Webinar visits": ATTRIBUTE,
    }

    data = mapping_data(job, Firma="company", Mitarbeiter="company_size")
    response = client.post(f"/imports/{job.pk}/mapping/", data)
    assert response.status_code == 302 and response.url == f"/imports/{job.pk}/preview/"

    preview = client.get(response.url)
    assert preview.status_code == 200
    assert not Lead.objects.exists()  # the preview writes nothing
    text = preview.content.decode()
    assert "Row 3: email:" in text and "1200" in text

    with django_capture_on_commit_callbacks(execute=True):  # the task runs inline after the commit
        response = client.post(f"/imports/{job.pk}/start/")
    assert response.status_code == 302 and response.url == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.created, job.rejected) == ("done", 1, 1)
    ann = Lead.objects.get()
    assert (ann.company, ann.company_size, ann.attributes) == ("Acme", 1200, {"webinar_visits": "3"})
    result = client.get(f"/imports/{job.pk}/")
    assert result.status_code == 200 and 'data-testid="rejected-download"' in result.content.decode()

    # The progress card alone for htmx polling.
    fragment = client.get(f"/imports/{job.pk}/", headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith("<section")


def test_the_mapping_is_remembered_for_the_next_file_with_the_same_columns(client, marketer):
    client.force_login(marketer)
    post_file(client, FILE)
    job = ImportJob.objects.get()
    client.post(f"/imports/{job.pk}/mapping/", mapping_data(job, Firma="company", Mitarbeiter="company_size"))
    assert SavedMapping.objects.count() == 1

    post_file(client, FILE.replace("Acme", "Globex"), name="next.csv")
    second = ImportJob.objects.latest("pk")
    assert second.mapping["Firma"] == "company" and second.mapping["Mitarbeiter"] == "company_size"
    assert "Using the mapping saved" in client.get(f"/imports/{second.pk}/mapping/").content.decode()


def test_a_mapping_without_an_email_column_is_refused(client, marketer):
    client.force_login(marketer)
    post_file(client, FILE)
    job = ImportJob.objects.get()
    response = client.post(f"/imports/{job.pk}/mapping/", mapping_data(job, Email=""))
    assert response.status_code == 400
    assert "Choose the column that holds the email" in response.content.decode()
    response = client.post(f"/imports/{job.pk}/mapping/", mapping_data(job, Vorname="email"))
    assert "Only one column can be the email" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "The submitted file is empty"),
        ("blank.csv", b"\r\n  \r\n", "The file is empty"),
        ("header.csv", b"Email,Name\r\n", "no rows to import"),
        ("book.xlsx", b"PK\x03\x04rest", "spreadsheet, not a CSV"),
        ("book.csv", b"PK\x03\x04rest", "Excel workbook"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "an image"),
        ("nul.csv", b"Email\r\na@example.org\x00\r\n", "NUL"),
    ],
)
def test_files_that_cannot_be_imported_get_a_400_and_a_reason(
    client, marketer, imports_dir, name, data, message
):
    client.force_login(marketer)
    response = post_file(client, data, name=name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not imports_dir.exists() or not any(imports_dir.iterdir())  # nothing left on disk


def test_an_oversized_file_is_refused(client, marketer, settings):
    settings.LEADMATRIX = settings.LEADMATRIX | {"IMPORT_MAX_MB": 1}
    client.force_login(marketer)
    response = post_file(client, "Email\n" + "a@example.org\n" * 90_000)
    assert response.status_code == 400
    text = response.content.decode()
    assert "larger than 1 MB" in text and "This field is required" not in text
    assert not ImportJob.objects.exists()


def test_the_upload_handler_stops_storing_a_file_past_the_limit(rf):
    from django.core.files.uploadhandler import SkipFile

    from leads.imports.uploads import SizeLimitHandler

    request = rf.post("/imports/")
    handler = SizeLimitHandler(request, limit=10)
    assert handler.receive_data_chunk(b"12345", 0) == b"12345"
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(b"678901", 5)
    assert request.upload_too_large


def test_an_upload_without_the_csrf_token_is_refused(marketer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    response = post_file(client, FILE)
    assert response.status_code == 403 and not ImportJob.objects.exists()


def test_a_file_without_a_kind_or_file_is_a_form_error(client, marketer):
    client.force_login(marketer)
    response = client.post("/imports/", {"kind": "leads"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()


def test_an_import_that_ran_cannot_be_started_or_remapped_again(client, marketer):
    client.force_login(marketer)
    job = import_file(FILE, by=marketer)
    assert client.get(f"/imports/{job.pk}/mapping/").url == f"/imports/{job.pk}/"
    assert client.get(f"/imports/{job.pk}/preview/").url == f"/imports/{job.pk}/"
    client.post(f"/imports/{job.pk}/start/")
    job.refresh_from_db()
    assert job.created == 1  # not imported twice


def test_uploading_a_file_imported_before_says_so(client, marketer):
    client.force_login(marketer)
    import_file(FILE, by=marketer)
    post_file(client, FILE)
    job = ImportJob.objects.latest("pk")
    assert 'data-testid="earlier-import"' in client.get(f"/imports/{job.pk}/mapping/").content.decode()


def test_rejected_rows_download_as_csv_with_reasons_and_no_formulas(client, marketer):
    client.force_login(marketer)
    job = import_file(FILE, by=marketer)
    response = client.get(f"/imports/{job.pk}/rejected.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0] == [
        "Email",
        "Vorname",
        "Firma",
        "Mitarbeiter",
        "Webinar visits",
        "rejected row",
        "rejection reason",
    ]
    assert rows[1][:3] == ["'=bad", "Evil", '\'=HYPERLINK("http://x")']
    assert rows[1][5] == "3" and rows[1][6].startswith("email:")


def test_the_lead_list_exports_its_filtered_rows_safely(client, marketer):
    make_lead(email="a@example.org", company="=SUM(A1)", attributes={"plan": "pro"})
    make_lead(email="b@example.org", company="Initech")
    client.force_login(marketer)
    response = client.get("/leads/export.csv?q=example&grade=D")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0][:4] == ["email", "first_name", "last_name", "company"]
    by_email = {row[0]: row for row in rows[1:]}
    assert set(by_email) == {"a@example.org", "b@example.org"}
    assert by_email["a@example.org"][3] == "'=SUM(A1)"
    assert by_email["a@example.org"][-1] == '{"plan": "pro"}'
    filtered = client.get("/leads/export.csv?q=Initech")
    assert len(b"".join(filtered.streaming_content).decode().strip().splitlines()) == 2


def test_a_rep_exports_only_the_leads_they_may_see(client, rep, rep2):
    make_lead(email="mine@example.org", owner=rep)
    make_lead(email="theirs@example.org", owner=rep2)
    client.force_login(rep)
    body = b"".join(client.get("/leads/export.csv").streaming_content).decode()
    assert "mine@example.org" in body and "theirs@example.org" not in body


def test_the_upload_page_lists_recent_imports(client, marketer):
    upload(FILE, by=marketer, name="spring-fair.csv")
    client.force_login(marketer)
    assert "spring-fair.csv" in client.get("/imports/").content.decode()


def test_the_rejected_rows_fixed_import_again_with_the_same_mapping(client, marketer):
    client.force_login(marketer)
    post_file(client, FILE)
    job = ImportJob.objects.get()
    client.post(f"/imports/{job.pk}/mapping/", mapping_data(job, Firma="company", Mitarbeiter="company_size"))
    client.post(f"/imports/{job.pk}/start/")
    from leads.imports.run import run_import

    run_import(job.pk)
    body = b"".join(client.get(f"/imports/{job.pk}/rejected.csv").streaming_content).decode("utf-8-sig")
    fixed = body.replace("'=bad", "evil@example.org").replace("'=HYPERLINK", "HYPERLINK")

    post_file(client, fixed.encode(), name="fixed.csv")
    again = ImportJob.objects.latest("pk")
    assert again.mapping["Firma"] == "company" and again.mapping["Mitarbeiter"] == "company_size"
    assert again.mapping["rejected row"] == again.mapping["rejection reason"] == ""  # skipped
    client.post(f"/imports/{again.pk}/start/")
    again = run_import(again.pk)
    assert (again.created, again.rejected) == (1, 0)
    evil = Lead.objects.get(email="evil@example.org")
    assert evil.company == 'HYPERLINK("http://x")' and evil.attributes == {"webinar_visits": "1"}
