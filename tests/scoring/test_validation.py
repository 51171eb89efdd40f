"""A matrix that cannot score leads is refused, with a message that names the problem."""

import pytest
from django.core.exceptions import ValidationError

from scoring.matrices import matrix_problems
from scoring.models import ActivityType, ActivityWeight, FitCriterion, RoutingCell, ScoreBand, ScoringMatrix

pytestmark = pytest.mark.django_db


@pytest.fixture
def active():
    return ScoringMatrix.objects.active()


def test_the_default_matrix_has_no_problems(active):
    assert matrix_problems(active) == []


@pytest.mark.parametrize(
    ("field", "operator", "value", "value_to", "where", "message"),
    [
        ("shoe_size", "equals", "42", "", "field", "“shoe_size” is not a lead field"),
        ("company_size", "at_least", "lots", "", "value", "“lots” is not a number."),
        ("company_size", "contains", "5", "", "operator", "Company size (employees) is a number field"),
        ("industry", "at_least", "5", "", "operator", "Industry is a text field"),
        (
            "company_size",
            "between",
            "500",
            "100",
            "value_to",
            "The upper end must not be below the lower end.",
        ),
        ("company_size", "between", "100", "", "value_to", "Enter the upper end."),
        ("industry", "equals", "  ", "", "value", "Enter a value to compare with."),
        ("industry", "one_of", ", ,", "", "value", "Enter at least one value"),
        ('attributes.bad"key', "equals", "x", "", "field", "is not a lead field"),
    ],
)
def test_a_bad_criterion_is_refused_naming_the_field(
    active, field, operator, value, value_to, where, message
):
    criterion = FitCriterion(
        matrix=active, field=field, operator=operator, value=value, value_to=value_to, points=5
    )
    with pytest.raises(ValidationError) as caught:
        criterion.full_clean()
    assert message in " ".join(caught.value.message_dict[where])


def test_criteria_on_imported_attributes_are_accepted(active):
    FitCriterion(
        matrix=active, field="attributes.budget", operator="equals", value="yes", points=5
    ).full_clean()


def test_a_negative_half_life_is_refused(active):
    weight = ActivityWeight(
        matrix=active, activity_type=ActivityType.objects.first(), points=5, half_life_days=-3
    )
    with pytest.raises(ValidationError, match="more than 0 days"):
        weight.full_clean()


def test_grade_cutoffs_must_fall_from_a_to_c(active):
    active.grade_b_min = active.grade_a_min + 1
    with pytest.raises(ValidationError, match="Grade cutoffs must fall"):
        active.full_clean()


def test_overlapping_bands_are_named(active):
    ScoreBand.objects.filter(matrix=active, key="warm").update(high=45)
    assert "Score bands 6–45 and 40–79 overlap." in matrix_problems(active)


def test_a_gap_between_bands_is_named(active):
    ScoreBand.objects.filter(matrix=active, key="warm").update(high=30)
    assert "Scores 31–39 fall between bands 6–30 and 40–79." in matrix_problems(active)


def test_bands_must_start_at_zero_and_stay_open_at_the_top(active):
    ScoreBand.objects.filter(matrix=active, key="cold").update(low=1)
    ScoreBand.objects.filter(matrix=active, key="hot").update(high=200)
    problems = matrix_problems(active)
    assert "Score bands must start at 0; the lowest starts at 1." in problems
    assert "The top score band must be open-ended (it stops at 200)." in problems


def test_a_grid_cell_without_a_bucket_is_named(active):
    RoutingCell.objects.filter(matrix=active, grade="B", band__key="hot").delete()
    assert "The grid cell B × 80+ has no bucket." in matrix_problems(active)
