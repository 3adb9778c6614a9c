from django import template
from django.db.models import Count
from django.utils.formats import number_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from itsm.form_renderer import fields_html
from itsm.lib.prepared import Prepared
from itsm.models import Notification

register = template.Library()


# The bell's count on every page, its SQL written once per process (itsm/lib/prepared.py).
_unread_counts = Prepared(
    lambda recipients: (
        Notification.objects.filter(recipient__any_of=recipients)
        .unread()
        .order_by()
        .values("recipient")
        .annotate(unread=Count("pk"))
        .values_list("unread")
    )
)


@register.simple_tag(takes_context=True)
def unread_notification_count(context: template.Context) -> int:
    user = context["request"].user
    if not user.is_authenticated:
        return 0
    counted = _unread_counts(recipients=[user.pk])
    return counted[0][0] if counted else 0


# --- KPI figures (dashboard, agent home) ---------------------------------------------------------
def _number(value: float, digits: int) -> str:
    return number_format(
        round(value, digits), decimal_pos=digits if value != int(value) else 0, force_grouping=True
    )


@register.simple_tag
def kpi_value(value: object, kpi: object) -> str:
    """A KPI's value for people: 87 %, 12.5 h, 45 min, 1,204; "—" when nothing was measured."""
    if isinstance(value, dict):
        value = value.get("median")
    if value is None:
        return "—"
    unit = getattr(kpi, "unit", "")
    if unit == "rate":
        return f"{_number(value * 100, 0)} %"
    if unit == "hours":
        return f"{_number(value, 1)} {_('h')}"
    if unit == "minutes":
        return f"{_number(value, 0)} {_('min')}"
    if unit == "tickets":
        return _number(value, 1)
    if unit == "score":
        return f"{_number(value, 1)} / 5"
    return _number(value, 0)


@register.simple_tag
def kpi_delta(value: object, kpi: object) -> str:
    """A change: +12, −3.5 h, +4 pts (rates change by percentage points)."""
    if value is None:
        return ""
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    magnitude = abs(value)
    unit = getattr(kpi, "unit", "")
    if unit == "rate":
        return f"{sign}{_number(magnitude * 100, 0)} {_('pts')}"
    if unit == "hours":
        return f"{sign}{_number(magnitude, 1)} {_('h')}"
    if unit == "minutes":
        return f"{sign}{_number(magnitude, 0)} {_('min')}"
    return f"{sign}{_number(magnitude, 1 if unit in ('tickets', 'score') else 0)}"


@register.filter
def index(sequence: object, position: int) -> object:
    try:
        return sequence[position]
    except (IndexError, TypeError, KeyError):
        return None


@register.simple_tag
def form_fields(form: object) -> str:
    """A form's errors and fields (``tickets/_fields.html``), written in Python."""
    return mark_safe(fields_html(form))  # noqa: S308 - every value is escaped or a rendered widget
