"""Claiming, assigning and sharing out leads."""

import pytest

from leads.assignment import AssignmentError, assign_leads, claim_lead, round_robin
from leads.models import Lead
from tests.factories import make_queue_lead

pytestmark = pytest.mark.django_db


def test_a_rep_claims_an_unassigned_lead(rep):
    lead = make_queue_lead()
    assert claim_lead(lead_id=lead.pk, by=rep).owner == rep


def test_when_two_reps_claim_the_same_lead_the_second_is_told_who_won(rep, rep2):
    lead = make_queue_lead()
    claim_lead(lead_id=lead.pk, by=rep)
    with pytest.raises(AssignmentError, match="riley claimed this lead a moment before you"):
        claim_lead(lead_id=lead.pk, by=rep2)
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_a_manager_assigns_and_reassigns_many_leads(manager, rep, rep2):
    leads = [make_queue_lead(owner=rep) for _ in range(3)]
    assert assign_leads(lead_ids=[lead.pk for lead in leads], owner=rep2, by=manager) == 3
    assert set(Lead.objects.values_list("owner", flat=True)) == {rep2.pk}
    assert assign_leads(lead_ids=[leads[0].pk], owner=None, by=manager) == 1


def test_leads_can_only_go_to_a_sales_rep(manager, marketer):
    lead = make_queue_lead()
    with pytest.raises(AssignmentError, match="active sales rep"):
        assign_leads(lead_ids=[lead.pk], owner=marketer, by=manager)


def test_round_robin_shares_a_buckets_unassigned_leads_best_first(manager, rep, rep2):
    for _ in range(5):
        make_queue_lead()
    counts = round_robin(bucket="mql", by=manager)
    assert counts == {"riley": 3, "robin": 2}
    assert not Lead.objects.in_queue().filter(owner__isnull=True).exists()
