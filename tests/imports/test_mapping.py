"""Matching columns to fields and turning rows into what the import services take."""

from datetime import UTC, datetime

import pytest

from leads.imports.mapping import (
    ATTRIBUTE,
    SKIP,
    Lookups,
    RowError,
    attribute_key,
    convert_row,
    guess_options,
    mapping_problems,
    suggest_mapping,
)
from leads.imports.reading import Row

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def row(**values):
    return Row(number=2, cells=list(values.values()), values=values)


def test_headers_are_matched_to_fields_by_their_usual_names():
    headers = [
        "E-Mail Address",
        "Given name",
        "Surname",
        "Organisation",
        "No. of employees",
        "Webinar visits",
    ]
    mapping, saved = suggest_mapping(kind="leads", headers=headers)
    assert saved is None
    assert mapping == {
        "E-Mail Address": "email",
        "Given name": "first_name",
        "Surname": "last_name",
        "Organisation": "company",
        "No. of employees": "company_size",
        "Webinar visits": ATTRIBUTE,
    }


def test_one_field_is_matched_once_and_outcome_files_skip_what_does_not_fit():
    mapping, _ = suggest_mapping(kind="outcomes", headers=["Email", "Mail", "Converted", "Last activity"])
    assert mapping == {"Email": "email", "Mail": SKIP, "Converted": "outcome", "Last activity": SKIP}
    assert mapping_problems(kind="outcomes", mapping=mapping) == ["Choose the column that holds the date."]


def test_a_converted_flag_in_a_lead_file_is_skipped_not_kept_as_an_attribute():
    headers = ["email", "occupation", "total_visits", "converted"]
    mapping, _ = suggest_mapping(kind="leads", headers=headers)
    assert mapping == {
        "email": "email",
        "occupation": ATTRIBUTE,
        "total_visits": ATTRIBUTE,
        "converted": SKIP,
    }
    # The same column in an outcome file is the outcome.
    assert suggest_mapping(kind="outcomes", headers=headers)[0]["converted"] == "outcome"


def test_attribute_keys_are_short_names_a_criterion_can_use():
    assert attribute_key("Time on site (min)") == "time_on_site_min"
    assert attribute_key("  Lead-Score ") == "lead_score"


def test_kept_columns_hold_plain_numbers_and_iso_dates():
    item = convert_row(
        kind="leads",
        row=row(
            Email="a@example.org",
            Visits="1,234",
            Time="3,5",
            Last="05/03/2024",
            At="5 Mar 2024 14:30",
            Zip="01234",
            Plan="Pro",
        ),
        mapping={
            "Email": "email",
            "Visits": ATTRIBUTE,
            "Time": ATTRIBUTE,
            "Last": ATTRIBUTE,
            "At": ATTRIBUTE,
            "Zip": ATTRIBUTE,
            "Plan": ATTRIBUTE,
        },
        options={"day_first": True},
        lookups=Lookups(),
        now=NOW,
    )
    assert item.attributes == {
        "visits": "1234",
        "time": "3.5",
        "last": "2024-03-05",
        "at": "2024-03-05T14:30:00+00:00",
        "zip": "01234",
        "plan": "Pro",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"Email": "", "Size": "5"}, "email: missing"),
        ({"Email": "ann@", "Size": "5"}, "is not an email address"),
        ({"Email": "a@example.org", "Size": "many"}, "company size: “many” is not a number"),
        ({"Email": "a@example.org", "Size": "-5"}, "out of range"),
    ],
)
def test_rows_that_cannot_be_leads_say_why(values, message):
    with pytest.raises(RowError, match=message):
        convert_row(
            kind="leads",
            row=row(**values),
            mapping={"Email": "email", "Size": "company_size"},
            options={},
            lookups=Lookups(),
            now=NOW,
        )


def test_the_email_is_tidied():
    item = convert_row(
        kind="leads",
        row=row(Email="mailto:Ann@Example.ORG"),
        mapping={"Email": "email"},
        options={},
        lookups=Lookups(),
        now=NOW,
    )
    assert item.email == "ann@example.org"


def test_an_activity_row_without_an_event_id_gets_one_from_its_content():
    lookups = Lookups.load("activities")
    mapping = {"Email": "email", "Type": "activity_type", "When": "occurred_at", "Page": ATTRIBUTE}

    def convert(**values):
        return convert_row(
            kind="activities", row=row(**values), mapping=mapping, options={}, lookups=lookups, now=NOW
        )

    first = convert(Email="a@example.org", Type="Website visit", When="2025-05-01 10:00", Page="/pricing")
    same = convert(Email="A@example.org", Type="web_visit", When="01/05/2025 10:00", Page="/pricing")
    other = convert(Email="a@example.org", Type="Website visit", When="2025-05-01 10:00", Page="/blog")
    assert first.source_event_id == same.source_event_id != other.source_event_id
    assert first.source == "csv-import" and first.activity_type == "web_visit"


def test_the_date_order_is_guessed_from_the_date_column():
    samples = [row(Email="a@example.org", When="03/25/2025")]
    mapping = {"Email": "email", "When": "occurred_at"}
    assert guess_options(kind="activities", mapping=mapping, samples=samples) == {"day_first": False}
