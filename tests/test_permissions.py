"""Who may open which page and take which action: one table, every URL × every person, expected answer.

Each row is (method, url, who gets `status`, ...). Everyone else signed in gets 403, except people for
whom the object is out of reach (another rep's lead): 404, as if it did not exist. Anonymous visitors
are sent to sign in (302). Refused POSTs must change nothing (`_state`). `test_every_url_is_in_the_table`
fails when a new URL has no row, so the table stays complete: add a row with the URL.

The API answers tokens, not people: its own table (`API`, below) holds every operation × token scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from config.audit.models import AuditEntry
from feedback.models import Calibration, Disposition, Reason
from leads.imports.models import ImportJob
from leads.models import Lead
from scoring.models import Approval, FitCriterion, Proposal, ProposalComment, RescoreRun, ScoringMatrix
from tests.factories import make_lead, make_queue_lead
from tests.imports.helpers import upload
from tests.scoring.governance_helpers import active, draft_of, proposed, set_points, weight

PEOPLE = ["anonymous", "marketer", "manager", "rep", "rep2", "outsider", "admin_user"]
SIGNED_IN = frozenset(PEOPLE) - {"anonymous"}
READERS = frozenset({"marketer", "manager", "rep", "rep2", "admin_user"})
EDITORS = frozenset({"marketer", "manager"})
SALES = frozenset({"manager", "rep", "rep2"})
REPS = frozenset({"rep", "rep2"})
MANAGER = frozenset({"manager"})
STAFF = frozenset({"admin_user"})
IMPORTERS = frozenset({"marketer", "admin_user"})
REPORTERS = frozenset({"marketer", "manager", "admin_user"})


@dataclass(frozen=True)
class Row:
    method: str
    url: str
    allowed: frozenset[str]
    status: int = 200
    data: dict = field(default_factory=dict)
    out_of_reach: frozenset[str] = frozenset()  # these get 404
    anonymous: int = 302
    htmx: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


ROWS = [
    # Accounts and the home page.
    Row("GET", "/accounts/login/", frozenset(), anonymous=200),  # signed in: sent on home (below)
    Row("POST", "/accounts/logout/", SIGNED_IN, 302),
    Row("GET", "/accounts/two-factor/", SIGNED_IN),
    Row("GET", "/accounts/two-factor/verify/", SIGNED_IN, 302),  # nothing to verify: sent on
    Row("POST", "/accounts/two-factor/verify/", SIGNED_IN, 302, {"token": "123456"}),
    Row("GET", "/", SIGNED_IN),
    # The matrix: reading it.
    Row("GET", "/matrix/", READERS),
    Row("GET", "/matrix/versions/", READERS),
    Row("GET", "/matrix/v1/", READERS),
    Row("GET", "/matrix/v999/", READERS, 404),
    Row("GET", "/matrix/rescores/{run}/", READERS),
    Row("GET", "/matrix/v{draft}/history/", READERS),
    Row("GET", "/matrix/v{draft}/history/weight/{weight}/", READERS),
    Row("GET", "/matrix/v{draft}/history/weight/{foreign}/", READERS, 404),  # a row of another version
    Row("GET", "/matrix/proposals/", READERS),
    Row("GET", "/matrix/proposals/{proposal}/", READERS),
    Row("GET", "/matrix/proposals/{proposal}/preview/", READERS, 302),  # a plain GET goes to the page
    Row("GET", "/matrix/proposals/{proposal}/preview/", READERS, 200, htmx=True),
    Row("GET", "/matrix/proposals/999999/", READERS, 404),
    # The matrix: changing it together.
    Row("GET", "/matrix/v{draft}/draft/", EDITORS),
    Row("GET", "/matrix/v1/draft/", EDITORS, 404),  # not a draft
    Row("GET", "/matrix/v{draft}/items/weight/{weight}/", EDITORS, 302),
    Row("GET", "/matrix/v{draft}/items/weight/{weight}/edit/", EDITORS),
    Row("GET", "/matrix/v{draft}/items/weight/{foreign}/edit/", EDITORS, 404),
    Row("GET", "/matrix/v{draft}/criteria/new/", EDITORS),
    Row("GET", "/matrix/v{draft}/propose/", EDITORS),
    Row("POST", "/matrix/v1/start-draft/", EDITORS, 302),
    Row(
        "POST",
        "/matrix/v{draft}/items/weight/{weight}/edit/",
        EDITORS,
        302,
        {"points": "21", "half_life_days": "30", "revision": "{weight_revision}"},
    ),
    Row(
        "POST",
        "/matrix/v{draft}/items/weight/{foreign}/edit/",
        EDITORS,
        404,
        {"points": "21", "revision": "1"},
    ),
    Row(
        "POST",
        "/matrix/v{draft}/criteria/new/",
        EDITORS,
        302,
        {"label": "Director", "field": "title", "operator": "contains", "value": "director", "points": "5"},
    ),
    Row("POST", "/matrix/v{draft}/criteria/{criterion}/delete/", EDITORS, 302, {"revision": "1"}),
    Row("POST", "/matrix/v{draft}/propose/", EDITORS, 302, {"summary": "Again"}),
    Row("POST", "/matrix/proposals/{proposal}/approve/", EDITORS, 302),
    Row("POST", "/matrix/proposals/{proposal}/reject/", EDITORS, 302, {"comment": "Not yet"}),
    Row("POST", "/matrix/proposals/{proposal}/comment/", EDITORS, 302, {"text": "Looks good"}),
    Row("POST", "/matrix/proposals/{proposal}/publish/", EDITORS, 302),
    Row("POST", "/matrix/proposals/{proposal}/preview/refresh/", EDITORS, 302),
    # Leads and the queue.
    Row("GET", "/leads/", READERS),
    Row("GET", "/leads/{lead}/", READERS),
    Row("GET", "/leads/{riley_lead}/", READERS, out_of_reach=frozenset({"rep2"})),
    Row("GET", "/leads/999999/", READERS, 404),
    Row("GET", "/leads/queue/", READERS),
    Row("GET", "/leads/queue/arrivals/?since={since}", READERS),
    Row("GET", "/leads/team/", MANAGER | STAFF),
    Row("POST", "/leads/{lead}/claim/", REPS, 302, htmx=True),
    Row("POST", "/leads/queue/assign/", MANAGER, 302, {"lead": "{lead}", "owner": ""}, htmx=True),
    Row("POST", "/leads/queue/round-robin/", MANAGER, 302, {"bucket": "mql"}, htmx=True),
    # Outcomes, reasons, notifications.
    Row("GET", "/leads/{lead}/outcome/", SALES),
    Row("GET", "/leads/{riley_lead}/outcome/", SALES, out_of_reach=frozenset({"rep2"})),
    Row(
        "POST",
        "/leads/{riley_lead}/outcome/",
        SALES,
        204,
        {"outcome": "attempted", "expected_owner": "{riley}"},
        out_of_reach=frozenset({"rep2"}),
        htmx=True,
    ),
    Row("GET", "/reasons/", MANAGER),
    Row("POST", "/reasons/", MANAGER, 302, {"reason-label": "Merged company", "reason-code": "merged"}),
    Row("POST", "/reasons/{reason}/toggle/", MANAGER, 302),
    Row("POST", "/reasons/{reason}/rename/", MANAGER, 302, {"label": "Budget frozen"}),
    Row("GET", "/notifications/", SALES),
    # CSV imports and exports.
    Row("GET", "/leads/export.csv", READERS),
    Row("GET", "/imports/", IMPORTERS),
    Row("POST", "/imports/", IMPORTERS, 400),  # allowed, but no file sent
    Row("GET", "/imports/{import_job}/", IMPORTERS),
    Row("GET", "/imports/{import_job}/mapping/", IMPORTERS),
    Row("GET", "/imports/{import_job}/preview/", IMPORTERS),
    Row("GET", "/imports/{import_job}/rejected.csv", IMPORTERS),
    Row("POST", "/imports/{import_job}/start/", IMPORTERS, 302),
    # Reports, calibration, the playbook.
    Row("GET", "/reports/", REPORTERS, 302),
    Row("GET", "/reports/matrix/", REPORTERS),
    Row("GET", "/reports/matrix/?export=grid", REPORTERS),
    Row("GET", "/reports/funnel/", REPORTERS),
    Row("GET", "/reports/speed/", REPORTERS),
    Row("GET", "/reports/rejections/", REPORTERS),
    Row("GET", "/reports/before-after/", REPORTERS),
    Row("GET", "/calibration/", REPORTERS),
    Row("GET", "/calibration/?run={calibration}", REPORTERS),
    Row("POST", "/calibration/", EDITORS, 302),
    Row("POST", "/calibration/{calibration}/draft/", EDITORS, 302),
    Row("GET", "/playbook/", SIGNED_IN),
    # The admin: staff only; everyone else is sent to its sign-in page.
    Row("GET", "/admin/", STAFF),
    Row("GET", "/admin/audit/auditentry/", STAFF),
    Row("GET", "/admin/auth/user/", STAFF),
]

# Rows answered differently for some people than the rule above says.
SPECIAL = {
    ("GET /accounts/login/", who): 302
    for who in SIGNED_IN  # already signed in: sent home
} | {("POST /accounts/logout/", "anonymous"): 302}

# URLs under these prefixes have no rows here, on purpose: the admin's own pages (the staff rows above
# stand for them) and the API, whose operations are the `API` table below.
UNLISTED_PREFIXES = ("admin/", "api/")


@pytest.fixture
def objects(db, marketer, rep, settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path
    lead = make_lead()
    import_job = upload("Email\nann@example.org\n")
    riley_lead = make_queue_lead(owner=rep)
    run = RescoreRun.objects.create(matrix=active(), cause="publish", scored_at=lead.created_at)
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = proposed(draft, by=marketer)
    draft_weight = weight(draft, "whitepaper_download")
    return {
        "lead": lead.pk,
        "riley_lead": riley_lead.pk,
        "riley": rep.pk,
        "run": run.pk,
        "reason": Reason.objects.first().pk,
        "since": timezone.now().isoformat().replace("+", "%2B"),
        "draft": draft.version,
        "weight": draft_weight.pk,
        "weight_revision": draft_weight.revision,
        "foreign": weight(active(), "whitepaper_download").pk,
        "criterion": draft.criteria.first().pk,
        "proposal": proposal.pk,
        "import_job": import_job.pk,
        "calibration": Calibration.objects.create(
            matrix=active(), result={}, refused="Too few outcomes.", at=timezone.now()
        ).pk,
    }


def _state() -> tuple:
    """What any action here could change; a refused action leaves all of it as it was."""
    return (
        AuditEntry.objects.count(),
        ScoringMatrix.objects.count(),
        sorted(ScoringMatrix.objects.values_list("status", flat=True)),
        Proposal.objects.filter(status="open").count(),
        Approval.objects.count(),
        ProposalComment.objects.count(),
        FitCriterion.objects.count(),
        sorted(Lead.objects.values_list("pk", "owner_id")),
        Disposition.objects.count(),
        sorted(Reason.objects.values_list("pk", "label", "active")),
        sorted(ImportJob.objects.values_list("pk", "status")),
        Calibration.objects.count(),
    )


def expected_status(row: Row, who: str) -> int:
    if (str(row), who) in SPECIAL:
        return SPECIAL[(str(row), who)]
    if who == "anonymous":
        return row.anonymous
    if who in row.out_of_reach:
        return 404
    if who in row.allowed:
        return row.status
    if row.url.startswith("/admin/"):
        return 302  # the admin sends non-staff to its own sign-in page
    return 403


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("row", ROWS, ids=str)
def test_access(client, request, objects, row, who):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    url = row.url.format(**objects)
    data = {k: v.format(**objects) for k, v in row.data.items()}
    headers = {"HX-Request": "true"} if row.htmx else {}
    before = _state() if row.method == "POST" else None
    response = (
        client.get(url, headers=headers) if row.method == "GET" else client.post(url, data, headers=headers)
    )
    expected = expected_status(row, who)
    assert response.status_code == expected
    if expected == 302 and who == "anonymous" and (str(row), who) not in SPECIAL:
        login = "/admin/login/" if row.url.startswith("/admin/") else "/accounts/login/"
        assert response["Location"].startswith(login)
    if row.method == "POST" and expected in {302, 403, 404} and who not in row.allowed:
        assert _state() == before, "a refused action changed something"


def _named_urls(patterns, namespace: str = "", prefix: str = "") -> set[str]:
    names = set()
    for p in patterns:
        route = prefix + str(p.pattern)
        if route.startswith(UNLISTED_PREFIXES):
            continue
        if isinstance(p, URLResolver):
            inner = f"{namespace}{p.namespace}:" if p.namespace else namespace
            names |= _named_urls(p.url_patterns, inner, route)
        elif isinstance(p, URLPattern) and p.name:
            names.add(f"{namespace}{p.name}")
    return names


def test_every_url_is_in_the_table(objects):
    in_table = {resolve(row.url.format(**objects).split("?")[0]).view_name for row in ROWS}
    every = _named_urls(get_resolver().url_patterns)
    assert "leads:detail" in every and "two_factor" in every  # the walk reaches nested and top-level URLs
    assert every - in_table == set(), "add a row to ROWS for each of these URLs"


# The ingest API: tokens, not sessions. Each endpoint -> the one token scope that may call it; other
# scopes get 403, no token 401, and a signed-in session (even an admin's) is no token. The API's docs
# and OpenAPI document are public.
API = {
    ("POST", "/api/v1/activities"): "activities:write",
    ("POST", "/api/v1/leads"): "leads:write",
    ("GET", "/api/v1/leads/{lead}"): "read",
    ("GET", "/api/v1/queue"): "read",
}
API_BODIES = {
    "/api/v1/activities": {
        "email": "x@example.com",
        "type": "web_visit",
        "occurred_at": "2026-11-01T00:00:00Z",
    },
    "/api/v1/leads": {"email": "x@example.com"},
}
API_CALLERS = ["activities:write", "leads:write", "read", "no token", "admin session"]


@pytest.mark.parametrize("caller", API_CALLERS)
@pytest.mark.parametrize(("method", "url"), list(API))
def test_api_access(client, request, objects, method, url, caller):
    from leads.integrations.tokens import issue_token

    headers = {}
    if caller == "admin session":
        client.force_login(request.getfixturevalue("admin_user"))
    elif caller != "no token":
        headers["Authorization"] = f"Bearer {issue_token(name='t', scope=caller)[1]}"
    path = url.format(**objects)
    if method == "POST":
        response = client.post(path, API_BODIES[url], content_type="application/json", headers=headers)
    else:
        response = client.get(path, headers=headers)
    if caller == API[(method, url)]:
        assert response.status_code in {200, 201}
    else:
        assert response.status_code == (403 if caller in API_CALLERS[:3] else 401)


def test_every_api_operation_is_in_the_api_table():
    from leads.integrations.api import api

    schema = api.get_openapi_schema()
    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    listed = {(method, url.replace("{lead}", "{ref}")) for method, url in API}
    assert operations == listed


@pytest.mark.parametrize("who", ["anonymous", "rep"])
@pytest.mark.parametrize("page", ["/api/v1/docs", "/api/v1/openapi.json"])
def test_api_docs_are_public(client, request, objects, who, page):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    assert client.get(page).status_code == 200
