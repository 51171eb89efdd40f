"""Who works a lead: claiming, assigning and round-robin distribution."""

from __future__ import annotations

from itertools import cycle

from django.contrib.auth.models import User
from django.db import transaction

from config.roles import SALES_REP
from leads.models import Lead


class AssignmentError(ValueError):
    """An assignment that cannot be made; the message says why."""


def reps() -> list[User]:
    """Active people in the Sales rep role, by name."""
    return list(
        User.objects.filter(groups__name=SALES_REP, is_active=True).order_by("first_name", "username")
    )


def claim_lead(*, lead_id: int, rep: User) -> Lead:
    """Make an unassigned lead the rep's own; when two reps claim at once, exactly one wins."""
    won = Lead.objects.filter(pk=lead_id, owner__isnull=True).update(owner=rep)
    lead = Lead.objects.select_related("owner").get(pk=lead_id)
    if not won and lead.owner_id != rep.pk:
        owner = lead.owner.get_full_name() or lead.owner.username
        raise AssignmentError(f"{owner} claimed this lead a moment before you.")
    return lead


def assign_leads(*, lead_ids: list[int], owner: User | None) -> int:
    """Give leads to a rep (or back to nobody); returns how many changed hands."""
    if owner is not None and owner not in reps():
        raise AssignmentError("Leads can only be assigned to an active sales rep.")
    with transaction.atomic():
        ids = list(
            Lead.objects.select_for_update()
            .filter(pk__in=lead_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        return Lead.objects.filter(pk__in=ids).exclude(owner=owner).update(owner=owner)


def round_robin(*, bucket: str) -> dict[str, int]:
    """Share the unassigned queue leads of a bucket among the reps in turn, best leads first."""
    team = reps()
    if not team:
        raise AssignmentError("There are no active sales reps to assign to.")
    counts = {rep.username: 0 for rep in team}
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
    return counts
