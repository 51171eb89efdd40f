"""The sales queue's rules: who is in it, when the SLA clock runs, and when a lead is recycled.

`next_queue_state` is the one statement of these rules for a lead whose bucket was just scored; the
incremental rescoring calls it, and the set-based SQL in `scoring/sql.py` mirrors it (tested in
`tests/leads/test_queue_rules.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

# "No SLA clock is running": far enough away to sort after every real due time.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class QueueState:
    in_queue: bool
    closed_out: bool
    cool_off_until: datetime | None
    due_at: datetime
    queue_entered_at: datetime | None
    first_contact_at: datetime | None
    recycled_count: int


def state_of(lead) -> QueueState:
    """The queue fields of a lead row."""
    return QueueState(
        lead.in_queue,
        lead.closed_out,
        lead.cool_off_until,
        lead.due_at,
        lead.queue_entered_at,
        lead.first_contact_at,
        lead.recycled_count,
    )


def next_queue_state(
    old: QueueState,
    *,
    old_rank: int | None,
    in_queue_bucket: bool,
    rank: int,
    sla_hours: int | None,
    now: datetime,
) -> tuple[QueueState, bool]:
    """The queue state after the lead was scored into a bucket; also whether it was recycled.

    - A lead sales closed out (disqualified, nurtured, lost, won) stays out of the queue until it
      moves *up* into a queue bucket after its cool-off: then it is recycled and enters again.
    - Entering the queue starts the SLA clock (due after the bucket's SLA hours) and clears any
      earlier first contact; moving to a hotter queue bucket before first contact can only bring
      the due time closer; leaving the queue stops the clock.
    """
    recycled = (
        old.closed_out
        and in_queue_bucket
        and (old_rank is None or rank > old_rank)
        and (old.cool_off_until is None or old.cool_off_until <= now)
    )
    closed_out = old.closed_out and not recycled
    in_queue = in_queue_bucket and not closed_out
    due = now + timedelta(hours=sla_hours) if sla_hours else FAR_FUTURE
    if in_queue and not old.in_queue:
        state = replace(old, in_queue=True, queue_entered_at=now, first_contact_at=None, due_at=due)
    elif in_queue:
        state = replace(old, due_at=min(old.due_at, due) if old.first_contact_at is None else old.due_at)
    else:
        state = replace(old, in_queue=False, due_at=FAR_FUTURE)
    return replace(state, closed_out=closed_out, recycled_count=old.recycled_count + int(recycled)), recycled
