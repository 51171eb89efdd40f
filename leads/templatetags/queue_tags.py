"""Small, cheap formatting for queue rows (the queue page renders many of them)."""

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from leads.queue import FAR_FUTURE

register = template.Library()


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


@register.simple_tag
def sla(lead, now):
    """The SLA as a countdown: 'due in 3 h', 'overdue 2 h' (red), 'contacted', or a dash."""
    if lead.first_contact_at:
        return mark_safe('<span class="lm-sla lm-sla-done">contacted</span>')
    if not lead.in_queue or lead.due_at >= FAR_FUTURE:
        return "—"
    left = (lead.due_at - now).total_seconds()
    # _span writes only digits and a unit, nothing to escape.
    if left < 0:
        return mark_safe(f'<span class="lm-sla lm-sla-overdue">overdue {_span(left)}</span>')
    return mark_safe(f'<span class="lm-sla">due in {_span(left)}</span>')


@register.simple_tag
def ago(moment, now):
    """'3 h ago' without the cost of naturaltime's localisation."""
    if moment is None:
        return "—"
    return f"{_span((now - moment).total_seconds())} ago"


# The queue's rows, written once here instead of as template markup: in a template each row cost
# about twenty variable lookups, filters and autoescapes, and at 50 rows that was most of a request
# (cProfile, docs/benchmarks.md). The markup is exactly what the template wrote; `escape` is the
# function Django's autoescaping calls (`django.utils.html.escape` wraps it), so the output is too.
_ROW = (
    '\n    <tr data-testid="queue-row">\n      {select}\n'
    '      <td><span class="lm-label lm-b-{bucket}">{label}</span></td>\n'
    '      <td><a href="{url}">{name}</a>{recycled}<br><span class="small lm-muted">{subtitle}</span></td>\n'
    '      <td class="lm-action"><span class="lm-bucket lm-b-{bucket}">{bucket_name}</span> {action}</td>\n'
    "      <td>{sla}</td>\n"
    '      <td class="small">{ago}</td>\n'
    '      <td class="small">{owner}</td>\n'
    "    </tr>\n  "
)
_SELECT = (
    '<td><input class="form-check-input" type="checkbox" name="lead" value="{pk}" '
    'aria-label="Select {name}"></td>'
)
_RECYCLED = ' <span class="lm-recycled" title="Came back to the queue {n} time(s)">recycled ×{n}</span>'
_CLAIM = '<button class="btn btn-sm btn-outline-primary" type="submit" form="claim-{pk}">Claim</button>'
_UNASSIGNED = '<span class="lm-muted">unassigned</span>'
_CLAIM_FORM = (
    '<form id="claim-{pk}" method="post" action="{url}claim/">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
    '<input type="hidden" name="next" value="{next}"></form>'
)


@register.simple_tag
def queue_rows(rows: list[dict], *, select: bool, claim: bool) -> SafeString:
    """The queue table's rows (`selectors.queue_rows`): a checkbox when `select`, Claim when `claim`."""
    parts = []
    # Most rows share a bucket (its key, name and action): escape each such string once a page.
    shared: dict[str, str] = {}

    def once(text: str) -> str:
        done = shared.get(text)
        if done is None:
            done = shared[text] = escape(text)
        return done

    for row in rows:
        name = escape(row["name"])
        owner = row["owner"]
        sla = row["sla"]
        parts.append(
            _ROW.format(
                select=_SELECT.format(pk=row["pk"], name=name) if select else "",
                bucket=once(row["bucket"]),
                label=once(row["label"]),
                url=escape(row["url"]),
                name=name,
                recycled=_RECYCLED.format(n=row["recycled"]) if row["recycled"] else "",
                subtitle=escape(row["subtitle"]),
                bucket_name=once(row["bucket_name"]),
                action=once(row["action"]),
                sla=sla if isinstance(sla, SafeString) else once(sla),
                ago=once(row["ago"]),
                owner=once(owner) if owner else _CLAIM.format(pk=row["pk"]) if claim else _UNASSIGNED,
            )
        )
    return mark_safe("".join(parts))


@register.simple_tag(takes_context=True)
def queue_claim_forms(context, rows: list[dict]) -> SafeString:
    """One small form per unassigned row, outside the assign form (forms cannot nest)."""
    token = escape(str(context.get("csrf_token", "")))
    back = escape(context["request"].get_full_path())
    return mark_safe(
        "".join(
            _CLAIM_FORM.format(pk=row["pk"], url=escape(row["url"]), token=token, next=back)
            for row in rows
            if not row["owner"]
        )
    )


@register.simple_tag
def options(choices, selected=None) -> SafeString:
    """`<option>`s for a select, written in one go: (value, label) pairs, or strings that are both.

    The one whose value equals `selected` is marked selected. The queue's filter form has a few
    dozen options, each a loop turn with a comparison and two lookups as template markup.
    """
    parts = []
    for choice in choices:
        plain = isinstance(choice, str)
        value, label = (choice, choice) if plain else (str(choice[0]), str(choice[1]))
        attrs = "" if plain else f' value="{escape(value)}"'
        mark = " selected" if value == selected else ""
        parts.append(f"<option{attrs}{mark}>{escape(label)}</option>")
    return mark_safe("".join(parts))
