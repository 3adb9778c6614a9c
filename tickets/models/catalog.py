"""Categories, the service catalog (request forms defined as data), saved queue views."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from itsm.approvals.approvers import resolve_approvers
from itsm.models import Role
from tickets.models.priority import Impact, Urgency

FIELD_TYPES = ("text", "textarea", "number", "date", "choice", "boolean", "email")
FIELD_KEYS = {"name", "label", "type", "required", "choices", "max_length", "min", "max", "help"}
# The ``kind`` of the approval a catalog request waits for (``itsm.approvals``).
CATALOG_APPROVAL_KIND = "catalog-request"
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


@dataclass(frozen=True)
class CatalogField:
    """One field of a catalog item's form, parsed and checked from the item's JSON."""

    name: str
    label: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    help: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _number(value: Any, where: str, key: str, errors: list[str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{where}: {key} must be a number.")
        return None
    return value


def parse_catalog_fields(data: Any) -> list[CatalogField]:
    """Turn the JSON of ``CatalogItem.fields`` into typed fields, or raise one ValidationError
    listing every problem (shown as is in the admin)."""
    if data in (None, ""):
        return []
    if not isinstance(data, list):
        raise ValidationError(_("Fields must be a JSON list of objects."))
    errors: list[str] = []
    parsed: list[CatalogField] = []
    seen: set[str] = set()
    for position, item in enumerate(data, start=1):
        where = f"Field {position}"
        if not isinstance(item, dict):
            errors.append(where + ': must be an object like {"name": "…", "type": "text"}.')
            continue
        name = item.get("name")
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            errors.append(f"{where}: name must be lower-case letters, digits and _ (starting with a letter).")
            name = None
        else:
            where = f"Field {position} ({name})"
            if name in seen:
                errors.append(f"{where}: the name is used twice.")
            seen.add(name)
        unknown = sorted(set(item) - FIELD_KEYS)
        if unknown:
            errors.append(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FIELD_KEYS))}."
            )
        kind = item.get("type", "text")
        if kind not in FIELD_TYPES:
            errors.append(f"{where}: type {kind!r} is not one of {', '.join(FIELD_TYPES)}.")
        label = item.get("label", name or "")
        if not isinstance(label, str) or not label.strip():
            errors.append(f"{where}: label must be a non-empty text.")
        required = item.get("required", False)
        if not isinstance(required, bool):
            errors.append(f"{where}: required must be true or false.")
        choices = item.get("choices", [])
        if kind == "choice":
            if (
                not isinstance(choices, list)
                or not choices
                or not all(isinstance(c, str) and c for c in choices)
            ):
                errors.append(f"{where}: a choice field needs a non-empty list of texts in choices.")
                choices = []
            elif len(set(choices)) != len(choices):
                errors.append(f"{where}: choices must not repeat.")
        elif choices:
            errors.append(f"{where}: choices only apply to choice fields.")
        max_length = item.get("max_length")
        if max_length is not None:
            if kind not in ("text", "textarea", "email"):
                errors.append(f"{where}: max_length only applies to text, textarea and email fields.")
            elif isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
                errors.append(f"{where}: max_length must be a positive whole number.")
        low = _number(item.get("min"), where, "min", errors)
        high = _number(item.get("max"), where, "max", errors)
        if (low is not None or high is not None) and kind != "number":
            errors.append(f"{where}: min and max only apply to number fields.")
        if low is not None and high is not None and low > high:
            errors.append(f"{where}: min is greater than max.")
        help_text = item.get("help", "")
        if not isinstance(help_text, str):
            errors.append(f"{where}: help must be a text.")
        if not errors and name:
            parsed.append(
                CatalogField(
                    name=name,
                    label=label.strip(),
                    type=kind,
                    required=required,
                    choices=tuple(choices),
                    max_length=max_length,
                    min=low,
                    max=high,
                    help=help_text,
                )
            )
    if errors:
        raise ValidationError(errors)
    return parsed


class Category(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
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


class ApproverSource(models.TextChoices):
    """Who approves the requests of an item that requires approval."""

    TEAM_LEAD = "team_lead", _("The lead of the item's team")
    ROLE = "role", _("Everyone with a role")
    USERS = "users", _("Named people")


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
    # Requests from this item wait in pending_approval until their approvers decide.
    requires_approval = models.BooleanField(
        _("requires approval"),
        default=False,
        help_text=_("A request waits for approval (its SLA clocks paused) before the desk works on it."),
    )
    approver_source = models.CharField(
        _("approved by"), max_length=10, choices=ApproverSource.choices, default=ApproverSource.TEAM_LEAD
    )
    approver_role = models.CharField(
        _("approver role"),
        max_length=10,
        choices=[(Role.ADMIN, Role.ADMIN.label), (Role.AGENT, Role.AGENT.label)],
        blank=True,
        help_text=_("With “Everyone with a role”: who may approve."),
    )
    approver_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="catalog_items_to_approve",
        verbose_name=_("approvers"),
        help_text=_("With “Named people”: who may approve."),
    )
    approvals_needed = models.PositiveSmallIntegerField(
        _("approvals needed"),
        default=1,
        help_text=_("How many of the approvers must approve (capped at how many there are)."),
    )

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("catalog item")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approvals_needed__gte=1), name="catalog_approvals_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        try:
            parse_catalog_fields(self.fields)
        except ValidationError as error:
            raise ValidationError({"fields": error.messages}) from error
        if not self.requires_approval:
            return
        if self.approver_source == ApproverSource.TEAM_LEAD and self.default_team_id is None:
            raise ValidationError({"default_team": _("Approval by the team's lead needs a default team.")})
        if self.approver_source == ApproverSource.ROLE and not self.approver_role:
            raise ValidationError({"approver_role": _("Choose the role whose members approve.")})

    def approvers(self) -> list[Any]:
        """The active people who approve this item's requests (empty when none is set up)."""
        if self.approver_source == ApproverSource.TEAM_LEAD:
            return resolve_approvers(leads_of=[self.default_team_id])
        if self.approver_source == ApproverSource.ROLE:
            return resolve_approvers(roles=[self.approver_role]) if self.approver_role else []
        return resolve_approvers(users=self.approver_users.all())

    def form_fields(self) -> list[CatalogField]:
        """The parsed fields (raises ValidationError when the stored JSON is bad)."""
        return parse_catalog_fields(self.fields)


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
