"""Build the demo: one person per role and about 2,000 scored leads with 120 days of activity."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from leads.demo import DEMO_PASSWORD, build_leads, ensure_users, simulate_sales
from scoring.rescore import rescore_all


class Command(BaseCommand):
    help = "Create demo users and realistic demo leads (safe to re-run; refuses to run with DEBUG off)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=2000, help="How many leads (default 2000).")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="Where the demo will be served, for the sign-in hint.",
        )

    def handle(self, *args, leads: int, url: str, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo writes demo people with a known password; it refuses to run with DEBUG off."
            )
        if leads < 0:
            raise CommandError("--leads must be 0 or more.")
        people = ensure_users()
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        created, activities = build_leads(count=leads, now=now)
        report = rescore_all(cause="activity", now=now)
        outcomes = simulate_sales(now=now)
        # Four weeks of daily snapshots, so the reports show figures over time from the start.
        from feedback.snapshots import backfill_snapshots

        backfill_snapshots(days=28, now=now)
        self.stdout.write(
            f"Demo data: {created} new leads and {activities} activities; {report.leads} leads scored "
            f"({report.transitions} bucket changes) in {report.seconds:.1f} s; {outcomes} sales outcomes logged."
        )
        self.stdout.write(
            self.style.SUCCESS(f"Sign in at {url} with any of these (password for all: {DEMO_PASSWORD}):")
        )
        for username, role in people:
            self.stdout.write(f"  {username:<8} {role}")
