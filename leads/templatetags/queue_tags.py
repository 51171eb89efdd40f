"""Small, cheap formatting for queue rows (the queue page renders many of them)."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

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
    if left < 0:
        return format_html('<span class="lm-sla lm-sla-overdue">overdue {}</span>', _span(left))
    return format_html('<span class="lm-sla">due in {}</span>', _span(left))


@register.simple_tag
def ago(moment, now):
    """'3 h ago' without the cost of naturaltime's localisation."""
    if moment is None:
        return "—"
    return f"{_span((now - moment).total_seconds())} ago"
