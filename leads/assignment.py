"""Who works a lead: claiming, assigning and round-robin distribution."""

from __future__ import annotations

from itertools import cycle

from django.contrib.auth.models import User
from django.db import transaction

from config.audit import chain as audit
from config.roles import SALES_REP
from leads.models import Lead


class AssignmentError(ValueError):
    """An assignment that cannot be made; the message says why."""


def reps() -> list[User]:
    """Active people in the Sales rep role, by name."""
    return list(
        User.objects.filter(groups__name=SALES_REP, is_active=True).order_by("first_name", "username")
    )


def claim_lead(*, lead_id: int, by: User) -> Lead:
    """Make an unassigned lead the rep's own; when two reps claim at once, exactly one wins."""
    with transaction.atomic():
        won = Lead.objects.filter(pk=lead_id, owner__isnull=True).update(owner=by)
        lead = Lead.objects.select_related("owner").get(pk=lead_id)
        if won:
            audit.record(actor=by, action="leads.lead.claim", obj=lead,
                         before={"owner": None}, after={"owner": by.pk})  # fmt: skip
    if not won and lead.owner_id != by.pk:
        owner = lead.owner.get_full_name() or lead.owner.username
        raise AssignmentError(f"{owner} claimed this lead a moment before you.")
    return lead


def assign_leads(*, lead_ids: list[int], owner: User | None, by: User) -> int:
    """Give leads to a rep (or back to nobody); returns how many changed hands."""
    if owner is not None and owner not in reps():
        raise AssignmentError("Leads can only be assigned to an active sales rep.")
    with transaction.atomic():
        previous = dict(
            Lead.objects.select_for_update()
            .filter(pk__in=lead_ids)
            .order_by("pk")
            .values_list("pk", "owner_id")
        )
        moving = {pk: was for pk, was in previous.items() if was != (owner.pk if owner else None)}
        changed = Lead.objects.filter(pk__in=moving).update(owner=owner)
        if changed:
            # One entry for the whole batch: which leads, whose they were, whose they are now.
            audit.record(
                actor=by,
                action="leads.lead.assign",
                object_type=Lead._meta.label_lower,
                object_repr=f"{changed} lead{'s' if changed != 1 else ''} to {_name(owner)}",
                before={"owners": {str(pk): was for pk, was in moving.items()}},
                after={"owner": owner.pk if owner else None, "leads": sorted(moving)},
            )
    return changed


def round_robin(*, bucket: str, by: User) -> dict[str, int]:
    """Share the unassigned queue leads of a bucket among the reps in turn, best leads first."""
    team = reps()
    if not team:
        raise AssignmentError("There are no active sales reps to assign to.")
    counts = {rep.username: 0 for rep in team}
    names = {rep.pk: rep.username for rep in team}
    with transaction.atomic():
        leads = list(
            Lead.objects.select_for_update()
            .in_queue()
            .filter(bucket=bucket, owner__isnull=True)
            .queue_order()
            .values_list("pk", flat=True)
        )
        by_rep: dict[int, list[int]] = {}
        for lead_id, rep in zip(leads, cycle(team), strict=False):
            by_rep.setdefault(rep.pk, []).append(lead_id)
            counts[rep.username] += 1
        for rep_id, ids in by_rep.items():
            Lead.objects.filter(pk__in=ids).update(owner_id=rep_id)
        if leads:
            # One entry for the whole share-out; every lead in it had no owner before.
            audit.record(
                actor=by,
                action="leads.lead.round_robin",
                object_type=Lead._meta.label_lower,
                object_repr=f"{len(leads)} {bucket} leads shared out",
                after={"bucket": bucket, "counts": counts, "leads": {names[k]: v for k, v in by_rep.items()}},
            )
    return counts


def _name(user: User | None) -> str:
    return (user.get_full_name() or user.username) if user else "nobody"
