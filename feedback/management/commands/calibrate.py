"""Calibrate the active matrix on the known outcomes and print what the suggestion would change."""

from django.core.management.base import BaseCommand

from feedback.calibration import calibrate


class Command(BaseCommand):
    help = "Fit the active matrix to known outcomes; print held-out AUC and top-decile conversion."

    def handle(self, *args, **options):
        calibration = calibrate()
        if calibration.refused:
            self.stdout.write(self.style.WARNING(f"No suggestion: {calibration.refused}"))
            return
        r = calibration.result
        self.stdout.write(
            f"Calibration #{calibration.pk} of v{calibration.matrix.version}: {r['outcomes']} leads with an "
            f"outcome ({r['converted']} converted), fitted on {r['train']}, measured on {r['test']} held out."
        )
        for name in ("current", "suggested"):
            e = r[name]
            self.stdout.write(
                f"  {name:<9} matrix: ROC AUC {e['auc']}, top-decile conversion {e['top_decile']} % "
                f"(base rate {r['base_rate']} %)"
            )
        self.stdout.write(f"  logistic model itself: ROC AUC {r['model_auc']}")
        for f in r["features"]:
            if f["suggested"] != f["current"] and (f["current"] is not None or f["suggested"]):
                self.stdout.write(f"    {f['label']}: {f['current']} -> {f['suggested']}")
