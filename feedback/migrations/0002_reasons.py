"""The starting list of reasons sales can give for disqualifying or nurturing a lead."""

from django.db import migrations

REASONS = [
    ("no-budget", "No budget"),
    ("no-authority", "No authority"),
    ("no-need", "No need"),
    ("bad-timing", "Bad timing"),
    ("competitor", "Went with a competitor"),
    ("student", "Student or job seeker"),
    ("bad-data", "Bad data"),
    ("duplicate", "Duplicate"),
    ("unresponsive", "Unresponsive"),
]


def create_reasons(apps, schema_editor):
    Reason = apps.get_model("feedback", "Reason")
    for position, (code, label) in enumerate(REASONS):
        Reason.objects.get_or_create(code=code, defaults={"label": label, "position": position})


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_initial")]
    operations = [migrations.RunPython(create_reasons, migrations.RunPython.noop)]
