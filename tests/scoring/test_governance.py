"""Drafts edited together, proposals, approvals and publication, through the services."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from leads.models import Lead, Transition
from scoring import governance
from scoring.diff import diff_versions, fingerprint
from scoring.governance import EditConflict, GovernanceError
from scoring.models import (
    ActivityWeight,
    Approval,
    Bucket,
    FitCriterion,
    Proposal,
    ProposalComment,
    Publication,
    RescoreRun,
    ScoringMatrix,
)
from tests.factories import add_activity, make_lead, make_user
from tests.scoring.governance_helpers import (
    active,
    approved,
    cell,
    draft_of,
    forget_cached_matrices,
    proposed,
    set_points,
    weight,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_matrix_cache():
    forget_cached_matrices()


# --- drafts ------------------------------------------------------------------------------------


def test_a_draft_is_a_deep_copy_of_the_active_version_with_the_next_number(marketer):
    source = active()
    draft = draft_of(marketer)
    assert (draft.version, draft.status, draft.based_on, draft.created_by) == (2, "draft", source, marketer)
    assert fingerprint(draft) == fingerprint(source)
    for related in ("criteria", "personas", "weights", "buckets", "bands", "cells"):
        assert getattr(draft, related).count() == getattr(source, related).count() > 0
    # The copies point at the draft's own buckets and bands, never at the source's.
    assert not draft.cells.exclude(bucket__matrix=draft).exists()
    assert not draft.cells.exclude(band__matrix=draft).exists()
    assert weight(draft, "demo_request").floor_bucket.matrix == draft
    assert weight(draft, "video_view").persona_weights.get().persona.matrix == draft
    record = draft.history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+",
        marketer,
        "Copied from v1",
    )


def test_a_sales_manager_may_start_a_draft_but_a_rep_may_not(manager, rep):
    assert draft_of(manager).created_by == manager
    with pytest.raises(PermissionDenied):
        draft_of(rep)


def test_a_draft_cannot_be_copied_into_another_draft(marketer):
    draft = draft_of(marketer)
    with pytest.raises(GovernanceError, match="is a draft"):
        governance.start_draft(source=draft, by=marketer)


def test_an_edit_saves_counts_up_the_revision_and_records_who_and_why(marketer):
    draft = draft_of(marketer)
    row = weight(draft, "whitepaper_download")
    saved = governance.edit_item(
        item=row, revision=row.revision, values={"points": 20}, by=marketer, reason="Whitepapers convert"
    )
    assert (saved.points, saved.revision) == (20, row.revision + 1)
    record = saved.history.first()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "~",
        marketer,
        "Whitepapers convert",
    )
    delta = record.diff_against(record.prev_record, excluded_fields=["revision"])
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("points", 15, 20)]


def test_saving_over_a_newer_change_is_refused_and_shows_their_value(marketer, manager):
    draft = draft_of(marketer)
    loaded = weight(draft, "whitepaper_download")  # both open the row at the same revision
    set_points(draft, "whitepaper_download", 25, by=manager, reason="Sales wants more")
    with pytest.raises(EditConflict) as caught:
        governance.edit_item(item=loaded, revision=loaded.revision, values={"points": 20}, by=marketer)
    conflict = caught.value
    assert conflict.current.points == 25
    assert conflict.change.who == "sam" and conflict.change.reason == "Sales wants more"
    assert conflict.change.changes == [("points", "15", "25")]
    assert "sam changed this" in str(conflict)
    assert weight(draft, "whitepaper_download").points == 25
    # Retrying with the revision it now shows goes through.
    current = conflict.current
    governance.edit_item(item=current, revision=current.revision, values={"points": 20}, by=marketer)
    assert weight(draft, "whitepaper_download").points == 20


def test_a_published_version_never_changes(marketer):
    row = weight(active(), "whitepaper_download")
    with pytest.raises(GovernanceError, match="a published version never changes"):
        governance.edit_item(item=row, revision=row.revision, values={"points": 99}, by=marketer)
    assert weight(active(), "whitepaper_download").points == 15


def test_bad_values_are_refused_by_the_models_rules(marketer):
    draft = draft_of(marketer)
    row = weight(draft, "web_visit")
    with pytest.raises(ValidationError, match="more than 0 days"):
        governance.edit_item(item=row, revision=row.revision, values={"half_life_days": -1}, by=marketer)
    assert weight(draft, "web_visit").half_life_days == 14


def test_a_bucket_of_another_version_cannot_be_chosen(marketer):
    draft = draft_of(marketer)
    row = cell(draft, "B", "engaged")
    foreign = Bucket.objects.get(matrix=active(), key="sales_ready")
    with pytest.raises(GovernanceError, match="another version"):
        governance.edit_item(item=row, revision=row.revision, values={"bucket": foreign}, by=marketer)


def test_criteria_can_be_added_and_removed_with_history(marketer):
    draft = draft_of(marketer)
    added = governance.add_criterion(
        matrix=draft,
        values={
            "label": "Director",
            "field": "title",
            "operator": "contains",
            "value": "director",
            "points": 20,
        },
        by=marketer,
        reason="Directors buy",
    )
    assert added.history.first().history_change_reason == "Directors buy"
    student = draft.criteria.get(label="Student")
    governance.delete_criterion(
        criterion=student, revision=student.revision, by=marketer, reason="Not needed"
    )
    assert not draft.criteria.filter(label="Student").exists()
    gone = FitCriterion.history.filter(id=student.pk, history_type="-").get()
    assert (gone.history_user, gone.history_change_reason) == (marketer, "Not needed")


# --- proposals, diff ---------------------------------------------------------------------------


def test_the_diff_names_each_change_item_by_item(marketer):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    row = cell(draft, "B", "warm")
    governance.edit_item(
        item=row, revision=row.revision, values={"bucket": draft.buckets.get(key="mql")}, by=marketer
    )
    settings_row = ScoringMatrix.objects.get(pk=draft.pk)
    governance.edit_item(
        item=settings_row, revision=settings_row.revision, values={"grade_a_min": 65}, by=marketer
    )
    mql = draft.buckets.get(key="mql")
    governance.edit_item(item=mql, revision=mql.revision, values={"sla_hours": 24}, by=marketer)
    governance.add_criterion(
        matrix=draft,
        values={
            "label": "Director",
            "field": "title",
            "operator": "contains",
            "value": "director",
            "points": 20,
        },
        by=marketer,
    )
    student = draft.criteria.get(label="Student")
    governance.delete_criterion(criterion=student, revision=student.revision, by=marketer)
    draft.refresh_from_db()
    texts = [c.text for c in diff_versions(active(), draft)]
    assert "Whitepaper download: 15 → 20" in texts
    assert "B × 6–39: Nurture → MQL" in texts
    assert "Grade A from: 40 → 65" in texts
    assert "MQL SLA (hours): 48 → 24" in texts
    assert "New criterion: Director (title contains director, +20 points)" in texts
    assert "Removed criterion: Student (seniority equals student, -40 points)" in texts
    assert len(texts) == 6


def test_an_invalid_draft_cannot_be_proposed(marketer):
    draft = draft_of(marketer)
    band = draft.bands.get(key="warm")
    governance.edit_item(item=band, revision=band.revision, values={"high": 30}, by=marketer)
    with pytest.raises(GovernanceError, match="Scores 31–39 fall between bands"):
        proposed(draft, by=marketer)
    assert not Proposal.objects.exists()


def test_a_draft_identical_to_the_active_version_is_not_proposed(marketer):
    with pytest.raises(GovernanceError, match="scores exactly like the active"):
        proposed(draft_of(marketer), by=marketer)


def test_proposing_asks_both_sides_by_email(marketer, manager, rep, django_capture_on_commit_callbacks):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    with django_capture_on_commit_callbacks(execute=True):
        proposal = proposed(draft, by=marketer)
    assert proposal.status == "open" and proposal.fingerprint == fingerprint(draft)
    (message,) = mail.outbox
    assert message.to == [manager.email]  # not the proposer, not a rep
    assert (
        "Please review matrix v2" in message.subject and f"/matrix/proposals/{proposal.pk}/" in message.body
    )


def test_proposing_again_supersedes_the_open_proposal(marketer):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    first = proposed(draft, by=marketer)
    second = proposed(draft, by=marketer, summary="Again")
    first.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "open")


# --- approvals ---------------------------------------------------------------------------------


@pytest.fixture
def proposal(marketer):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    return proposed(draft, by=marketer)


def test_one_approval_from_each_side_approves_it(
    proposal, marketer, manager, django_capture_on_commit_callbacks
):
    governance.approve_proposal(proposal=proposal, by=manager)
    proposal.refresh_from_db()
    assert proposal.status == "open"
    with django_capture_on_commit_callbacks(execute=True):
        governance.approve_proposal(proposal=proposal, by=marketer)
    proposal.refresh_from_db()
    assert proposal.status == "approved"
    assert sorted(proposal.approvals.values_list("role", "by__username")) == [
        ("Marketing", "maria"),
        ("Sales manager", "sam"),
    ]
    assert [m.subject for m in mail.outbox] == ["[Leadmatrix] Matrix v2 is approved"]
    assert proposal.history.first().history_change_reason == "Approved for Marketing"


def test_one_person_cannot_approve_twice(proposal, manager):
    governance.approve_proposal(proposal=proposal, by=manager)
    with pytest.raises(GovernanceError, match="already approved"):
        governance.approve_proposal(proposal=proposal, by=manager)
    assert Approval.objects.count() == 1


def test_the_proposer_cannot_approve_for_both_sides(proposal, marketer):
    marketer.groups.add(*make_user("tmp", "Sales manager").groups.all())
    marketer = type(marketer).objects.get(pk=marketer.pk)  # forget the cached roles
    governance.approve_proposal(proposal=proposal, by=marketer)
    with pytest.raises(GovernanceError, match="must come from someone else"):
        governance.approve_proposal(proposal=proposal, by=marketer)
    assert Approval.objects.count() == 1


def test_a_second_approval_from_the_same_side_is_refused(proposal, marketer):
    other = make_user("mona", "Marketing")
    governance.approve_proposal(proposal=proposal, by=marketer)
    with pytest.raises(GovernanceError, match="Marketing has already approved"):
        governance.approve_proposal(proposal=proposal, by=other)


def test_someone_without_the_role_cannot_approve(proposal, rep, admin_user):
    for person in (rep, admin_user):
        with pytest.raises(PermissionDenied):
            governance.approve_proposal(proposal=proposal, by=person)
    assert not Approval.objects.exists()


def test_approving_a_proposal_whose_draft_changed_since_is_refused(proposal, marketer, manager):
    set_points(proposal.matrix, "web_visit", 7, by=marketer, reason="One more thing")
    with pytest.raises(GovernanceError, match=r"changed after it was proposed \(maria changed Website visit"):
        governance.approve_proposal(proposal=proposal, by=manager)
    assert not Approval.objects.exists()


def test_rejecting_sends_it_back_with_the_comment(
    proposal, manager, marketer, django_capture_on_commit_callbacks
):
    with pytest.raises(GovernanceError, match="Say why"):
        governance.reject_proposal(proposal=proposal, by=manager, comment="  ")
    with django_capture_on_commit_callbacks(execute=True):
        governance.reject_proposal(proposal=proposal, by=manager, comment="Too many MQLs for the team")
    proposal.refresh_from_db()
    assert proposal.status == "rejected" and proposal.matrix.status == "draft"
    note = ProposalComment.objects.get()
    assert (note.kind, note.by, note.text) == ("rejection", manager, "Too many MQLs for the team")
    assert mail.outbox[0].to == [marketer.email]
    with pytest.raises(GovernanceError, match="nothing to approve"):
        governance.approve_proposal(proposal=proposal, by=marketer)
    # The draft can be changed and proposed again.
    set_points(proposal.matrix, "whitepaper_download", 18, by=marketer)
    assert proposed(proposal.matrix, by=marketer).status == "open"


# --- publication -------------------------------------------------------------------------------


def test_publishing_activates_the_draft_retires_the_old_version_and_rescores(marketer, manager):
    now = timezone.now()
    lead = make_lead(seniority="head")
    add_activity(lead, "whitepaper_download", now - timedelta(hours=1))
    old = active()
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 45, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    publication = governance.publish_proposal(proposal=proposal, by=manager, now=now)
    draft.refresh_from_db()
    old.refresh_from_db()
    assert (draft.status, draft.published_by, draft.published_at) == ("active", manager, now)
    assert (old.status, old.retired_at) == ("retired", now)
    assert (publication.previous, publication.by, publication.proposal) == (old, manager, proposal)
    assert publication.rescore.matrix == draft and publication.rescore.cause == "publish"
    proposal.refresh_from_db()
    assert proposal.status == "published"
    assert publication.baseline["leads"] == 1 and publication.baseline["outcomes"] == {
        "converted": 0,
        "not_converted": 0,
    }
    assert draft.history.first().history_change_reason == f"Published (proposal #{proposal.pk})"
    assert old.history.first().history_change_reason == "Replaced by v2"


def test_the_published_version_scores_every_lead(marketer, manager, django_capture_on_commit_callbacks):
    now = timezone.now()
    leads = [make_lead(seniority="head") for _ in range(3)]
    for lead in leads:
        add_activity(lead, "whitepaper_download", now - timedelta(hours=1))
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 45, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    with django_capture_on_commit_callbacks(execute=True):
        publication = governance.publish_proposal(proposal=proposal, by=manager, now=now)
    publication.rescore.refresh_from_db()
    assert publication.rescore.status == "done"
    assert set(Lead.objects.values_list("scored_version", flat=True)) == {draft.pk}
    assert Transition.objects.filter(cause="publish", matrix=draft).count() == 3


def test_an_unapproved_proposal_cannot_be_published(proposal, marketer):
    with pytest.raises(GovernanceError, match="still needs an approval from Marketing and Sales manager"):
        governance.publish_proposal(proposal=proposal, by=marketer)
    assert active().version == 1


def test_publishing_twice_gives_a_clear_message(marketer, manager):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    governance.publish_proposal(proposal=proposal, by=manager)
    with pytest.raises(GovernanceError, match="already published by sam"):
        governance.publish_proposal(proposal=proposal, by=marketer)
    assert Publication.objects.count() == 1 and RescoreRun.objects.count() == 1


def test_a_change_after_approval_blocks_publication(marketer, manager):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    set_points(draft, "web_visit", 9, by=marketer)
    with pytest.raises(GovernanceError, match="changed after it was proposed"):
        governance.publish_proposal(proposal=proposal, by=manager)
    assert active().version == 1


def test_a_rollback_is_a_draft_of_a_retired_version_through_the_same_path(marketer, manager):
    first = active()
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    governance.publish_proposal(proposal=approved(draft, marketer=marketer, manager=manager), by=manager)
    first.refresh_from_db()
    rollback = draft_of(manager, source=first)
    assert (rollback.version, rollback.based_on) == (3, first)
    assert [c.text for c in diff_versions(active(), rollback)] == ["Whitepaper download: 20 → 15"]
    proposal = governance.propose_draft(matrix=rollback, by=manager, summary="Back to v1")
    governance.approve_proposal(proposal=proposal, by=manager)
    governance.approve_proposal(proposal=proposal, by=marketer)
    governance.publish_proposal(proposal=proposal, by=marketer)
    assert active() == rollback
    assert weight(active(), "whitepaper_download").points == 15
    assert list(ScoringMatrix.objects.values_list("version", "status")) == [
        (3, "active"),
        (2, "retired"),
        (1, "retired"),
    ]


def test_a_proposal_approved_against_a_version_no_longer_active_must_be_proposed_again(marketer, manager):
    a, b = draft_of(marketer), draft_of(manager)
    set_points(a, "whitepaper_download", 20, by=marketer)
    set_points(b, "web_visit", 8, by=manager)
    pa = approved(a, marketer=marketer, manager=manager)
    pb = approved(b, marketer=marketer, manager=manager)
    governance.publish_proposal(proposal=pa, by=marketer)
    with pytest.raises(GovernanceError, match="v2 was published after this proposal was made"):
        governance.publish_proposal(proposal=pb, by=manager)
    assert list(ScoringMatrix.objects.filter(status="active").values_list("version", flat=True)) == [
        a.version
    ]
    # Proposed again, its diff is against v2 (it would undo the whitepaper change), and it can go through.
    b.refresh_from_db()
    assert {c.text for c in diff_versions(active(), b)} == {
        "Whitepaper download: 20 → 15",
        "Website visit: 5 → 8",
    }
    again = approved(b, marketer=marketer, manager=manager)
    governance.publish_proposal(proposal=again, by=manager)
    assert active() == b


# --- the audit trail ---------------------------------------------------------------------------


def test_the_version_history_lists_every_change_newest_first_with_old_and_new(marketer, manager):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer, reason="Whitepapers convert")
    set_points(draft, "whitepaper_download", 25, by=manager, reason="Even more")
    entries = governance.version_history(draft)
    latest, previous = entries[0], entries[1]
    assert (latest.who, latest.item, latest.changes, latest.reason) == (
        "sam",
        "Whitepaper download",
        [("points", "20", "25")],
        "Even more",
    )
    assert (previous.who, previous.changes) == ("maria", [("points", "15", "20")])
    assert entries[-1].action == "created"
    item = governance.version_history(draft, kind="weight", item_id=weight(draft, "whitepaper_download").pk)
    assert [e.action for e in item] == ["changed", "changed", "created"]


def test_awaiting_approval_counts_what_still_needs_this_person(proposal, marketer, manager, rep):
    assert list(governance.awaiting_approval(manager)) == [proposal]
    assert list(governance.awaiting_approval(marketer)) == [proposal]
    assert not governance.awaiting_approval(rep).exists()
    governance.approve_proposal(proposal=proposal, by=marketer)
    assert not governance.awaiting_approval(marketer).exists()
    assert list(governance.awaiting_approval(manager)) == [proposal]


def test_activity_weights_keep_their_revision_in_history(marketer):
    draft = draft_of(marketer)
    set_points(draft, "web_visit", 6, by=marketer)
    revisions = list(
        ActivityWeight.history.filter(id=weight(draft, "web_visit").pk).values_list("revision", flat=True)
    )
    assert revisions == [2, 1]
