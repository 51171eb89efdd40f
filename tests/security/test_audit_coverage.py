"""People's changes to reasons, queue rules, assignment, people and roles, API tokens and webhooks are audited.

Each change is made the way a person makes it (through the page or the admin), then the newest entry
is checked (action, actor, before and after) and the whole chain verified. Refused and no-op actions
write nothing.
"""

import re

import pytest
from django.contrib.auth.hashers import get_hashers
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone

from config.accounts.admin import LeadmatrixUserAdmin
from config.accounts.models import SecurityPolicy
from config.audit.chain import NOT_RECORDED, verify_chain
from config.audit.models import AuditEntry
from config.roles import SALES_MANAGER, SALES_REP
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


# The admin: people, their roles (groups) and passwords; what each role may do (group permissions).


def assert_no_password_hash_recorded() -> None:
    """No entry holds a password hash, of anyone, now or from before a change."""
    hashes = set(User.objects.values_list("password", flat=True))
    prefixes = [f"{hasher.algorithm}$" for hasher in get_hashers()]  # how every stored hash begins
    for entry in AuditEntry.objects.all():
        assert not any(prefix in entry.data for prefix in prefixes)
        assert not any(h in entry.data for h in hashes if h)


# The management form of the (read-only) sessions inline on the person's pages.
NO_SESSIONS = {
    "signed_in-TOTAL_FORMS": 0,
    "signed_in-INITIAL_FORMS": 0,
    "signed_in-MIN_NUM_FORMS": 0,
    "signed_in-MAX_NUM_FORMS": 1000,
}


def person_form(user: User, **changes) -> dict:
    """What the admin's change page posts for `user` as it stands, with `changes`."""
    joined = timezone.localtime(user.date_joined)
    return (
        {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "groups": list(user.groups.values_list("pk", flat=True)),
            "user_permissions": list(user.user_permissions.values_list("pk", flat=True)),
            "date_joined_0": joined.date().isoformat(),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
        }
        | NO_SESSIONS
        | changes
    )


def group_id(name: str) -> int:
    return Group.objects.get(name=name).pk


def saved(response) -> None:
    """The admin accepted the form (it redirects); otherwise show why not."""
    form = response.context and response.context.get("adminform")
    assert response.status_code == 302, form.form.errors if form else response.status_code


def test_creating_a_person_in_the_admin_records_who_they_are_but_not_their_password(client, admin_user):
    client.force_login(admin_user)
    start = head()
    password = "another-long-password-9"
    saved(
        client.post(
            "/admin/auth/user/add/",
            {"username": "nina", "usable_password": "true", "password1": password, "password2": password}
            | NO_SESSIONS,
        )
    )
    nina = User.objects.get(username="nina")
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("auth.user.create", admin_user, str(nina.pk))
    assert entry.details["before"] is None
    assert entry.details["after"] == {
        "username": "nina",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
        "groups": [],
        "user_permissions": [],
    }
    assert password not in entry.data
    assert_no_password_hash_recorded()


def test_changing_a_person_and_their_roles_in_one_save_writes_one_entry(client, admin_user, rep):
    client.force_login(admin_user)
    start = head()
    form = person_form(
        rep,
        first_name="Riley",
        email="riley@example.org",
        is_staff=True,
        groups=[group_id(SALES_REP), group_id(SALES_MANAGER)],
    )
    saved(client.post(f"/admin/auth/user/{rep.pk}/change/", form))
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("auth.user.change", admin_user, str(rep.pk))
    assert entry.details["before"] == {
        "first_name": "",
        "email": "riley@example.com",
        "is_staff": False,
        "groups": [SALES_REP],
    }
    assert entry.details["after"] == {
        "first_name": "Riley",
        "email": "riley@example.org",
        "is_staff": True,
        "groups": [SALES_MANAGER, SALES_REP],
    }
    assert_no_password_hash_recorded()


def test_a_role_change_alone_records_the_groups_by_name(client, admin_user, rep):
    view_reason = Permission.objects.get(content_type__app_label="feedback", codename="view_reason")
    client.force_login(admin_user)
    start = head()
    form = person_form(rep, groups=[group_id(SALES_MANAGER)], user_permissions=[view_reason.pk])
    saved(client.post(f"/admin/auth/user/{rep.pk}/change/", form))
    entry = only_new_entry(start)
    assert entry.action == "auth.user.change"
    assert entry.details["before"] == {"groups": [SALES_REP], "user_permissions": []}
    assert entry.details["after"] == {"groups": [SALES_MANAGER], "user_permissions": ["feedback.view_reason"]}


def test_deactivating_and_taking_away_staff_and_superuser_are_recorded(client, admin_user, rep):
    boss = User.objects.create_superuser("bea", "bea@example.com", "a-long-test-password", is_staff=True)
    client.force_login(admin_user)
    start = head()
    saved(
        client.post(
            f"/admin/auth/user/{boss.pk}/change/",
            person_form(boss, is_active=False, is_staff=False, is_superuser=False),
        )
    )
    entry = only_new_entry(start)
    assert entry.details["before"] == {"is_active": True, "is_staff": True, "is_superuser": True}
    assert entry.details["after"] == {"is_active": False, "is_staff": False, "is_superuser": False}


def test_saving_a_person_unchanged_writes_nothing(client, admin_user, rep):
    client.force_login(admin_user)
    start = head()
    saved(client.post(f"/admin/auth/user/{rep.pk}/change/", person_form(rep)))
    saved(client.post(f"/admin/auth/user/{admin_user.pk}/change/", person_form(admin_user)))
    assert entries_since(start) == []


def test_a_refused_change_to_a_person_writes_nothing(client, admin_user, rep):
    client.force_login(admin_user)
    start = head()
    form = person_form(rep, username="", groups=[group_id(SALES_MANAGER)])  # a username is required
    assert client.post(f"/admin/auth/user/{rep.pk}/change/", form).status_code == 200
    assert entries_since(start) == []
    assert list(rep.groups.values_list("name", flat=True)) == [SALES_REP]


def test_changing_a_password_in_the_admin_says_so_without_the_hash(client, admin_user, rep):
    old_hash = rep.password
    client.force_login(admin_user)
    start = head()
    password = "a-brand-new-password-7"
    response = client.post(
        f"/admin/auth/user/{rep.pk}/password/",
        {"usable_password": "true", "password1": password, "password2": password},
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password(password)
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("auth.user.password", admin_user, str(rep.pk))
    assert entry.details["before"] == entry.details["after"] == {"password": NOT_RECORDED}
    assert old_hash not in entry.data and password not in entry.data
    assert_no_password_hash_recorded()


def test_switching_off_password_sign_in_is_recorded(client, admin_user, rep):
    client.force_login(admin_user)
    start = head()
    client.post(f"/admin/auth/user/{rep.pk}/password/", {"usable_password": "false", "unset-password": "1"})
    rep.refresh_from_db()
    assert not rep.has_usable_password()
    entry = only_new_entry(start)
    assert entry.action == "auth.user.password"
    assert entry.details["before"] == {"password": NOT_RECORDED, "usable_password": True}
    assert entry.details["after"] == {"password": NOT_RECORDED, "usable_password": False}
    assert_no_password_hash_recorded()


def test_a_refused_password_change_writes_nothing(client, admin_user, rep):
    old_hash = rep.password
    client.force_login(admin_user)
    start = head()
    response = client.post(
        f"/admin/auth/user/{rep.pk}/password/",
        {"usable_password": "true", "password1": "a-brand-new-password-7", "password2": "not-the-same-one-7"},
    )
    assert response.status_code == 200
    assert User.objects.get(pk=rep.pk).password == old_hash
    assert entries_since(start) == []


@pytest.mark.parametrize("how", ["page", "action"])
def test_deleting_a_person_if_the_admin_allowed_it_would_record_them_as_they_were(
    client, admin_user, rep, monkeypatch, how
):
    # The admin refuses to delete people (test_sign_in.py); were that ever allowed, it would be recorded.
    monkeypatch.setattr(LeadmatrixUserAdmin, "has_delete_permission", lambda self, request, obj=None: True)
    client.force_login(admin_user)
    start = head()
    if how == "page":
        client.post(f"/admin/auth/user/{rep.pk}/delete/", {"post": "yes"})
    else:
        client.post(
            "/admin/auth/user/", {"action": "delete_selected", "_selected_action": [rep.pk], "post": "yes"}
        )
    assert not User.objects.filter(pk=rep.pk).exists()
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("auth.user.delete", admin_user, str(rep.pk))
    assert entry.details["before"]["username"] == "riley"
    assert entry.details["before"]["groups"] == [SALES_REP]
    assert entry.details["after"] is None
    assert_no_password_hash_recorded()


def permission_ids(*names: str) -> list[int]:
    ids = []
    for name in names:
        app_label, codename = name.split(".")
        ids.append(Permission.objects.get(content_type__app_label=app_label, codename=codename).pk)
    return ids


def test_changing_what_a_role_may_do_records_its_permissions_before_and_after(client, admin_user):
    group = Group.objects.get(name=SALES_REP)
    old = sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
    new = [*old, "feedback.view_reason"]
    client.force_login(admin_user)
    start = head()
    saved(
        client.post(
            f"/admin/auth/group/{group.pk}/change/", {"name": SALES_REP, "permissions": permission_ids(*new)}
        )
    )
    entry = only_new_entry(start)
    assert (entry.action, entry.actor, entry.object_id) == ("auth.group.change", admin_user, str(group.pk))
    assert entry.details["before"] == {"permissions": old}
    assert entry.details["after"] == {"permissions": sorted(new)}

    client.post(
        f"/admin/auth/group/{group.pk}/change/", {"name": SALES_REP, "permissions": permission_ids(*new)}
    )
    assert entries_since(entry.seq) == []  # saved unchanged


def test_creating_and_deleting_a_group_are_recorded_with_its_permissions_and_members(client, admin_user, rep):
    client.force_login(admin_user)
    start = head()
    saved(
        client.post(
            "/admin/auth/group/add/", {"name": "Auditors", "permissions": permission_ids("leads.view_lead")}
        )
    )
    group = Group.objects.get(name="Auditors")
    created = only_new_entry(start)
    assert created.action == "auth.group.create"
    assert created.details["after"] == {"name": "Auditors", "permissions": ["leads.view_lead"]}

    rep.groups.add(group)
    client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    assert not Group.objects.filter(name="Auditors").exists()
    deleted = only_new_entry(created.seq)
    assert (deleted.action, deleted.object_id) == ("auth.group.delete", str(group.pk))
    assert deleted.details["before"] == {
        "name": "Auditors",
        "permissions": ["leads.view_lead"],
        "members": ["riley"],
    }


# The admin: the security policy.


def test_saving_the_security_policy_unchanged_writes_nothing(client, admin_user):
    policy = SecurityPolicy.current()
    client.force_login(admin_user)
    start = head()
    form = {"require_two_factor": "on"} if policy.require_two_factor else {}
    assert client.post(f"/admin/accounts/securitypolicy/{policy.pk}/change/", form).status_code == 302
    assert entries_since(start) == []


def test_the_role_groups_can_be_given_permissions_but_not_renamed_or_deleted(client, admin_user):
    group = Group.objects.get(name=SALES_REP)
    client.force_login(admin_user)
    assert client.get(f"/admin/auth/group/{group.pk}/delete/").status_code == 403
    client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Reps", "permissions": []})
    group.refresh_from_db()
    assert group.name == SALES_REP
