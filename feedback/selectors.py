"""Reads of outcomes that other parts (backtest, calibration, reports) share."""

from feedback.models import Disposition


def known_outcomes() -> dict[int, bool]:
    """Lead id → converted, for every lead with a decisive outcome.

    A lead counts as converted if it ever reached opportunity or won; otherwise as not converted if
    it was lost or disqualified. Leads with only attempts, calls or meetings have no known outcome.
    """
    decisive = Disposition.CONVERTED | Disposition.NOT_CONVERTED
    rows = (
        Disposition.objects.filter(outcome__in=decisive)
        .values_list("lead_id", "outcome")
        .distinct()
        .order_by()
    )
    converted: dict[int, bool] = {}
    for lead_id, outcome in rows:
        converted[lead_id] = converted.get(lead_id, False) or outcome in Disposition.CONVERTED
    return converted
