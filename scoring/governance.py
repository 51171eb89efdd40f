"""Changing the matrix together: drafts, edits without lost updates, proposals, approvals, publication.

Every function here is one step of the flow. Each locks what it changes (matrix rows before proposal
rows, always in that order, so two steps never deadlock), checks the rules, writes through
`Model.save()` so django-simple-history records who, when and why, and raises `GovernanceError` with a
sentence the person can act on. Views turn those errors into messages.

A draft stays in status `draft` while proposed: the proposal's state lives on `Proposal`, and a
version changes status only when it is published (draft → active) or replaced (active → retired).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from config.audit import chain as audit
from config.roles import MARKETING, SALES_MANAGER, has_role
from scoring.diff import fingerprint
from scoring.matrices import matrix_problems
from scoring.models import (
    ActivityType,
    ActivityWeight,
    Approval,
    Bucket,
    FitCriterion,
    Persona,
    PersonaRule,
    PersonaWeight,
    Proposal,
    ProposalComment,
    Publication,
    Revised,
    RoutingCell,
    ScoreBand,
    ScoringMatrix,
)

EDITORS = (MARKETING, SALES_MANAGER)
SIDES = (MARKETING, SALES_MANAGER)


class GovernanceError(Exception):
    """A step of the flow was refused; the message says why and what to do."""


class EditConflict(GovernanceError):
    """Someone saved the row after the editor loaded it; carries the row as it is now."""

    def __init__(self, current: Revised, change: AuditEntry | None):
        self.current = current
        self.change = change
        who = change.who if change else "someone"
        when = f" at {timezone.localtime(change.when):%H:%M on %d %b}" if change else ""
        super().__init__(
            f"{who} changed this{when}, after you opened it. Their values are shown now; "
            "save again if yours should still replace them."
        )


def name_of(user) -> str:
    """How a person is named on pages and in messages."""
    if user is None:
        return "someone"
    return user.get_full_name() or user.username


def _matrix_id(item: models.Model) -> int:
    if isinstance(item, ScoringMatrix):
        return item.pk
    if isinstance(item, PersonaRule):
        return Persona.objects.values_list("matrix_id", flat=True).get(pk=item.persona_id)
    if isinstance(item, PersonaWeight):
        return ActivityWeight.objects.values_list("matrix_id", flat=True).get(pk=item.weight_id)
    return item.matrix_id


def _lock_draft(matrix_id: int) -> ScoringMatrix:
    matrix = ScoringMatrix.objects.select_for_update().get(pk=matrix_id)
    if matrix.status != ScoringMatrix.Status.DRAFT:
        raise GovernanceError(
            f"v{matrix.version} is {matrix.get_status_display().lower()}: a published version never "
            "changes. Start a draft from it to make changes."
        )
    return matrix


def _audited_save(obj: models.Model, *, by, reason: str, chain: bool = True) -> None:
    before = audit.stored_snapshot(obj) if chain else None
    obj._change_reason = reason.strip()[:100] or None
    obj._history_user = by
    obj.save()
    if chain:  # the tamper-evident entry, in the same transaction as the change (config/audit)
        audit.record_change(actor=by, obj=obj, before=before, reason=reason.strip())


def _check_editor(by) -> None:
    if not has_role(by, *EDITORS):
        raise PermissionDenied("Only Marketing and Sales managers change the matrix.")


# --- drafts --------------------------------------------------------------------------------------


def start_draft(*, source: ScoringMatrix, by: User, name: str = "") -> ScoringMatrix:
    """Deep-copy a published version (the active one, or a retired one to roll back) into a new draft."""
    _check_editor(by)
    if source.status not in {ScoringMatrix.Status.ACTIVE, ScoringMatrix.Status.RETIRED}:
        raise GovernanceError(
            f"v{source.version} is a draft: edit it directly, or start from the active version."
        )
    for attempt in itertools.count(1):
        try:
            with transaction.atomic():
                return _copy(source, by=by, name=name)
        except IntegrityError:
            # Someone took the same version number at the same moment: take the next one.
            if attempt == 3:
                raise GovernanceError("Several drafts were started at once; try again.") from None
    raise AssertionError("unreachable")


def _copy(source: ScoringMatrix, *, by, name: str) -> ScoringMatrix:
    reason = f"Copied from v{source.version}"
    version = (ScoringMatrix.objects.aggregate(n=Max("version"))["n"] or 0) + 1

    def add(model: type[models.Model], **fields) -> models.Model:
        obj = model(**fields)
        _audited_save(obj, by=by, reason=reason, chain=False)  # one chain entry for the whole copy
        return obj

    draft = add(
        ScoringMatrix,
        version=version,
        name=name.strip() or source.name,
        status=ScoringMatrix.Status.DRAFT,
        based_on=source,
        notes=source.notes,
        grade_a_min=source.grade_a_min,
        grade_b_min=source.grade_b_min,
        grade_c_min=source.grade_c_min,
        breadth_measure=source.breadth_measure,
        breadth_window_days=source.breadth_window_days,
        breadth_points=source.breadth_points,
        breadth_cap=source.breadth_cap,
        created_by=by,
    )
    buckets = {
        b.pk: add(
            Bucket,
            matrix=draft,
            key=b.key,
            name=b.name,
            rank=b.rank,
            action=b.action,
            sla_hours=b.sla_hours,
            priority=b.priority,
            in_queue=b.in_queue,
        )
        for b in source.buckets.all()
    }
    bands = {
        b.pk: add(ScoreBand, matrix=draft, key=b.key, low=b.low, high=b.high) for b in source.bands.all()
    }
    for cell in source.cells.all():
        add(
            RoutingCell,
            matrix=draft,
            grade=cell.grade,
            band=bands[cell.band_id],
            bucket=buckets[cell.bucket_id],
        )
    for c in source.criteria.all():
        add(
            FitCriterion,
            matrix=draft,
            label=c.label,
            field=c.field,
            operator=c.operator,
            value=c.value,
            value_to=c.value_to,
            points=c.points,
            position=c.position,
        )
    personas = {}
    for p in source.personas.prefetch_related("rules"):
        personas[p.pk] = add(Persona, matrix=draft, key=p.key, name=p.name, position=p.position)
        for r in p.rules.all():
            add(
                PersonaRule,
                persona=personas[p.pk],
                field=r.field,
                operator=r.operator,
                value=r.value,
                value_to=r.value_to,
            )
    for w in source.weights.prefetch_related("persona_weights"):
        weight = add(
            ActivityWeight,
            matrix=draft,
            activity_type_id=w.activity_type_id,
            points=w.points,
            half_life_days=w.half_life_days,
            cap=w.cap,
            floor_bucket=buckets.get(w.floor_bucket_id),
            ceiling_bucket=buckets.get(w.ceiling_bucket_id),
            override_days=w.override_days,
        )
        for pw in w.persona_weights.all():
            add(PersonaWeight, weight=weight, persona=personas[pw.persona_id], multiplier=pw.multiplier)
    audit.record(
        actor=by,
        action="scoring.scoringmatrix.start_draft",
        obj=draft,
        after={"version": draft.version, "name": draft.name, "based_on": source.version},
        reason=reason,
    )
    return draft


def edit_item(*, item: Revised, revision: int, values: dict, by: User, reason: str = "") -> Revised:
    """Save new values on one row of a draft if nobody saved it since `revision` (compare-and-set)."""
    _check_editor(by)
    with transaction.atomic():
        matrix = _lock_draft(_matrix_id(item))
        current = type(item).objects.select_for_update().filter(pk=item.pk).first()
        if current is None:
            raise GovernanceError("Someone deleted this item meanwhile; reload the draft.")
        if current.revision != revision:
            raise EditConflict(current, latest_entry(current))
        for name, value in values.items():
            if getattr(value, "matrix_id", matrix.pk) != matrix.pk:
                raise GovernanceError("That choice belongs to another version.")
            setattr(current, name, value)
        current.full_clean()
        _audited_save(current, by=by, reason=reason)
    return current


def add_criterion(*, matrix: ScoringMatrix, values: dict, by: User, reason: str = "") -> FitCriterion:
    """Add a fit criterion to a draft, at the end of the list."""
    _check_editor(by)
    with transaction.atomic():
        matrix = _lock_draft(matrix.pk)
        position = (matrix.criteria.aggregate(n=Max("position"))["n"] or 0) + 1
        criterion = FitCriterion(matrix=matrix, position=position, **values)
        criterion.full_clean()
        _audited_save(criterion, by=by, reason=reason)
    return criterion


def delete_criterion(*, criterion: FitCriterion, revision: int, by: User, reason: str = "") -> None:
    """Remove a fit criterion from a draft, unless someone changed it since `revision`."""
    _check_editor(by)
    with transaction.atomic():
        _lock_draft(criterion.matrix_id)
        current = FitCriterion.objects.select_for_update().filter(pk=criterion.pk).first()
        if current is None:
            return  # someone removed it already: the result is what was asked for
        if current.revision != revision:
            raise EditConflict(current, latest_entry(current))
        before = audit.snapshot(current)
        current._change_reason = reason.strip()[:100] or None
        current._history_user = by
        current.delete()
        audit.record(actor=by, action="scoring.fitcriterion.delete", obj=criterion, object_id=str(criterion.pk),
                     before=before, reason=reason.strip())  # fmt: skip


# --- proposals -----------------------------------------------------------------------------------


def propose_draft(*, matrix: ScoringMatrix, by: User, summary: str, now: datetime | None = None) -> Proposal:
    """Put a valid draft forward for approval; an open proposal of the same draft is superseded."""
    from scoring.preview import start_preview

    _check_editor(by)
    now = now or timezone.now()
    if not summary.strip():
        raise GovernanceError("Say in a sentence or two what the change is for.")
    with transaction.atomic():
        matrix = _lock_draft(matrix.pk)
        problems = matrix_problems(matrix)
        if problems:
            raise GovernanceError(
                f"v{matrix.version} cannot be proposed until these are fixed: " + " ".join(problems)
            )
        content = fingerprint(matrix)
        active = ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).first()
        if active and fingerprint(active) == content:
            raise GovernanceError(
                f"v{matrix.version} scores exactly like the active v{active.version}: change something first."
            )
        for old in matrix.proposals.select_for_update().filter(
            status__in=[Proposal.Status.OPEN, Proposal.Status.APPROVED]
        ):
            old.status, old.closed_at = Proposal.Status.SUPERSEDED, now
            _audited_save(old, by=by, reason="Proposed again")
        proposal = Proposal(
            matrix=matrix,
            summary=summary.strip(),
            fingerprint=content,
            proposed_by=by,
            proposed_at=now,
            against=active,
        )
        _audited_save(proposal, by=by, reason="Proposed")
        start_preview(matrix=matrix, by=by, now=now)
        _notify(
            proposal,
            subject=f"Please review matrix v{matrix.version}",
            body=f"{name_of(by)} proposed matrix v{matrix.version}: {proposal.summary}\n\n"
            "It needs one approval from Marketing and one from a Sales manager.",
            to=_people(SIDES, but=by),
        )
    return proposal


def approve_proposal(*, proposal: Proposal, by: User, now: datetime | None = None) -> Approval:
    """Approve for the side the person belongs to; refused when stale, twice, or without the role."""
    sides = [role for role in SIDES if has_role(by, role)]
    if not sides:
        raise PermissionDenied("Only Marketing and Sales managers approve proposals.")
    now = now or timezone.now()
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().select_related("matrix").get(pk=proposal.pk)
        if proposal.status != Proposal.Status.OPEN:
            raise GovernanceError(
                f"This proposal is {proposal.get_status_display().lower()}: nothing to approve."
            )
        approvals = list(proposal.approvals.select_related("by"))
        if any(a.by_id == by.pk for a in approvals):
            raise GovernanceError(
                "You have already approved this proposal; the other side's approval must come from someone else."
            )
        done = {a.role: a for a in approvals}
        missing = [role for role in sides if role not in done]
        if not missing:
            side = done[sides[0]]
            raise GovernanceError(f"{side.role} has already approved ({name_of(side.by)}).")
        if fingerprint(proposal.matrix) != proposal.fingerprint:
            raise GovernanceError(_stale_message(proposal))
        _check_against(proposal, ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).first())
        approval = Approval(
            proposal=proposal, role=missing[0], by=by, at=now, fingerprint=proposal.fingerprint
        )
        approval.save()
        audit.record(actor=by, action="scoring.proposal.approve", obj=proposal,
                     after={"role": approval.role, "fingerprint": approval.fingerprint})  # fmt: skip
        if len(approvals) + 1 == len(SIDES):
            proposal.status = Proposal.Status.APPROVED
            _audited_save(proposal, by=by, reason=f"Approved for {approval.role}")
            _notify(
                proposal,
                subject=f"Matrix v{proposal.matrix.version} is approved",
                body="Marketing and Sales have both approved; it can be published now.",
                to=_people(SIDES, only=proposal.proposed_by),
            )
    return approval


def reject_proposal(
    *, proposal: Proposal, by: User, comment: str, now: datetime | None = None
) -> ProposalComment:
    """Send a proposal back to its draft, with the reason in the thread."""
    _check_editor(by)
    if not comment.strip():
        raise GovernanceError("Say why you reject it, so the proposer knows what to change.")
    now = now or timezone.now()
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().select_related("matrix").get(pk=proposal.pk)
        if not proposal.is_open:
            raise GovernanceError(f"This proposal is {proposal.get_status_display().lower()} already.")
        note = ProposalComment.objects.create(
            proposal=proposal, kind=ProposalComment.Kind.REJECTION, text=comment.strip(), by=by, at=now
        )
        proposal.status, proposal.closed_at = Proposal.Status.REJECTED, now
        _audited_save(proposal, by=by, reason=f"Rejected: {note.text}")
        _notify(
            proposal,
            subject=f"Matrix v{proposal.matrix.version} was sent back",
            body=f"{name_of(by)} rejected the proposal: {note.text}\n\nThe draft is open for changes again.",
            to=_people(SIDES, only=proposal.proposed_by),
        )
    return note


def comment_on_proposal(*, proposal: Proposal, by: User, text: str) -> ProposalComment:
    """Add a remark to a proposal's thread."""
    _check_editor(by)
    if not text.strip():
        raise GovernanceError("Write something to add to the thread.")
    with transaction.atomic():
        note = ProposalComment.objects.create(proposal=proposal, text=text.strip(), by=by, at=timezone.now())
        audit.record(actor=by, action="scoring.proposal.comment", obj=proposal, after={"text": note.text})
    return note


def publish_proposal(*, proposal: Proposal, by: User, now: datetime | None = None) -> Publication:
    """Make an approved draft the active version, retire the old one, and start the full rescore."""
    from scoring.preview import baseline_figures
    from scoring.runs import start_rescore

    _check_editor(by)
    now = now or timezone.now()
    draft_id = Proposal.objects.values_list("matrix_id", flat=True).get(pk=proposal.pk)
    with transaction.atomic():
        # Matrices first (in id order), then the proposal: the order every step here uses.
        locked = {
            m.pk: m
            for m in ScoringMatrix.objects.select_for_update()
            .filter(Q(pk=draft_id) | Q(status=ScoringMatrix.Status.ACTIVE))
            .order_by("pk")
        }
        # A fresh read: another publication may have committed while this one waited for the lock.
        previous = (
            ScoringMatrix.objects.select_for_update().filter(status=ScoringMatrix.Status.ACTIVE).first()
        )
        proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
        draft = locked[draft_id]
        if proposal.status == Proposal.Status.PUBLISHED:
            publication = proposal.publication
            raise GovernanceError(
                f"v{draft.version} was already published by {name_of(publication.by)} at "
                f"{timezone.localtime(publication.at):%H:%M}; nothing left to do."
            )
        if proposal.status != Proposal.Status.APPROVED:
            missing = set(SIDES) - set(proposal.approvals.values_list("role", flat=True))
            if proposal.status == Proposal.Status.OPEN:
                raise GovernanceError(f"It still needs an approval from {' and '.join(sorted(missing))}.")
            raise GovernanceError(
                f"This proposal is {proposal.get_status_display().lower()}; it cannot be published."
            )
        if draft.status != ScoringMatrix.Status.DRAFT:
            raise GovernanceError(f"v{draft.version} is {draft.get_status_display().lower()}, not a draft.")
        if fingerprint(draft) != proposal.fingerprint:
            raise GovernanceError(_stale_message(proposal))
        _check_against(proposal, previous)
        problems = matrix_problems(draft)
        if problems:
            raise GovernanceError("It cannot score leads: " + " ".join(problems))
        baseline = baseline_figures()
        if previous is not None:
            previous.status, previous.retired_at = ScoringMatrix.Status.RETIRED, now
            _audited_save(previous, by=by, reason=f"Replaced by v{draft.version}")
        draft.status, draft.published_by, draft.published_at = ScoringMatrix.Status.ACTIVE, by, now
        try:
            with transaction.atomic():
                _audited_save(draft, by=by, reason=f"Published (proposal #{proposal.pk})")
        except IntegrityError:
            raise GovernanceError(
                "Another version was published at the same moment; reload and look again."
            ) from None
        proposal.status, proposal.closed_at = Proposal.Status.PUBLISHED, now
        _audited_save(proposal, by=by, reason="Published")
        run = start_rescore(cause="publish", by=by, now=now)
        publication = Publication.objects.create(
            matrix=draft, previous=previous, proposal=proposal, by=by, at=now, baseline=baseline, rescore=run
        )
        audit.record(
            actor=by,
            action="scoring.scoringmatrix.publish",
            obj=draft,
            after={"version": draft.version, "previous": previous.version if previous else None,
                   "proposal": proposal.pk, "rescore": run.pk},
        )  # fmt: skip
    return publication


def _check_against(proposal: Proposal, active: ScoringMatrix | None) -> None:
    """Both sides approve a diff against one version; if another went live since, that diff is void."""
    if active is not None and proposal.against_id not in (None, active.pk):
        raise GovernanceError(
            f"v{active.version} was published after this proposal was made, so the changes approved here "
            f"were measured against an older version. Propose v{proposal.matrix.version} again to see "
            f"and approve its differences from v{active.version}."
        )


def _stale_message(proposal: Proposal) -> str:
    changed = changes_since(proposal)
    detail = ""
    if changed:
        last = changed[0]
        detail = f" ({last.who} changed {last.item} at {timezone.localtime(last.when):%H:%M on %d %b})"
    return (
        f"v{proposal.matrix.version} changed after it was proposed{detail}. Look at the changes and "
        "propose it again; then it can be approved."
    )


def awaiting_approval(user) -> models.QuerySet[Proposal]:
    """Open proposals that still lack the approval of a side this person belongs to, and not by them."""
    sides = [role for role in SIDES if has_role(user, role)]
    if not sides:
        return Proposal.objects.none()
    open_proposals = Proposal.objects.filter(status=Proposal.Status.OPEN)
    mine = Approval.objects.filter(by=user).values("proposal_id")
    lacking = Q()
    for side in sides:
        lacking |= ~Q(pk__in=Approval.objects.filter(role=side).values("proposal_id"))
    return open_proposals.exclude(pk__in=mine).filter(lacking)


def _people(roles, *, but=None, only=None) -> list[str]:
    users = User.objects.filter(is_active=True, groups__name__in=roles).exclude(email="").distinct()
    if only is not None:
        users = users.filter(pk=only.pk)
    if but is not None:
        users = users.exclude(pk=but.pk)
    return sorted(users.values_list("email", flat=True))


def _notify(proposal: Proposal, *, subject: str, body: str, to: list[str]) -> None:
    if not to:
        return
    link = reverse("scoring:proposal", args=[proposal.pk])
    message = f"{body}\n\nOpen it in Leadmatrix: {link}\n"
    transaction.on_commit(
        lambda: send_mail(f"[Leadmatrix] {subject}", message, settings.DEFAULT_FROM_EMAIL, to)
    )


# --- the audit trail -----------------------------------------------------------------------------

# kind in URLs → (model, label); the history of each is read off its simple_history table.
KINDS: dict[str, tuple[type[models.Model], str]] = {
    "settings": (ScoringMatrix, "Grades and breadth"),
    "criterion": (FitCriterion, "Fit criterion"),
    "persona": (Persona, "Persona"),
    "rule": (PersonaRule, "Persona rule"),
    "weight": (ActivityWeight, "Weight"),
    "multiplier": (PersonaWeight, "Persona multiplier"),
    "bucket": (Bucket, "Bucket"),
    "band": (ScoreBand, "Score band"),
    "cell": (RoutingCell, "Grid cell"),
}
HIDDEN_FIELDS = ["revision", "created_at"]


@dataclass
class AuditEntry:
    kind: str
    kind_label: str
    item_id: int
    item: str
    action: str  # "created", "changed", "deleted"
    who: str
    when: datetime
    reason: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)


def _history_sources(matrix: ScoringMatrix) -> dict[str, models.QuerySet]:
    persona_ids = Persona.history.filter(matrix_id=matrix.pk).values("id")
    weight_ids = ActivityWeight.history.filter(matrix_id=matrix.pk).values("id")
    sources = {"settings": ScoringMatrix.history.filter(id=matrix.pk)}
    for kind in ("criterion", "persona", "weight", "bucket", "band", "cell"):
        sources[kind] = KINDS[kind][0].history.filter(matrix_id=matrix.pk)
    sources["rule"] = PersonaRule.history.filter(persona_id__in=persona_ids)
    sources["multiplier"] = PersonaWeight.history.filter(weight_id__in=weight_ids)
    return {
        k: qs.select_related("history_user").order_by("-history_date", "-history_id")
        for k, qs in sources.items()
    }


class _Names:
    """Display names for the ids that history rows hold (deleted rows included)."""

    def __init__(self, matrix_id: int):
        self.types = dict(ActivityType.objects.values_list("id", "name"))
        self.buckets = dict(Bucket.history.filter(matrix_id=matrix_id).values_list("id", "name"))
        self.bands = {
            r.id: f"{r.low}+" if r.high is None else f"{r.low}–{r.high}"
            for r in ScoreBand.history.filter(matrix_id=matrix_id).order_by("history_date")
        }
        self.personas = dict(Persona.history.filter(matrix_id=matrix_id).values_list("id", "name"))
        self.weight_types = dict(
            ActivityWeight.history.filter(matrix_id=matrix_id).values_list("id", "activity_type_id")
        )

    def item(self, kind: str, r) -> str:
        if kind == "settings":
            return "Grades and breadth"
        if kind == "criterion":
            return r.label or f"{r.field} {r.operator} {r.value}"
        if kind == "persona":
            return r.name
        if kind == "rule":
            return f"{self.personas.get(r.persona_id, 'Persona')}: {r.field} {r.operator} {r.value}"
        if kind == "weight":
            return self.types.get(r.activity_type_id, "Weight")
        if kind == "multiplier":
            activity = self.types.get(self.weight_types.get(r.weight_id), "activity")
            return f"{activity} for {self.personas.get(r.persona_id, 'persona')}"
        if kind == "bucket":
            return r.name
        if kind == "band":
            return f"{r.low}+" if r.high is None else f"{r.low}–{r.high}"
        return f"{r.grade} × {self.bands.get(r.band_id, 'band')}"

    def value(self, field_name: str, value) -> str:
        lookup = {
            "floor_bucket": self.buckets,
            "ceiling_bucket": self.buckets,
            "bucket": self.buckets,
            "band": self.bands,
            "persona": self.personas,
            "activity_type": self.types,
        }.get(field_name)
        if lookup is not None and value is not None:
            return lookup.get(value, str(value))
        if value is None or value == "":
            return "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


def _entry(kind: str, record, names: _Names) -> AuditEntry:
    model = KINDS[kind][0]
    action = {"+": "created", "~": "changed", "-": "deleted"}[record.history_type]
    changes = []
    if record.history_type == "~":
        previous = record.prev_record
        if previous is not None:
            delta = record.diff_against(previous, excluded_fields=HIDDEN_FIELDS)
            for change in delta.changes:
                label = str(model._meta.get_field(change.field).verbose_name)
                changes.append(
                    (label, names.value(change.field, change.old), names.value(change.field, change.new))
                )
    return AuditEntry(
        kind=kind,
        kind_label=KINDS[kind][1],
        item_id=record.id,
        item=names.item(kind, record),
        action=action,
        who=name_of(record.history_user),
        when=record.history_date,
        reason=record.history_change_reason or "",
        changes=changes,
    )


def version_history(
    matrix: ScoringMatrix, *, kind: str = "", item_id: int | None = None, limit: int = 300
) -> list[AuditEntry]:
    """Every recorded change to the version's rows (or one row), newest first, old → new per field."""
    names = _Names(matrix.pk)
    sources = _history_sources(matrix)
    if kind:
        sources = {kind: sources[kind].filter(id=item_id)}
    streams = [[(r.history_date, r.history_id, k, r) for r in qs[:limit]] for k, qs in sources.items()]
    merged = heapq.merge(*streams, key=lambda t: (t[0], t[1]), reverse=True)
    return [_entry(k, r, names) for _, _, k, r in itertools.islice(merged, limit)]


def latest_entry(item: models.Model) -> AuditEntry | None:
    """The most recent recorded change to one row."""
    kind = next(k for k, (model, _) in KINDS.items() if isinstance(item, model))
    record = item.history.select_related("history_user").order_by("-history_date", "-history_id").first()
    if record is None:
        return None
    matrix_id = _matrix_id(item)
    return _entry(kind, record, _Names(matrix_id))


def changes_since(proposal: Proposal) -> list[AuditEntry]:
    """Changes to the proposed draft after it was proposed (empty while the proposal is current)."""
    if fingerprint(proposal.matrix) == proposal.fingerprint:
        return []
    entries = [e for e in version_history(proposal.matrix, limit=50) if e.when > proposal.proposed_at]
    return entries or version_history(proposal.matrix, limit=1)


def summarised(entries: list[AuditEntry]) -> list[AuditEntry]:
    """The same entries, with the rows a draft was copied with folded into one line each."""
    result: list[AuditEntry] = []
    for entry in entries:
        copied = entry.action == "created" and entry.reason.startswith("Copied from")
        last = result[-1] if result else None
        if copied and last and last.kind == "copy" and last.reason == entry.reason:
            last.item_id += 1
            last.item = f"{last.item_id} rows: criteria, personas, weights, buckets, bands and grid"
            continue
        if copied:
            entry = AuditEntry(
                "copy", "Whole version", 1, entry.item, "created", entry.who, entry.when, entry.reason
            )
        result.append(entry)
    return result
