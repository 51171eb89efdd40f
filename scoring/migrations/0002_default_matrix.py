"""The activity catalogue and a first active matrix built from common practice.

The data lives in this file on purpose: a migration must keep doing what it did when it first ran.
"""

from django.db import migrations

ACTIVITY_TYPES = [
    # key, name, points, half-life days, cap, floor, ceiling, override days
    ("web_visit", "Website visit", 5, 14, 30, None, None, None),
    ("pricing_visit", "Pricing page visit", 10, 14, 30, None, None, None),
    ("whitepaper_download", "Whitepaper download", 15, 30, 45, None, None, None),
    ("video_view", "Product video view", 30, 30, 60, None, None, None),
    ("webinar_attended", "Webinar attended", 25, 45, 50, None, None, None),
    ("email_open", "Email open", 1, 14, 10, None, None, None),
    ("email_click", "Email click", 3, 14, 15, None, None, None),
    ("newsletter_signup", "Newsletter signup", 10, 90, 10, None, None, None),
    ("form_submit", "Form submit", 20, 30, 40, None, None, None),
    ("social_engagement", "Social like or share", 2, 14, 10, None, None, None),
    ("demo_request", "Demo request", 50, 30, 50, "mql", None, 30),
    ("unsubscribe", "Unsubscribe", -50, None, 50, None, "nurture", None),
    ("email_bounce", "Email bounce", -20, None, 20, None, None, None),
]

BUCKETS = [
    # rank, key, name, action, SLA hours, priority, in queue
    (0, "dead", "Dead", "No follow-up. Kept for re-engagement campaigns only.", None, 100, False),
    (
        1,
        "nurture",
        "Nurture",
        "Marketing nurture track: newsletter and a content offer each month.",
        None,
        90,
        False,
    ),
    (
        2,
        "lead",
        "Lead",
        "Marketing warms up with content for the persona; sales does not call yet.",
        None,
        80,
        False,
    ),
    (
        3,
        "mql",
        "MQL",
        "A rep reviews and calls within 2 days; qualify budget, authority, need and timing.",
        48,
        2,
        True,
    ),
    (
        4,
        "sales_ready",
        "Sales-ready",
        "Call today: a rep phones within 4 hours and books a meeting.",
        4,
        1,
        True,
    ),
]

BANDS = [("cold", 0, 5), ("warm", 6, 39), ("engaged", 40, 79), ("hot", 80, None)]

GRID = {
    "A": ["dead", "lead", "mql", "sales_ready"],
    "B": ["dead", "nurture", "mql", "sales_ready"],
    "C": ["dead", "nurture", "lead", "mql"],
    "D": ["dead", "dead", "nurture", "nurture"],
}

CRITERIA = [
    # label, field, operator, value, value_to, points
    ("Executive (C-level, VP)", "seniority", "equals", "executive", "", 40),
    ("Head of department", "seniority", "equals", "head", "", 25),
    ("Manager", "seniority", "equals", "manager", "", 15),
    ("Staff", "seniority", "equals", "staff", "", 5),
    ("Student", "seniority", "equals", "student", "", -40),
    (
        "Target industry",
        "industry",
        "one_of",
        "Software, Financial services, Healthcare, Manufacturing",
        "",
        15,
    ),
    ("Enterprise (1,000+ employees)", "company_size", "at_least", "1000", "", 15),
    ("Mid-market (200–999 employees)", "company_size", "between", "200", "999", 10),
    ("Micro business (10 or fewer)", "company_size", "at_most", "10", "", -10),
    ("Revenue potential 100k+", "revenue_potential", "at_least", "100000", "", 10),
]

PERSONAS = [
    (
        "technical",
        "Technical buyer",
        [("department", "one_of", "Engineering, IT, Product")],
        {"video_view": 2.0, "whitepaper_download": 1.5},
    ),
]


def create_default_matrix(apps, schema_editor):
    ActivityType = apps.get_model("scoring", "ActivityType")
    ScoringMatrix = apps.get_model("scoring", "ScoringMatrix")
    Bucket = apps.get_model("scoring", "Bucket")
    ScoreBand = apps.get_model("scoring", "ScoreBand")
    RoutingCell = apps.get_model("scoring", "RoutingCell")
    FitCriterion = apps.get_model("scoring", "FitCriterion")
    ActivityWeight = apps.get_model("scoring", "ActivityWeight")
    Persona = apps.get_model("scoring", "Persona")
    PersonaRule = apps.get_model("scoring", "PersonaRule")
    PersonaWeight = apps.get_model("scoring", "PersonaWeight")
    from django.utils import timezone

    matrix = ScoringMatrix.objects.create(
        version=1,
        name="Starting matrix",
        status="active",
        notes="Built from common practice; tune it with evidence from outcomes.",
        grade_a_min=40,
        grade_b_min=20,
        grade_c_min=0,
        breadth_measure="types",
        breadth_window_days=30,
        breadth_points=2,
        breadth_cap=10,
        published_at=timezone.now(),
    )
    buckets = {
        key: Bucket.objects.create(
            matrix=matrix,
            rank=rank,
            key=key,
            name=name,
            action=action,
            sla_hours=sla,
            priority=priority,
            in_queue=queue,
        )
        for rank, key, name, action, sla, priority, queue in BUCKETS
    }
    bands = [ScoreBand.objects.create(matrix=matrix, key=key, low=low, high=high) for key, low, high in BANDS]
    for grade, row in GRID.items():
        for band, bucket in zip(bands, row, strict=True):
            RoutingCell.objects.create(matrix=matrix, grade=grade, band=band, bucket=buckets[bucket])
    for position, (label, field, operator, value, value_to, points) in enumerate(CRITERIA):
        FitCriterion.objects.create(
            matrix=matrix,
            position=position,
            label=label,
            field=field,
            operator=operator,
            value=value,
            value_to=value_to,
            points=points,
        )
    weights = {}
    for key, name, points, half_life, cap, floor, ceiling, days in ACTIVITY_TYPES:
        activity_type = ActivityType.objects.create(key=key, name=name)
        weights[key] = ActivityWeight.objects.create(
            matrix=matrix,
            activity_type=activity_type,
            points=points,
            half_life_days=half_life,
            cap=cap,
            floor_bucket=buckets.get(floor),
            ceiling_bucket=buckets.get(ceiling),
            override_days=days,
        )
    for position, (key, name, rules, multipliers) in enumerate(PERSONAS):
        persona = Persona.objects.create(matrix=matrix, key=key, name=name, position=position)
        for field, operator, value in rules:
            PersonaRule.objects.create(persona=persona, field=field, operator=operator, value=value)
        for activity_key, multiplier in multipliers.items():
            PersonaWeight.objects.create(weight=weights[activity_key], persona=persona, multiplier=multiplier)


def remove_default_matrix(apps, schema_editor):
    apps.get_model("scoring", "ScoringMatrix").objects.filter(version=1).delete()
    apps.get_model("scoring", "ActivityType").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]
    operations = [migrations.RunPython(create_default_matrix, remove_default_matrix)]
