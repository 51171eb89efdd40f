"""Upserting leads by email: created, updated, unchanged, and the score follows the profile."""

import pytest

from leads.ingest import IngestError, LeadIn, upsert_leads
from leads.models import Lead, Transition

pytestmark = pytest.mark.django_db


def test_creates_then_updates_then_leaves_alone():
    first = upsert_leads([LeadIn("Ann@Example.com", {"first_name": "Ann", "seniority": "staff"})])
    assert first[0].status == "created"
    lead = Lead.objects.get(pk=first[0].lead_id)
    assert (lead.email, lead.first_name) == ("ann@example.com", "Ann")

    again = upsert_leads([LeadIn("ann@example.com", {"first_name": "Ann"}, {"plan": "pro"})])
    assert again[0] == type(again[0])(lead.pk, "updated")
    lead.refresh_from_db()
    assert lead.attributes == {"plan": "pro"}
    assert lead.seniority == "staff"  # fields not given are kept

    assert (
        upsert_leads([LeadIn("ann@example.com", {"first_name": "Ann"}, {"plan": "pro"})])[0].status
        == "unchanged"
    )


def test_a_profile_change_rescores_the_lead():
    (created,) = upsert_leads([LeadIn("cto@example.com", {"seniority": "staff"})])
    before = Lead.objects.get(pk=created.lead_id).fit_points
    upsert_leads([LeadIn("cto@example.com", {"seniority": "executive"})])
    lead = Lead.objects.get(pk=created.lead_id)
    assert lead.fit_points > before
    assert lead.scored_at is not None
    assert not Transition.objects.filter(lead=lead).exclude(cause__in=["profile"]).exists()


def test_the_later_item_for_one_email_wins():
    results = upsert_leads(
        [LeadIn("x@example.com", {"company": "A"}), LeadIn("X@example.com", {"company": "B"})]
    )
    assert results[0].lead_id == results[1].lead_id
    assert Lead.objects.get(email="x@example.com").company == "B"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (LeadIn("a@example.com", {"shoe_size": 9}), "shoe_size: not a lead field"),
        (LeadIn("a@example.com", {"seniority": "emperor"}), "seniority:"),
        (LeadIn("not-an-email", {}), "email:"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(item, message):
    with pytest.raises(IngestError, match=message):
        upsert_leads([LeadIn("ok@example.com", {}), item])
    assert not Lead.objects.exists()
