"""Small helpers for the governance tests: a draft, its rows, a proposal carried to a given stage."""

from __future__ import annotations

from django.contrib.auth.models import User

from scoring import governance
from scoring.models import ActivityWeight, Proposal, RoutingCell, ScoringMatrix


def active() -> ScoringMatrix:
    return ScoringMatrix.objects.active()


def draft_of(by: User, source: ScoringMatrix | None = None) -> ScoringMatrix:
    return governance.start_draft(source=source or active(), by=by)


def weight(matrix: ScoringMatrix, key: str) -> ActivityWeight:
    return matrix.weights.get(activity_type__key=key)


def cell(matrix: ScoringMatrix, grade: str, band_key: str) -> RoutingCell:
    return matrix.cells.get(grade=grade, band__key=band_key)


def set_points(matrix: ScoringMatrix, key: str, points: int, *, by: User, reason: str = "") -> ActivityWeight:
    row = weight(matrix, key)
    return governance.edit_item(
        item=row, revision=row.revision, values={"points": points}, by=by, reason=reason
    )


def proposed(matrix: ScoringMatrix, *, by: User, summary: str = "Count whitepapers more") -> Proposal:
    return governance.propose_draft(matrix=matrix, by=by, summary=summary)


def approved(matrix: ScoringMatrix, *, marketer: User, manager: User) -> Proposal:
    proposal = proposed(matrix, by=marketer)
    governance.approve_proposal(proposal=proposal, by=marketer)
    governance.approve_proposal(proposal=proposal, by=manager)
    proposal.refresh_from_db()
    return proposal


def forget_cached_matrices() -> None:
    """Empty `scoring.matrices`' per-process cache of published engine matrices.

    It is keyed by primary key, and a rolled-back test frees its keys for the next test: a version
    published here could otherwise be scored with another test's matrix of the same id.
    """
    from scoring import matrices

    matrices._published_cache.clear()
