"""A public-style lead-scoring data set, and loading it the way an import would.

The columns follow the well-known public lead-scoring data sets (an education company's leads: where
the lead came from, occupation, country, visits, time on the website, pages per visit, last activity,
converted 0/1). The rows are generated with a fixed seed; whether a lead converted depends on the
columns through a logistic model plus noise, so a calibration has something real to find.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import transaction

COLUMNS = [
    "prospect_id",
    "email",
    "lead_origin",
    "lead_source",
    "occupation",
    "country",
    "total_visits",
    "time_on_website_seconds",
    "page_views_per_visit",
    "last_activity",
    "last_activity_days_ago",
    "last_activity_date",
    "converted",
]
# value, share, effect on the log-odds of converting
ORIGINS = [
    ("Landing Page Submission", 50, 0.2),
    ("API", 38, -0.2),
    ("Lead Add Form", 8, 2.2),
    ("Lead Import", 4, -0.8),
]
SOURCES = [
    ("Google", 31, 0.1),
    ("Direct Traffic", 28, -0.2),
    ("Olark Chat", 19, -0.6),
    ("Organic Search", 12, 0.0),
    ("Reference", 6, 1.6),
    ("Welingak Website", 2, 2.0),
    ("Referral Sites", 2, -0.3),
]
OCCUPATIONS = [
    ("Unemployed", 58, -0.3),
    ("Working Professional", 12, 2.4),
    ("Student", 6, -0.6),
    ("Other", 4, 0.3),
    ("Businessman", 2, 0.8),
    ("", 18, -0.9),
]
COUNTRIES = [("India", 90, 0.0), ("United States", 3, 0.2), ("United Arab Emirates", 3, 0.1), ("United Kingdom", 2, 0.2), ("Singapore", 2, 0.0)]  # fmt: skip
LAST_ACTIVITIES = [
    ("Email Opened", 37, 0.2),
    ("SMS Sent", 30, 1.3),
    ("Olark Chat Conversation", 11, -1.2),
    ("Page Visited on Website", 7, -0.4),
    ("Converted to Lead", 5, -1.1),
    ("Email Bounced", 4, -1.4),
    ("Email Link Clicked", 3, -0.3),
    ("Form Submitted on Website", 2, 0.0),
    ("Unsubscribed", 1, -0.8),
]
# How a last activity is recorded in Leadmatrix's activity catalogue.
LAST_ACTIVITY_TYPES = {
    "Email Opened": "email_open",
    "SMS Sent": "email_click",
    "Olark Chat Conversation": "form_submit",
    "Page Visited on Website": "web_visit",
    "Converted to Lead": "form_submit",
    "Email Bounced": "email_bounce",
    "Email Link Clicked": "email_click",
    "Form Submitted on Website": "form_submit",
    "Unsubscribed": "unsubscribe",
}
DATASET_SOURCE = "public-style-dataset"
# The day the export was taken: `last_activity_date` counts back from it, so the file stays the same
# whatever day it is generated (and its dates are never in the future for an import).
EXPORTED_ON = date(2026, 11, 1)


def _pick(rng: random.Random, options):
    value, _, effect = rng.choices(options, weights=[o[1] for o in options])[0]
    return value, effect


def generate_rows(*, count: int = 4000, seed: int = 2026) -> list[dict]:
    """The data set as rows of text, deterministic for a seed."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        origin, e_origin = _pick(rng, ORIGINS)
        source, e_source = _pick(rng, SOURCES)
        occupation, e_occupation = _pick(rng, OCCUPATIONS)
        country, e_country = _pick(rng, COUNTRIES)
        last, e_last = _pick(rng, LAST_ACTIVITIES)
        visits = (
            0 if origin == "Lead Add Form" and rng.random() < 0.7 else min(40, int(rng.expovariate(1 / 3.5)))
        )
        seconds = 0 if visits == 0 else int(rng.lognormvariate(5.6, 1.0))
        seconds = min(seconds, 2300)
        per_visit = 0.0 if visits == 0 else round(min(12.0, rng.uniform(1, 3) + visits * 0.05), 2)
        days_ago = int(rng.expovariate(1 / 12))
        logit = (
            -1.55
            + e_origin
            + e_source
            + e_occupation
            + e_country
            + e_last
            + 0.0021 * seconds
            + 0.04 * min(visits, 15)
            - 0.02 * days_ago
            + rng.gauss(0, 0.9)  # what the columns do not tell
        )
        converted = rng.random() < 1 / (1 + math.exp(-logit))
        rows.append(
            {
                "prospect_id": f"P{n + 1:05d}",
                "email": f"p{n + 1:05d}@dataset.example",
                "lead_origin": origin,
                "lead_source": source,
                "occupation": occupation,
                "country": country,
                "total_visits": str(visits),
                "time_on_website_seconds": str(seconds),
                "page_views_per_visit": f"{per_visit:.2f}",
                "last_activity": last,
                "last_activity_days_ago": str(days_ago),
                "last_activity_date": (EXPORTED_ON - timedelta(days=days_ago)).isoformat(),
                "converted": "1" if converted else "0",
            }
        )
    return rows


def write_csv(path: Path, rows: Iterable[dict]) -> None:
    """Write the rows with a header line."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    """The rows of a data set file; a file without the expected columns is refused by name."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = set(COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"The file lacks the column(s): {', '.join(sorted(missing))}.")
        return list(reader)


def time_band(seconds: int) -> str:
    """Time on the website as a text band a criterion can test."""
    if seconds == 0:
        return "none"
    if seconds < 300:
        return "under 5 min"
    if seconds < 900:
        return "5-15 min"
    return "15 min or more"


@dataclass
class Loaded:
    leads: int
    activities: int
    outcomes: int


def load_rows(rows: list[dict], *, now: datetime, batch: int = 500) -> Loaded:
    """Upsert leads, record their activities and their outcomes, as the CSV import does.

    Profile columns become lead fields (source, country) and attributes (origin, occupation, time band,
    last activity); visits become `web_visit` activities spread before the last activity, the last
    activity one activity of its type; `converted` becomes an imported opportunity (1) or loss (0).
    """
    from feedback.models import Disposition
    from leads.ingest import record_activities, upsert_leads
    from leads.models import Lead

    activities = outcomes = 0
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        upsert_leads([_lead_in(row) for row in chunk], now=now)
        items = [item for row in chunk for item in _activities(row, now)]
        if items:
            activities += sum(r.created for r in record_activities(items, now=now))
        ids = dict(Lead.objects.filter(email__in=[_email(r) for r in chunk]).values_list("email", "id"))
        with transaction.atomic():
            have = set(Disposition.objects.filter(lead_id__in=ids.values(), imported=True).values_list("lead_id", flat=True))  # fmt: skip
            new = [
                Disposition(
                    lead_id=ids[_email(row)],
                    outcome=Disposition.Outcome.OPPORTUNITY
                    if row["converted"] == "1"
                    else Disposition.Outcome.LOST,
                    amount=Decimal(5000) if row["converted"] == "1" else None,
                    note="Imported outcome (public-style data set).",
                    at=now,
                    imported=True,
                )
                for row in chunk
                if ids[_email(row)] not in have
            ]
            Disposition.objects.bulk_create(new)
            outcomes += len(new)
    return Loaded(leads=len(rows), activities=activities, outcomes=outcomes)


def _email(row: dict) -> str:
    return f"{row['prospect_id'].lower()}@dataset.example"


def _lead_in(row: dict):
    from leads.ingest import LeadIn

    return LeadIn(
        email=_email(row),
        profile={"source": row["lead_source"], "country": row["country"]},
        attributes={
            "lead_origin": row["lead_origin"],
            "occupation": row["occupation"],
            "time_on_site": time_band(int(row["time_on_website_seconds"] or 0)),
            "last_activity": row["last_activity"],
        },
    )


def _activities(row: dict, now: datetime) -> list:
    from leads.ingest import ActivityIn

    email = _email(row)
    last = now - timedelta(days=int(row["last_activity_days_ago"] or 0))
    items = [
        ActivityIn(
            email,
            "web_visit",
            last - timedelta(days=2 * n),
            DATASET_SOURCE,
            f"{row['prospect_id']}-visit-{n}",
        )
        for n in range(int(row["total_visits"] or 0))
    ]
    kind = LAST_ACTIVITY_TYPES.get(row["last_activity"])
    if kind:
        items.append(ActivityIn(email, kind, last, DATASET_SOURCE, f"{row['prospect_id']}-last"))
    return items
