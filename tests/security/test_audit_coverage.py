"""People's changes to reasons, queue rules, assignment, API tokens and webhooks are in the audit chain.

Each change is made the way a person makes it (through the page or the admin), then the newest entry
is checked (action, actor, before and after) and the whole chain verified. Refused and no-op actions
write nothing.
"""

import re

import pytest

from config.accounts.models import SecurityPolicy
from config.audit.chain import NOT_RECORDED, verify_chain
from config.audit.models import AuditEntry
from feedback.models import QueueSettings, Reason
from leads.assignment import AssignmentError, claim_lead
from leads.integrations.models import ApiToken, Webhook
from leads.integrations.tokens import issue_token
from leads.models import Lead
from tests.factories import make_queue_lead

pytestmark = pytest.mark.django_db


def entries_since(seq: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(seq__gt=seq).order_by("seq"))


def head() -> int:
    return AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def only_new_entry(seq: int) -> AuditEntry:
    """The one entry written since `seq`, after checking that the chain still holds together."""
    (entry,) = entries_since(seq)
    report = verify_chain()
    assert report.intact, report.problem
    assert report.head == entry.hash
    return entry


# Reasons and queue settings (a sales manager, on /reasons/).


def test_adding_a_reason_writes_an_entry_with_its_fields(client, manager):
    client.force_login(manager)
    start = head()
    client.post("/reasons/", {"reason-label": "Wrong region", "reason-code": "wrong-region"})
    reason = Reason.objects.get(code="wrong-region")
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("feedback.reason.create", manager, str(reason.pk))
    assert entry.details["before"] is None
    assert entry.details["after"] == {
        "id": reason.pk,
        "code": "wrong-region",
        "label": "Wrong region",
        "position": reason.position,
        "active": True,
    }


def test_renaming_a_reason_records_the_old_and_new_name(client, manager):
    reason = Reason.objects.first()
    old = reason.label
    client.force_login(manager)
    start = head()
    client.post(f"/reasons/{reason.pk}/rename/", {"label": "  Budget frozen "})
    entry = only_new_entry(start)
    assert (entry.action, entry.actor_name) == ("feedback.reason.change", "sam")
    assert entry.details["before"] == {"label": old}
    assert entry.details["after"] == {"label": "Budget frozen"}


def test_retiring_and_reinstating_a_reason_are_entries_and_a_second_click_is_not(client, manager):
    reason = Reason.objects.filter(active=True).first()
    client.force_login(manager)
    start = head()
    client.post(f"/reasons/{reason.pk}/toggle/", {"active": "0"})
    client.post(f"/reasons/{reason.pk}/toggle/", {"active": "0"})  # the same button again: stays retired
    reason.refresh_from_db()
    assert reason.active is False
    entry = only_new_entry(start)
    assert entry.action == "feedback.reason.change"
    assert (entry.details["before"], entry.details["after"]) == ({"active": True}, {"active": False})
    client.post(f"/reasons/{reason.pk}/toggle/", {"active": "1"})
    assert only_new_entry(entry.seq).details["after"] == {"active": True}


def test_the_retire_button_posts_the_state_it_asks_for(client, manager):
    reason = Reason.objects.filter(active=True).first()
    client.force_login(manager)
    page = client.get("/reasons/").content.decode()
    form = re.search(rf'action="/reasons/{reason.pk}/toggle/">(.*?)</form>', page).group(1)
    assert 'name="active" value="0"' in form


@pytest.mark.parametrize("label", ["", "   ", "x" * 81, "__same__"])
def test_a_refused_or_unchanged_rename_writes_nothing(client, manager, label):
    reason = Reason.objects.first()
    client.force_login(manager)
    start = head()
    client.post(f"/reasons/{reason.pk}/rename/", {"label": reason.label if label == "__same__" else label})
    assert entries_since(start) == []
    assert Reason.objects.get(pk=reason.pk).label == reason.label


def test_a_rep_cannot_change_reasons_and_nothing_is_written(client, rep):
    reason = Reason.objects.first()
    client.force_login(rep)
    start = head()
    assert client.post(f"/reasons/{reason.pk}/rename/", {"label": "Mine now"}).status_code == 403
    assert client.post(f"/reasons/{reason.pk}/toggle/", {"active": "0"}).status_code == 403
    assert client.post("/reasons/", {"queue-cool_off_days": "1", "queue-warn_hours": "1"}).status_code == 403
    assert entries_since(start) == []


def test_changing_the_queue_settings_records_what_changed(client, manager):
    current = QueueSettings.current()
    client.force_login(manager)
    start = head()
    client.post("/reasons/", {"queue-cool_off_days": "3", "queue-warn_hours": str(current.warn_hours)})
    assert QueueSettings.current().cool_off_days == 3
    entry = only_new_entry(start)
    assert (entry.action, entry.actor) == ("feedback.queuesettings.change", manager)
    assert entry.details["before"] == {"cool_off_days": current.cool_off_days}
    assert entry.details["after"] == {"cool_off_days": 3}


@pytest.mark.parametrize("cool_off", ["same", "-1", "many"])
def test_unchanged_or_invalid_queue_settings_write_nothing(client, manager, cool_off):
    current = QueueSettings.current()
    client.force_login(manager)
    start = head()
    value = str(current.cool_off_days) if cool_off == "same" else cool_off
    client.post("/reasons/", {"queue-cool_off_days": value, "queue-warn_hours": str(current.warn_hours)})
    assert entries_since(start) == []
    assert QueueSettings.current().cool_off_days == current.cool_off_days


# Assignment (reps claim on the queue; managers assign and share out).


def test_claiming_a_lead_records_the_new_owner(client, rep):
    lead = make_queue_lead()
    client.force_login(rep)
    start = head()
    client.post(f"/leads/{lead.pk}/claim/", headers={"HX-Request": "true"})
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("leads.lead.claim", rep, str(lead.pk))
    assert (entry.details["before"], entry.details["after"]) == ({"owner": None}, {"owner": rep.pk})


def test_a_claim_that_lost_or_changed_nothing_writes_nothing(client, rep, rep2):
    lead = make_queue_lead()
    claim_lead(lead_id=lead.pk, by=rep)
    start = head()
    with pytest.raises(AssignmentError):
        claim_lead(lead_id=lead.pk, by=rep2)  # the second of two reps clicking at once
    client.force_login(rep)
    client.post(f"/leads/{lead.pk}/claim/")  # already hers
    client.force_login(rep2)
    assert client.post(f"/leads/{lead.pk}/claim/").status_code == 404  # out of her reach now
    assert entries_since(start) == []
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_assigning_leads_writes_one_entry_with_the_leads_and_their_previous_owners(
    client, manager, rep, rep2
):
    riley, nobody, robin = make_queue_lead(owner=rep), make_queue_lead(), make_queue_lead(owner=rep2)
    client.force_login(manager)
    start = head()
    client.post("/leads/queue/assign/", {"lead": [riley.pk, nobody.pk, robin.pk], "owner": rep2.pk})
    assert set(Lead.objects.values_list("owner", flat=True)) == {rep2.pk}
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_type) == ("leads.lead.assign", manager, "leads.lead")
    assert entry.details["before"] == {"owners": {str(riley.pk): rep.pk, str(nobody.pk): None}}
    assert entry.details["after"] == {"owner": rep2.pk, "leads": sorted([riley.pk, nobody.pk])}


def test_unassigning_records_nobody_as_the_new_owner(client, manager, rep):
    lead = make_queue_lead(owner=rep)
    client.force_login(manager)
    start = head()
    client.post("/leads/queue/assign/", {"lead": [lead.pk], "owner": ""})
    entry = only_new_entry(start)
    assert entry.details == {
        "before": {"owners": {str(lead.pk): rep.pk}},
        "after": {"owner": None, "leads": [lead.pk]},
        "reason": "",
    }


def test_an_assignment_that_changes_nothing_or_is_refused_writes_nothing(client, manager, marketer, rep):
    lead = make_queue_lead(owner=rep)
    client.force_login(manager)
    start = head()
    client.post("/leads/queue/assign/", {"lead": [lead.pk], "owner": rep.pk})  # already hers
    client.post("/leads/queue/assign/", {"lead": [lead.pk], "owner": marketer.pk})  # not a rep: refused
    client.force_login(rep)
    assert client.post("/leads/queue/assign/", {"lead": [lead.pk], "owner": ""}).status_code == 403
    assert entries_since(start) == []
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_round_robin_writes_one_entry_with_the_counts_per_rep(client, manager, rep, rep2):
    leads = [make_queue_lead() for _ in range(3)]
    client.force_login(manager)
    start = head()
    client.post("/leads/queue/round-robin/", {"bucket": "mql"})
    entry = only_new_entry(start)
    assert (entry.action, entry.actor) == ("leads.lead.round_robin", manager)
    after = entry.details["after"]
    assert (after["bucket"], after["counts"]) == ("mql", {"riley": 2, "robin": 1})
    assert sorted(after["leads"]["riley"] + after["leads"]["robin"]) == sorted(lead.pk for lead in leads)
    for name, user in (("riley", rep), ("robin", rep2)):
        assert set(after["leads"][name]) == set(Lead.objects.filter(owner=user).values_list("pk", flat=True))
    client.post("/leads/queue/round-robin/", {"bucket": "mql"})  # nothing left unassigned
    assert entries_since(entry.seq) == []


# The admin: API tokens and webhooks.


def test_issuing_a_token_in_the_admin_is_recorded_without_its_secret(client, admin_user):
    client.force_login(admin_user)
    start = head()
    response = client.post(
        "/admin/integrations/apitoken/add/",
        {"name": "Marketing automation", "scope": "activities:write", "rate_per_minute": 600},
        follow=True,
    )
    (plaintext,) = re.findall(r"is (lm_\w+_[\w-]+) — copy it now", response.content.decode())
    token = ApiToken.objects.get()
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == (
        "integrations.apitoken.create",
        admin_user,
        str(token.pk),
    )
    after = entry.details["after"]
    assert (after["name"], after["scope"], after["prefix"]) == (
        "Marketing automation",
        "activities:write",
        token.prefix,
    )
    assert after["digest"] == NOT_RECORDED
    assert plaintext not in entry.data and token.digest not in entry.data
    assert plaintext.split("_")[2] not in entry.data


def test_changing_a_token_in_the_admin_records_what_changed(client, admin_user):
    token, _ = issue_token(name="CRM", scope="read")
    client.force_login(admin_user)
    start = head()
    client.post(f"/admin/integrations/apitoken/{token.pk}/change/", {"name": "CRM", "rate_per_minute": 60})
    entry = only_new_entry(start)
    assert entry.action == "integrations.apitoken.change"
    assert (entry.details["before"], entry.details["after"]) == (
        {"rate_per_minute": 600},
        {"rate_per_minute": 60},
    )


def test_revoking_tokens_writes_an_entry_per_token_and_revoking_again_writes_none(client, admin_user):
    crm, _ = issue_token(name="CRM", scope="read")
    tracker, _ = issue_token(name="Tracker", scope="activities:write")
    client.force_login(admin_user)
    start = head()
    selected = {"action": "revoke", "_selected_action": [crm.pk, tracker.pk]}
    client.post("/admin/integrations/apitoken/", selected)
    entries = entries_since(start)
    assert verify_chain().intact
    assert [(e.action, e.object_id, e.actor_name) for e in entries] == [
        ("integrations.apitoken.revoke", str(crm.pk), "ada"),
        ("integrations.apitoken.revoke", str(tracker.pk), "ada"),
    ]
    crm.refresh_from_db()
    assert entries[0].details["before"] == {"revoked_at": None}
    assert entries[0].details["after"] == {"revoked_at": crm.revoked_at.isoformat()}
    client.post("/admin/integrations/apitoken/", selected)
    assert entries_since(entries[-1].seq) == []


def webhook_form(**changes) -> dict:
    return {
        "name": "CRM",
        "url": "https://crm.example.com/hooks",
        "secret": "first-shared-secret",
        "buckets": '["sales_ready"]',
        "active": "on",
    } | changes


def test_webhooks_created_and_changed_in_the_admin_are_recorded_without_their_secret(client, admin_user):
    client.force_login(admin_user)
    start = head()
    client.post("/admin/integrations/webhook/add/", webhook_form())
    hook = Webhook.objects.get()
    created = only_new_entry(start)
    assert (created.action, created.actor) == ("integrations.webhook.create", admin_user)
    assert created.details["after"]["url"] == "https://crm.example.com/hooks"
    assert created.details["after"]["secret"] == NOT_RECORDED

    form = webhook_form(secret="second-shared-secret", active="")
    client.post(f"/admin/integrations/webhook/{hook.pk}/change/", {k: v for k, v in form.items() if v})
    changed = only_new_entry(created.seq)
    assert changed.action == "integrations.webhook.change"
    assert changed.details["before"] == {"active": True, "secret": NOT_RECORDED}
    assert changed.details["after"] == {"active": False, "secret": NOT_RECORDED}
    for entry in (created, changed):
        assert "shared-secret" not in entry.data


def test_saving_a_webhook_or_token_unchanged_writes_nothing(client, admin_user):
    token, _ = issue_token(name="CRM", scope="read")
    client.force_login(admin_user)
    client.post("/admin/integrations/webhook/add/", webhook_form())
    hook = Webhook.objects.get()
    start = head()
    client.post(f"/admin/integrations/webhook/{hook.pk}/change/", webhook_form())
    client.post(f"/admin/integrations/apitoken/{token.pk}/change/", {"name": "CRM", "rate_per_minute": 600})
    assert entries_since(start) == []


@pytest.mark.parametrize("how", ["page", "action"])
def test_deleting_a_webhook_in_the_admin_records_it_as_it_was(client, admin_user, how):
    hook = Webhook.objects.create(
        name="CRM", url="https://crm.example.com/h", secret="top-secret", buckets=["mql"]
    )
    client.force_login(admin_user)
    start = head()
    if how == "page":
        client.post(f"/admin/integrations/webhook/{hook.pk}/delete/", {"post": "yes"})
    else:
        client.post(
            "/admin/integrations/webhook/",
            {"action": "delete_selected", "_selected_action": [hook.pk], "post": "yes"},
        )
    assert not Webhook.objects.exists()
    entry = only_new_entry(start)
    assert (entry.action, entry.object_id, entry.actor) == (
        "integrations.webhook.delete",
        str(hook.pk),
        admin_user,
    )
    assert entry.details["before"]["url"] == "https://crm.example.com/h"
    assert entry.details["before"]["secret"] == NOT_RECORDED
    assert "top-secret" not in entry.data


# The admin: the security policy.


def test_saving_the_security_policy_unchanged_writes_nothing(client, admin_user):
    policy = SecurityPolicy.current()
    client.force_login(admin_user)
    start = head()
    form = {"require_two_factor": "on"} if policy.require_two_factor else {}
    assert client.post(f"/admin/accounts/securitypolicy/{policy.pk}/change/", form).status_code == 302
    assert entries_since(start) == []
