"""The playbook is written from the active matrix, so it changes when the matrix does."""

import pytest

from feedback.models import QueueSettings
from scoring import governance
from tests.scoring.governance_helpers import approved, draft_of, forget_cached_matrices

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    forget_cached_matrices()
    yield
    forget_cached_matrices()


def test_the_playbook_teaches_each_bucket_its_action_and_sla_from_the_active_matrix(client, rep):
    client.force_login(rep)
    page = client.get("/playbook/").content.decode()
    assert "Call today: a rep phones within 4 hours and books a meeting." in page
    assert "4 hours" in page and "48 hours" in page
    assert "Executive (C-level, VP)" in page and "No budget" in page
    assert f"{QueueSettings.current().cool_off_days} days" in page


def test_the_playbook_follows_a_publication(client, rep, marketer, manager):
    draft = draft_of(marketer)
    mql = draft.buckets.get(key="mql")
    governance.edit_item(
        item=mql, revision=mql.revision, values={"sla_hours": 24, "action": "Call within a day."}, by=marketer
    )
    governance.publish_proposal(proposal=approved(draft, marketer=marketer, manager=manager), by=manager)
    client.force_login(rep)
    page = client.get("/playbook/").content.decode()
    assert "Call within a day." in page and "24 hours" in page
    assert "A rep reviews and calls within 2 days" not in page
