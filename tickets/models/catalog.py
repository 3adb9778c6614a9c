"""Categories, the service catalog (request forms defined as data), saved queue views."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models.priority import Impact, Urgency


class Category(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    default_team = models.ForeignKey(
        "itsm.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="default_categories"
    )
    # Keywords the rule-based triage uses before enough history exists.
    keywords = models.TextField(blank=True, help_text=_("Comma-separated words that suggest this category."))
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name

    def keyword_list(self) -> list[str]:
        return [word.strip().lower() for word in self.keywords.split(",") if word.strip()]


class CatalogItem(models.Model):
    """A service request form defined as data.

    ``fields`` is a list of ``{"name", "label", "type", "required", "choices", "max_length",
    "min", "max", "help"}`` where type is one of text, textarea, number, date, choice,
    boolean, email. The portal renders and validates it (see ``tickets.forms``).
    """

    name = models.CharField(_("name"), max_length=150, unique=True)
    slug = models.SlugField(unique=True)
    description = models.TextField(_("description"), blank=True)
    fields = models.JSONField(default=list, blank=True)
    default_category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL)
    default_team = models.ForeignKey("itsm.Team", null=True, blank=True, on_delete=models.SET_NULL)
    default_impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.LOW)
    default_urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.MEDIUM)
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("catalog item")

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A queue: a name and the filters of the ticket list. Built-in ones have no owner."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_views"
    )
    # Query parameters of the list page, e.g. {"status": ["open"], "priority": ["critical"]}.
    filters = models.JSONField(default=dict, blank=True)
    order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["order", "name"]
        constraints = [models.UniqueConstraint(fields=["owner", "slug"], name="saved_view_owner_slug_unique")]

    def __str__(self) -> str:
        return self.name
