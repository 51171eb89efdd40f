"""Markup typed into any text field is shown as text on every page, never run; pages hold no inline script."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from feedback.dispositions import record_disposition
from feedback.models import Notification, Reason
from scoring import governance
from tests.factories import make_queue_lead
from tests.scoring.governance_helpers import proposed

pytestmark = pytest.mark.django_db

# Each field gets its own number, so the test can tell which field's text reached the pages.
FIELDS = [
    "lead.first_name", "lead.last_name", "lead.company", "lead.title", "lead.department", "lead.industry",
    "lead.country", "lead.source", "user.first_name", "reason.label", "disposition.note",
    "matrix.name", "criterion.label", "criterion.value", "bucket.name", "bucket.action", "persona.name",
    "edit.reason", "proposal.summary", "comment.text", "notification.message",
]  # fmt: skip


def payload(field: str) -> str:
    n = FIELDS.index(field)
    return f'<script>x{n}</script>"><img src=x onerror=alert({n})>'


def escaped(field: str) -> str:
    return f"&lt;script&gt;x{FIELDS.index(field)}&lt;/script&gt;"


@pytest.fixture
def hostile(marketer, manager, rep):
    p = payload
    rep.first_name = p("user.first_name")
    rep.save()
    lead = make_queue_lead(owner=rep, **{f.split(".")[1]: p(f) for f in FIELDS if f.startswith("lead.")})
    reason = Reason.objects.create(code="xss", label=p("reason.label"), position=99)
    record_disposition(lead_id=lead.pk, by=rep, outcome="nurture", expected_owner_id=rep.pk, reason=reason,
                       note=p("disposition.note"))  # fmt: skip
    draft = governance.start_draft(source=governance.ScoringMatrix.objects.active(), by=marketer,
                                   name=p("matrix.name"))  # fmt: skip
    criterion = draft.criteria.first()
    governance.edit_item(item=criterion, revision=criterion.revision, by=marketer, reason=p("edit.reason"),
                         values={"label": p("criterion.label"), "operator": "contains", "value": p("criterion.value")})  # fmt: skip
    bucket = draft.buckets.get(key="nurture")
    governance.edit_item(item=bucket, revision=bucket.revision, by=marketer,
                         values={"name": p("bucket.name"), "action": p("bucket.action")})  # fmt: skip
    persona = draft.personas.first()
    if persona is not None:
        governance.edit_item(
            item=persona, revision=persona.revision, by=marketer, values={"name": p("persona.name")}
        )
    proposal = proposed(draft, by=marketer, summary=p("proposal.summary"))
    governance.comment_on_proposal(proposal=proposal, by=manager, text=p("comment.text"))
    Notification.objects.create(user=rep, lead=lead, kind="sla", key="xss", message=p("notification.message"),
                                created_at=timezone.now())  # fmt: skip
    return {
        "lead": lead.pk,
        "draft": draft.version,
        "proposal": proposal.pk,
        "has_persona": persona is not None,
    }


PAGES = {
    "manager": ["/", "/leads/", "/leads/{lead}/", "/leads/queue/", "/leads/team/", "/leads/{lead}/outcome/",
                "/reasons/", "/matrix/proposals/", "/matrix/proposals/{proposal}/"],
    "marketer": ["/matrix/v{draft}/", "/matrix/v{draft}/draft/", "/matrix/v{draft}/history/", "/matrix/versions/"],
    "rep": ["/notifications/", "/leads/queue/", "/leads/{lead}/"],
}  # fmt: skip


def pages_as_seen(request, objects) -> dict[str, str]:
    seen = {}
    for who, urls in PAGES.items():
        client = Client()
        client.force_login(request.getfixturevalue(who))
        for url in urls:
            response = client.get(url.format(**objects))
            assert response.status_code == 200, url
            seen[f"{who} {url}"] = response.content.decode()
    return seen


def test_markup_in_every_text_field_is_shown_escaped_and_never_as_markup(request, hostile):
    seen = pages_as_seen(request, hostile)
    for page, html in seen.items():
        assert "<script>x" not in html, f"{page} shows a field's <script> as markup"
        assert "<img src=x" not in html, f"{page} shows a field's <img> as markup"
    everything = "\n".join(seen.values())
    expected = [f for f in FIELDS if f != "persona.name" or hostile["has_persona"]]
    missing = [f for f in expected if escaped(f) not in everything]
    assert missing == [], f"these fields were not shown on any page checked: {missing}"


def test_pages_hold_no_inline_script_and_every_post_form_carries_a_csrf_token(request, hostile):
    for page, html in pages_as_seen(request, hostile).items():
        for tag in re.findall(r"<script\b[^>]*>", html):
            is_data = 'type="application/json"' in tag  # json_script: data, never run
            assert is_data or (" src=" in tag and " nonce=" in tag), f"{page}: {tag}"
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", html), f"{page} has an inline event handler"
        for form in re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S | re.I):
            assert 'name="csrfmiddlewaretoken"' in form, f"{page}: a POST form without a CSRF token"


def test_the_content_security_policy_allows_only_our_files_and_nonced_scripts(client, rep):
    client.force_login(rep)
    response = client.get("/leads/queue/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts if "application/json" not in tag)
    assert client.get("/leads/queue/")["Content-Security-Policy"] != policy  # a fresh nonce per response
