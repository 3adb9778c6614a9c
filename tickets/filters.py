"""The ticket list filters, shared by the queue pages and ``GET /api/tickets/``."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from itsm.models import CustomerTier, Team
from tickets import extensions
from tickets.models import Category, Priority, Ticket, TicketStatus, TicketType

SORTS = {
    "created": "created_at",
    "updated": "updated_at",
    "priority": "priority_rank",
    "number": "id",
    "title": "title",
    "status": "status",
}


class EmailOrMeFilter(django_filters.CharFilter):
    """Users are referenced by email; ``me`` is the caller; ``none`` means unset."""

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        if not value:
            return queryset
        value = value.strip()
        if value == "none":
            return queryset.filter(**{f"{self.field_name}__isnull": True})
        if value == "me":
            return queryset.filter(**{self.field_name: self.parent.request.user})
        return queryset.filter(**{f"{self.field_name}__email__iexact": value})


class TicketFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TicketStatus.choices, label=_("Status"))
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, label=_("Priority"))
    type = django_filters.MultipleChoiceFilter(choices=TicketType.choices, label=_("Type"))
    team = django_filters.ModelMultipleChoiceFilter(queryset=Team.objects.all(), label=_("Team"))
    assignee = EmailOrMeFilter(field_name="assignee", label=_("Assignee"))
    requester = EmailOrMeFilter(field_name="requester", label=_("Requester"))
    tier = django_filters.MultipleChoiceFilter(
        field_name="organisation__tier", choices=CustomerTier.choices, label=_("Customer tier")
    )
    category = django_filters.ModelMultipleChoiceFilter(queryset=Category.objects.all(), label=_("Category"))
    tags = django_filters.CharFilter(method="filter_tags", label=_("Tags"))
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label=_("Created from"),
                                              widget=forms.DateInput(attrs={"type": "date"}))
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label=_("Created to"),
                                               widget=forms.DateInput(attrs={"type": "date"}))
    archived = django_filters.BooleanFilter(method="filter_archived", label=_("Archived"))
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))

    class Meta:
        model = Ticket
        fields: list[str] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.filters["team"].queryset = Team.objects.order_by("name")
        self.filters["category"].queryset = Category.objects.filter(active=True).order_by("name")

    def filter_tags(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tags = [tag.strip().lower() for tag in value.split(",") if tag.strip()]
        return queryset.filter(tags__contains=tags) if tags else queryset

    def filter_archived(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return queryset.filter(archived=value) if value is not None else queryset

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)

    @property
    def qs(self) -> QuerySet:
        queryset = super().qs
        if "archived" not in self.data or self.data.get("archived") in ("", None):
            queryset = queryset.filter(archived=False)
        # Filters registered by other apps (SLA state, say).
        for name, extra in extensions.queue_filters.items():
            values = [value for value in self.data.getlist(name) if value] if hasattr(self.data, "getlist") else []
            if values:
                queryset = extra.apply(queryset, values)
        return queryset


def sort_tickets(queryset: QuerySet, sort: str | None, *, searching: bool = False) -> QuerySet:
    """``?sort=created`` / ``-created`` … and registered sorts; search results rank first by default."""
    from django.db.models import Case, IntegerField, Value, When

    sort = (sort or "").strip()
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key in extensions.queue_sorts:
        return extensions.queue_sorts[key].apply(queryset, descending)
    if key == "priority":
        queryset = queryset.annotate(
            priority_rank=Case(
                When(priority=Priority.CRITICAL, then=Value(0)),
                When(priority=Priority.HIGH, then=Value(1)),
                When(priority=Priority.MEDIUM, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
    if key in SORTS:
        field = SORTS[key]
        return queryset.order_by(f"-{field}" if descending else field, "-id")
    if searching:
        return queryset.order_by("-rank", "-created_at", "-id")
    return queryset.order_by("-created_at", "-id")
