"""The tamper-evident audit trail: audited changes write chained entries, and tampering is found."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from config.audit import chain
from config.audit.models import GENESIS, AuditEntry
from feedback.dispositions import record_disposition
from feedback.models import Reason
from scoring import governance
from tests.factories import make_queue_lead
from tests.scoring.governance_helpers import approved, draft_of, set_points, weight

pytestmark = pytest.mark.django_db
on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only triggers exist on PostgreSQL only"
)


def tamper(sql: str, params: list) -> None:
    """Change stored entries as someone with the table owner's rights would, bypassing the trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER append_only")


def some_entries(n: int) -> list[AuditEntry]:
    return [
        chain.record(actor="test", action="test.entry", object_id=str(i), after={"i": i}) for i in range(n)
    ]


def test_editing_a_draft_writes_an_entry_with_the_values_before_and_after(marketer):
    draft = draft_of(marketer)
    row = weight(draft, "whitepaper_download")
    set_points(draft, "whitepaper_download", row.points + 7, by=marketer, reason="Whitepapers convert")
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry.action == "scoring.activityweight.change"
    assert entry.actor == marketer and entry.actor_name == "maria"
    assert entry.object_id == str(row.pk)
    assert entry.details == {
        "before": {"points": row.points, "revision": row.revision},
        "after": {"points": row.points + 7, "revision": row.revision + 1},
        "reason": "Whitepapers convert",
    }


def test_starting_a_draft_is_one_entry_not_one_per_copied_row(marketer):
    before = AuditEntry.objects.count()
    draft = draft_of(marketer)
    entries = list(AuditEntry.objects.filter(seq__gt=before))
    assert [e.action for e in entries] == ["scoring.scoringmatrix.start_draft"]
    assert entries[0].details["after"]["version"] == draft.version


def test_the_whole_governance_flow_is_in_the_chain_in_order(marketer, manager):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 30, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    governance.comment_on_proposal(proposal=proposal, by=manager, text="Ship it")
    governance.publish_proposal(proposal=proposal, by=manager)
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert actions == [
        "scoring.scoringmatrix.start_draft",
        "scoring.activityweight.change",
        "scoring.proposal.create",
        "scoring.proposal.approve",
        "scoring.proposal.approve",
        "scoring.proposal.change",  # status → approved
        "scoring.proposal.comment",
        "scoring.scoringmatrix.change",  # the old version retired
        "scoring.scoringmatrix.change",  # the draft activated
        "scoring.proposal.change",  # status → published
        "scoring.scoringmatrix.publish",
    ]
    assert chain.verify_chain().intact


def test_a_refused_change_leaves_no_entry(marketer):
    draft = draft_of(marketer)
    row = weight(draft, "whitepaper_download")
    count = AuditEntry.objects.count()
    with pytest.raises(governance.EditConflict):
        governance.edit_item(item=row, revision=row.revision - 1, values={"points": 1}, by=marketer)
    assert AuditEntry.objects.count() == count


def test_an_entry_rolls_back_with_the_change_it_records(marketer):
    count = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        draft_of(marketer)
        raise RuntimeError("the request failed after the draft was started")
    assert AuditEntry.objects.count() == count
    assert chain.verify_chain().intact


def test_logging_an_outcome_writes_an_entry(rep):
    lead = make_queue_lead(owner=rep)
    reason = Reason.objects.get(code="no-budget")
    d = record_disposition(lead_id=lead.pk, by=rep, outcome="disqualified", expected_owner_id=rep.pk,
                           reason=reason, note="Frozen budget")  # fmt: skip
    entry = AuditEntry.objects.order_by("-seq").first()
    assert (entry.action, entry.object_id, entry.actor) == ("feedback.disposition.create", str(d.pk), rep)
    assert entry.details["after"]["outcome"] == "disqualified"
    assert entry.details["after"]["note"] == "Frozen budget"
    assert entry.details["after"]["reason_id"] == reason.pk


def test_each_entry_links_to_the_hash_of_the_one_before():
    first, second, third = some_entries(3)
    assert first.prev_hash == GENESIS and (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert third.hash == third.compute_hash() and len(third.hash) == 64


def test_an_intact_chain_verifies_and_the_command_says_so(capsys):
    entries = some_entries(5)
    report = chain.verify_chain(chunk_size=2)
    assert report.intact and report.checked == 5 and report.head == entries[-1].hash
    call_command("verify_audit")
    assert f"Audit chain intact: 5 entries, head {entries[-1].hash}." in capsys.readouterr().out


def test_an_empty_chain_is_intact():
    report = chain.verify_chain()
    assert report.intact and report.checked == 0 and report.head == GENESIS


def test_a_changed_entry_is_named_as_the_first_broken_link():
    entries = some_entries(5)
    tamper("UPDATE audit_auditentry SET data = %s WHERE seq = 3", ['{"after":{"i":99}}'])
    report = chain.verify_chain()
    assert not report.intact and report.broken.seq == 3 and report.checked == 2
    assert "changed after it was written" in report.problem
    with pytest.raises(CommandError, match=r"broken at entry #3 .*changed after it was written"):
        call_command("verify_audit")
    assert entries  # the later entries still link; the break is found at the changed one


def test_a_rehashed_entry_breaks_the_link_of_the_next_one():
    entries = some_entries(4)
    forged = AuditEntry.objects.get(seq=2)
    forged.data = '{"after":{"i":42}}'
    tamper(
        "UPDATE audit_auditentry SET data = %s, hash = %s WHERE seq = 2", [forged.data, forged.compute_hash()]
    )
    report = chain.verify_chain()
    assert report.broken.seq == 3 and "does not match the hash of the entry before" in report.problem
    assert entries[2].prev_hash == entries[1].hash


def test_a_deleted_entry_is_found_as_a_gap():
    some_entries(4)
    tamper("DELETE FROM audit_auditentry WHERE seq = 2", [])
    report = chain.verify_chain()
    assert report.broken.seq == 3 and "#2–#2 are missing" in report.problem


def test_a_cut_off_end_is_found_against_a_head_noted_earlier():
    entries = some_entries(3)
    tamper("DELETE FROM audit_auditentry WHERE seq = 3", [])
    assert chain.verify_chain().intact  # the rest of the chain is consistent on its own …
    with pytest.raises(CommandError, match="does not contain"):
        call_command("verify_audit", expect_head=entries[-1].hash)  # … but the noted head is gone


def test_the_admin_list_shows_the_chains_state(admin_client):
    some_entries(2)
    tamper("UPDATE audit_auditentry SET actor_name = 'mallory' WHERE seq = 2", [])
    response = admin_client.get("/admin/audit/auditentry/", follow=True)
    assert "Chain broken at entry #2" in response.content.decode()


def test_the_admin_cannot_change_or_delete_entries(admin_client):
    (entry,) = some_entries(1)
    assert (
        admin_client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@on_postgres
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditentry SET actor_name = 'x'", "DELETE FROM audit_auditentry"]
)
def test_postgres_refuses_update_and_delete_on_the_chain(statement):
    some_entries(2)
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(statement)


@on_postgres
def test_postgres_refuses_to_rewrite_the_matrix_history(marketer):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 31, by=marketer)
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE scoring_historicalactivityweight SET points = 1")


@on_postgres
def test_every_history_table_is_append_only():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND "
            "(c.relname LIKE '%%historical%%' OR c.relname = 'audit_auditentry') AND NOT EXISTS "
            "(SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'append_only')"
        )
        unguarded = [row[0] for row in cursor.fetchall()]
    assert unguarded == []


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain():
    errors = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    chain.record(actor="thread", action="test.concurrent", object_id=f"{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = chain.verify_chain()
    assert report.intact and report.checked == 40
