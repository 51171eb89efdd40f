"""Adding reasons when two managers add the same code at once: the second is told, not shown a 500."""

import pytest

from config.audit.models import AuditEntry
from feedback import rules
from feedback.models import Reason

pytestmark = pytest.mark.django_db


def test_adding_a_code_that_was_added_meanwhile_is_refused_with_a_message(manager):
    rules.add_reason(label="Wrong region", code="wrong-region", by=manager)
    entries = AuditEntry.objects.count()
    with pytest.raises(rules.RuleError, match="A reason with that code exists"):
        rules.add_reason(label="Outside our regions", code="wrong-region", by=manager)
    assert Reason.objects.get(code="wrong-region").label == "Wrong region"
    assert AuditEntry.objects.count() == entries  # the refused one wrote nothing


def test_the_page_shows_a_code_taken_after_the_form_passed_as_a_form_error(client, manager, monkeypatch):
    original = rules.add_reason

    def another_manager_was_faster(**kwargs):
        # Between the form's check (the code was free) and the save, the other manager's add commits.
        original(label="Their label", code=kwargs["code"], by=manager)
        return original(**kwargs)

    monkeypatch.setattr(rules, "add_reason", another_manager_was_faster)
    client.force_login(manager)
    response = client.post("/reasons/", {"reason-label": "Wrong region", "reason-code": "wrong-region"})
    assert response.status_code == 200
    assert response.context["reason_form"].errors == {"code": ["A reason with that code exists."]}
    assert "A reason with that code exists." in response.content.decode()
    assert Reason.objects.filter(code="wrong-region").count() == 1
