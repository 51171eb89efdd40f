"""A realistic, deterministic demo data set: people per role, leads and their behaviour."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, User
from django.db import transaction

from config.roles import MARKETING, SALES_MANAGER, SALES_REP
from leads.models import Activity, Lead
from scoring.models import ActivityType

DEMO_PASSWORD = "leadmatrix-demo"
DEMO_DOMAIN_SOURCE = "demo"
DEMO_USERS = [
    # username, first, last, role (None: admin)
    ("maria", "Maria", "Marketer", MARKETING),
    ("sam", "Sam", "Salesmanager", SALES_MANAGER),
    ("riley", "Riley", "Rep", SALES_REP),
    ("robin", "Robin", "Rep", SALES_REP),
    ("admin", "Ada", "Admin", None),
]

FIRST = [
    "Alex",
    "Blair",
    "Casey",
    "Dana",
    "Eli",
    "Fran",
    "Gabe",
    "Harper",
    "Ira",
    "Jordan",
    "Kai",
    "Lee",
    "Morgan",
    "Noa",
    "Oak",
    "Parker",
    "Quinn",
    "Reese",
    "Sky",
    "Taylor",
    "Uma",
    "Val",
    "Wren",
    "Yael",
    "Zoe",
    "Amir",
    "Bea",
    "Chen",
    "Dev",
    "Esme",
    "Farah",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kira",
    "Luca",
    "Mina",
    "Nils",
    "Omar",
    "Pia",
    "Rafa",
    "Sana",
    "Teo",
    "Ugo",
    "Vera",
    "Wim",
    "Xin",
    "Yuki",
    "Zain",
]
LAST = [
    "Abbott",
    "Baker",
    "Chavez",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmer",
    "Andersen",
    "Brooks",
    "Costa",
    "Dietrich",
]
COMPANY_A = [
    "North",
    "Blue",
    "Apex",
    "Bright",
    "Clear",
    "Delta",
    "Ever",
    "Fair",
    "Green",
    "High",
    "Iron",
    "Keen",
    "Lumen",
    "Metro",
    "Nova",
    "Open",
    "Peak",
    "Quant",
    "Rapid",
    "Silver",
    "True",
    "Uni",
    "Vivid",
    "Wave",
]
COMPANY_B = [
    "Systems",
    "Labs",
    "Analytics",
    "Health",
    "Logistics",
    "Capital",
    "Works",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Bank",
    "Retail",
    "Cloud",
    "Devices",
    "Pharma",
]
INDUSTRIES = [
    "Software",
    "Financial services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Government",
    "Media",
    "Logistics",
    "Energy",
]
DEPARTMENTS = ["Engineering", "IT", "Product", "Marketing", "Sales", "Finance", "Operations", "HR"]
COUNTRIES = [
    "United States",
    "United Kingdom",
    "Germany",
    "France",
    "Netherlands",
    "Canada",
    "Sweden",
    "Spain",
    "Australia",
    "India",
]
SOURCES = ["website", "webinar", "trade show", "paid search", "partner referral", "content syndication"]
SIZES = [3, 8, 25, 60, 150, 400, 800, 2500, 8000, 30000]
SENIORITY = [("executive", 10), ("head", 15), ("manager", 25), ("staff", 40), ("student", 10)]
TITLES = {
    "executive": ["Chief {d} Officer", "VP of {d}", "SVP {d}"],
    "head": ["Head of {d}", "Director of {d}"],
    "manager": ["{d} Manager", "Senior {d} Manager"],
    "staff": ["{d} Specialist", "{d} Analyst", "{d} Engineer"],
    "student": ["Student", "Graduate student", "Intern"],
}
# Behaviour profiles: share of leads, activities over 120 days, how recent, which types.
PROFILES = [
    (
        "hot",
        6,
        (20, 40),
        (0, 21),
        [
            "web_visit",
            "web_visit",
            "pricing_visit",
            "video_view",
            "whitepaper_download",
            "email_click",
            "webinar_attended",
            "form_submit",
        ],
    ),
    (
        "warm",
        20,
        (8, 18),
        (0, 60),
        ["email_open"] * 4
        + ["web_visit"] * 3
        + [
            "email_click",
            "whitepaper_download",
            "social_engagement",
            "social_engagement",
            "newsletter_signup",
        ],
    ),
    (
        "cooling",
        20,
        (6, 16),
        (60, 120),
        ["web_visit", "whitepaper_download", "video_view", "email_open", "webinar_attended"],
    ),
    (
        "cold",
        47,
        (16, 36),
        (0, 120),
        ["email_open", "email_open", "email_open", "web_visit", "social_engagement"],
    ),
    ("unsubscribed", 5, (8, 20), (10, 120), ["email_open", "web_visit", "email_click"]),
    ("bounced", 2, (2, 6), (30, 120), ["email_open"]),
]


@dataclass
class DemoResult:
    users: list[tuple[str, str]]
    leads_created: int
    activities_created: int


def ensure_users() -> list[tuple[str, str]]:
    """Create or reset the demo people, one per role plus an admin."""
    people = []
    for username, first, last, role in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username)
        user.first_name, user.last_name, user.email = first, last, f"{username}@example.com"
        user.is_staff = user.is_superuser = role is None
        user.set_password(DEMO_PASSWORD)
        user.save()
        if role:
            user.groups.set([Group.objects.get(name=role)])
        people.append((username, role or "Admin"))
    return people


def build_leads(*, count: int, now: datetime, seed: int = 2026) -> tuple[int, int]:
    """Create `count` demo leads with believable behaviour; leads that exist already are kept."""
    rng = random.Random(seed)
    types = dict(ActivityType.objects.values_list("key", "id"))
    existing = set(
        Lead.objects.filter(source__in=SOURCES, email__endswith=".example").values_list("email", flat=True)
    )
    leads, plans = [], []
    for n in range(count):
        lead, plan = _lead(rng, n, now)
        if lead.email not in existing:
            leads.append(lead)
            plans.append(plan)
    with transaction.atomic():
        Lead.objects.bulk_create(leads, batch_size=1000)
        by_email = dict(
            Lead.objects.filter(email__in=[lead.email for lead in leads]).values_list("email", "id")
        )
        activities = []
        for lead, plan in zip(leads, plans, strict=True):
            lead_id = by_email[lead.email]
            for n, (key, at) in enumerate(plan):
                activities.append(
                    Activity(
                        lead_id=lead_id,
                        activity_type_id=types[key],
                        occurred_at=at,
                        source=DEMO_DOMAIN_SOURCE,
                        source_event_id=f"{lead.email}#{n}",
                    )
                )
        Activity.objects.bulk_create(activities, batch_size=2000)
        for lead in leads:
            lead.id = by_email[lead.email]
        last = {}
        for a in activities:
            if a.lead_id not in last or a.occurred_at > last[a.lead_id]:
                last[a.lead_id] = a.occurred_at
        for lead in leads:
            lead.last_activity_at = last.get(lead.id)
        Lead.objects.bulk_update(leads, ["last_activity_at"], batch_size=1000)
    return len(leads), len(activities)


def _lead(rng: random.Random, n: int, now: datetime) -> tuple[Lead, list[tuple[str, datetime]]]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
    seniority = rng.choices([s for s, _ in SENIORITY], weights=[w for _, w in SENIORITY])[0]
    department = rng.choice(DEPARTMENTS)
    size = rng.choice(SIZES)
    domain = company.lower().replace(" ", "") + ".example"
    lead = Lead(
        email=f"{first}.{last}.{n}@{domain}".lower(),
        first_name=first,
        last_name=last,
        company=company,
        title=rng.choice(TITLES[seniority]).format(d=department),
        seniority=seniority,
        department="" if seniority == "student" else department,
        industry=rng.choice(INDUSTRIES),
        company_size=None if rng.random() < 0.05 else size,
        revenue_potential=None if rng.random() < 0.1 else int(size * rng.uniform(40, 160)) // 100 * 100,
        country=rng.choice(COUNTRIES),
        source=rng.choice(SOURCES),
        attributes={"campaign": rng.choice(["spring-webinar", "q3-ebook", "ppc-brand", "partner-day"])},
    )
    name, _, (low, high), (newest, oldest), kinds = rng.choices(PROFILES, weights=[p[1] for p in PROFILES])[0]
    plan = []
    for _ in range(rng.randint(low, high)):
        days_ago = rng.uniform(newest, oldest)
        plan.append((rng.choice(kinds), now - timedelta(days=days_ago, minutes=rng.randint(0, 600))))
    if name == "hot" and rng.random() < 0.35:
        plan.append(("demo_request", now - timedelta(days=rng.uniform(0, 10))))
    if name == "unsubscribed":
        plan.append(("unsubscribe", now - timedelta(days=rng.uniform(0, 10))))
    if name == "bounced":
        plan.append(("email_bounce", now - timedelta(days=rng.uniform(0, 30))))
    lead.created_at = min((at for _, at in plan), default=now)
    return lead, plan


def simulate_sales(*, now: datetime, seed: int = 7) -> int:
    """Give the demo queue a believable past: entry times, owners, and logged outcomes.

    Queue leads entered over the last four days (so some SLAs run out, some are overdue), most are
    owned by the demo reps, and some have outcomes, logged through the same service reps use.
    Returns how many outcomes were logged; leads that already have outcomes are left alone.
    """
    from feedback.dispositions import record_disposition
    from feedback.models import Disposition, Reason
    from leads.models import Transition
    from scoring.models import Bucket, ScoringMatrix

    rng = random.Random(seed)
    sla = dict(Bucket.objects.filter(matrix=ScoringMatrix.objects.active()).values_list("key", "sla_hours"))
    team = list(User.objects.filter(username__in=["riley", "robin"]).order_by("username"))
    if not team:
        return 0
    reasons = list(Reason.objects.filter(active=True))
    done = set(Disposition.objects.values_list("lead_id", flat=True))
    leads = [lead for lead in Lead.objects.in_queue().order_by("pk") if lead.pk not in done]
    logged = 0
    for lead in leads:
        hours = sla.get(lead.bucket) or 48
        entered = now - timedelta(hours=rng.uniform(0, hours * 1.6))
        owner = team[lead.pk % len(team)] if rng.random() < 0.7 else None
        Lead.objects.filter(pk=lead.pk).update(
            queue_entered_at=entered, due_at=entered + timedelta(hours=hours), owner=owner
        )
        Transition.objects.filter(lead=lead).update(at=entered)
        if owner is None or rng.random() < 0.55:
            continue
        contact_at = entered + timedelta(hours=hours * rng.uniform(0.2, 1.4))
        if contact_at >= now:
            continue
        roll = rng.random()
        outcome, reason, amount = "connected", None, None
        if roll < 0.3:
            outcome, reason = "disqualified", rng.choice(reasons)
        elif roll < 0.45:
            outcome, reason = "nurture", rng.choice(reasons)
        elif roll < 0.6:
            outcome = "meeting"
        elif roll < 0.72:
            outcome, amount = "opportunity", rng.choice([12000, 25000, 40000, 90000])
        elif roll < 0.78:
            outcome, amount = "won", rng.choice([15000, 30000, 60000])
        if outcome != "connected":
            record_disposition(lead_id=lead.pk, by=owner, outcome="connected", expected_owner_id=owner.pk,
                               now=contact_at)  # fmt: skip
            logged += 1
        record_disposition(lead_id=lead.pk, by=owner, outcome=outcome, expected_owner_id=owner.pk, reason=reason,
                           amount=amount, note="Demo outcome.", now=contact_at + timedelta(minutes=30))  # fmt: skip
        logged += 1
    return logged
