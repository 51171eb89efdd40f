"""Check the audit chain from its first entry; exit 1 naming the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from config.audit.chain import verify_chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and name the first broken link."

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            default="",
            help="A head hash noted earlier (e.g. in a backup log): fail unless the chain still contains it.",
        )

    def handle(self, *args, expect_head: str = "", **options):
        from config.audit.models import AuditEntry

        report = verify_chain()
        if not report.intact:
            entry = report.broken
            raise CommandError(
                f"Audit chain broken at entry #{entry.seq} (id {entry.pk}, {entry.at:%Y-%m-%d %H:%M:%S} UTC, "
                f"{entry.action} {entry.object_repr!r}): {report.problem}. "
                f"The {report.checked} entries before it are intact."
            )
        if expect_head and not AuditEntry.objects.filter(hash=expect_head).exists():
            raise CommandError(
                f"The chain is intact but does not contain {expect_head}: entries written after that "
                "point may have been cut off the end."
            )
        self.stdout.write(f"Audit chain intact: {report.checked} entries, head {report.head}.")
