"""People acting at the same moment: exactly one wins, the other is told why (PostgreSQL row locks).

SQLite serialises every write to the whole file, so these races only exist on PostgreSQL; the
sequential versions of the same refusals run on both databases in test_governance.py.
"""

import threading

import pytest
from django.db import connection

from scoring import governance
from scoring.governance import EditConflict, GovernanceError
from scoring.models import ActivityWeight, Publication, ScoringMatrix
from tests.scoring.governance_helpers import approved, draft_of, set_points, weight

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL"),
]


def _race(*calls) -> list[object]:
    """Run the calls in threads released at the same moment; return each one's result or error."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(n, call):
        try:
            barrier.wait()
            outcomes[n] = call()
        except Exception as exc:  # the race's loser: kept to assert on
            outcomes[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_two_people_publishing_the_same_proposal_at_once_exactly_one_wins(marketer, manager):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    outcomes = _race(
        lambda: governance.publish_proposal(proposal=proposal, by=marketer),
        lambda: governance.publish_proposal(proposal=proposal, by=manager),
    )
    wins = [o for o in outcomes if isinstance(o, Publication)]
    losses = [o for o in outcomes if isinstance(o, GovernanceError)]
    assert len(wins) == 1 and len(losses) == 1, outcomes
    assert "already published" in str(losses[0])
    assert Publication.objects.count() == 1
    assert list(ScoringMatrix.objects.filter(status="active").values_list("version", flat=True)) == [2]


def test_two_versions_published_at_once_leave_exactly_one_active(marketer, manager):
    a, b = draft_of(marketer), draft_of(manager)
    set_points(a, "whitepaper_download", 20, by=marketer)
    set_points(b, "web_visit", 8, by=manager)
    pa = approved(a, marketer=marketer, manager=manager)
    pb = approved(b, marketer=marketer, manager=manager)
    outcomes = _race(
        lambda: governance.publish_proposal(proposal=pa, by=marketer),
        lambda: governance.publish_proposal(proposal=pb, by=manager),
    )
    assert sum(isinstance(o, Publication) for o in outcomes) == 1, outcomes
    (loss,) = [o for o in outcomes if isinstance(o, GovernanceError)]
    assert "was published after this proposal was made" in str(loss)
    assert ScoringMatrix.objects.filter(status="active").count() == 1


def test_two_people_saving_the_same_row_at_once_exactly_one_wins(marketer, manager):
    draft = draft_of(marketer)
    row = weight(draft, "whitepaper_download")
    outcomes = _race(
        lambda: governance.edit_item(item=row, revision=row.revision, values={"points": 20}, by=marketer),
        lambda: governance.edit_item(item=row, revision=row.revision, values={"points": 25}, by=manager),
    )
    wins = [o for o in outcomes if isinstance(o, ActivityWeight)]
    (conflict,) = [o for o in outcomes if isinstance(o, EditConflict)]
    assert len(wins) == 1
    saved = weight(draft, "whitepaper_download")
    assert (saved.points, saved.revision) == (wins[0].points, 2)
    assert conflict.current.points == wins[0].points
    assert saved.history.count() == 2  # created, and the one change that won
