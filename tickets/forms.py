"""Forms of the ticket pages and the requester portal.

They validate and shape input only: every write goes through ``tickets.actions``.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from itsm.lib.choices import CachedModelChoiceField, ListedModelChoiceField
from itsm.models import Team, User
from tickets.actions import BulkAction, check_attachment
from tickets.actions.worklogs import parse_duration
from tickets.models import (
    WORKLOG_MAX_MINUTES,
    CatalogItem,
    Category,
    Impact,
    Macro,
    Priority,
    Ticket,
    TicketStatus,
    TicketType,
    Urgency,
)
from tickets.models.catalog import CatalogField


# --- attachments ------------------------------------------------------------------------------
class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; each checked against the attachment limits of the settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        single = super().clean
        uploads = data if isinstance(data, list | tuple) else ([data] if data else [])
        cleaned = [single(upload, initial) for upload in uploads if upload]
        errors = []
        for upload in cleaned:
            try:
                check_attachment(upload)
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise ValidationError(errors)
        return cleaned


def add_domain_error(form: forms.Form, error: ValidationError) -> None:
    """Put a ValidationError raised by an action on the form fields it names (else on the form)."""
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


def agents() -> Any:
    return User.objects.staff_roles().active().order_by("full_name", "email")


class AgentChoiceField(CachedModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.full_name or obj.email


# --- agent pages --------------------------------------------------------------------------------
class TicketCreateForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=255)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, required=False)
    type = forms.ChoiceField(label=_("Type"), choices=TicketType.choices, initial=TicketType.INCIDENT)
    impact = forms.ChoiceField(label=_("Impact"), choices=Impact.choices, initial=Impact.MEDIUM)
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.MEDIUM)
    category = forms.ModelChoiceField(label=_("Category"), queryset=Category.objects.none(), required=False)
    requester = forms.EmailField(
        label=_("Requester email"),
        required=False,
        help_text=_("Leave empty to open the ticket for yourself."),
    )
    assignee = AgentChoiceField(label=_("Assignee"), queryset=User.objects.none(), required=False)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    tags = forms.CharField(label=_("Tags"), required=False, help_text=_("Comma-separated."))
    sensitive = forms.BooleanField(
        label=_("Sensitive"), required=False, help_text=_("Visible to admins and the owning team only.")
    )
    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(active=True).order_by("name")
        self.fields["assignee"].queryset = agents()
        self.fields["team"].queryset = Team.objects.order_by("name")

    def clean_requester(self) -> User | None:
        email = self.cleaned_data.get("requester")
        if not email:
            return None
        user = User.objects.active().filter(email__iexact=email).first()
        if user is None:
            raise ValidationError(gettext("No active user has the address %(email)s.") % {"email": email})
        return user


class AssignForm(forms.Form):
    assignee = AgentChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False, empty_label=_("Unassigned")
    )
    team = CachedModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("No team")
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, ticket: Ticket | None = None, **kwargs: Any) -> None:
        if ticket is not None and not args:
            kwargs.setdefault(
                "initial", {"assignee": ticket.assignee_id, "team": ticket.team_id, "version": ticket.version}
            )
        super().__init__(*args, **kwargs)
        self.fields["assignee"].offer(agents(), "agents")
        self.fields["team"].offer(Team.objects.order_by("name"), "teams")


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Move to"), choices=TicketStatus.choices)
    resolution = forms.CharField(
        label=_("Resolution summary"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Required to resolve."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)
    resolve_children = forms.BooleanField(
        label=_("Also resolve its open child tickets"), required=False, widget=forms.HiddenInput
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(
        self, *args: Any, ticket: Ticket | None = None, open_children: int = 0, **kwargs: Any
    ) -> None:
        if ticket is not None and not args:
            kwargs.setdefault("initial", {"version": ticket.version})
        super().__init__(*args, **kwargs)
        if open_children:
            # A parent with open children: resolving it offers to resolve them too.
            self.fields["resolve_children"].widget = forms.CheckboxInput()
            self.fields["resolve_children"].label = gettext(
                "Also resolve its %(count)s open child ticket(s)"
            ) % {"count": open_children}
        if ticket is not None:
            # Offer the moves the machine allows; a forged value still reaches the domain check.
            labels = dict(TicketStatus.choices)
            self.fields["status"].widget.choices = [
                (status, labels[status]) for status in ticket.offered_transitions()
            ]


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    reason = forms.CharField(label=_("Reason for the override"), max_length=500, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, ticket: Ticket | None = None, **kwargs: Any) -> None:
        if ticket is not None and not args:
            kwargs.setdefault("initial", {"priority": ticket.priority, "version": ticket.version})
        super().__init__(*args, **kwargs)


class DurationField(forms.CharField):
    """Minutes, from ``45``, ``45m``, ``1h30`` or ``1.5h`` (``tickets.actions.worklogs.parse_duration``)."""

    def to_python(self, value: Any) -> int:  # type: ignore[override]
        text = super().to_python(value)[:40]
        try:
            minutes = parse_duration(text)
        except ValidationError as error:
            raise ValidationError(error.message_dict["minutes"]) from None
        if minutes and not 1 <= minutes <= WORKLOG_MAX_MINUTES:
            raise ValidationError(
                gettext("Between 1 and %(max)s minutes per entry.") % {"max": WORKLOG_MAX_MINUTES}
            )
        return minutes


class CommentForm(forms.Form):
    static_fields_html = (
        True  # unbound, its fields' HTML depends only on the language (itsm/form_renderer.py)
    )

    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}))
    internal = forms.BooleanField(label=_("Internal note (agents only)"), required=False)
    attachments = MultipleFileField(label=_("Attachments"))


class AgentCommentForm(CommentForm):
    """The agents' reply box: the time spent goes in the ticket's work log with the reply."""

    time_spent = DurationField(
        label=_("Time spent"),
        required=False,
        help_text=_("e.g. 15m, 1h30"),
        widget=forms.TextInput(
            attrs={"size": 8, "maxlength": 20, "data-timer-target": "", "autocomplete": "off"}
        ),
    )
    billable = forms.BooleanField(label=_("Billable"), required=False)


class WorkLogForm(forms.Form):
    static_fields_html = (
        True  # unbound, its fields' HTML depends only on the language (itsm/form_renderer.py)
    )

    minutes = DurationField(
        label=_("Time spent"),
        help_text=_("e.g. 15m, 1h30"),
        widget=forms.TextInput(
            attrs={"size": 8, "maxlength": 20, "data-timer-target": "", "autocomplete": "off"}
        ),
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    billable = forms.BooleanField(label=_("Billable"), required=False)


class CommentEditForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}))


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    query = forms.CharField(required=False, widget=forms.HiddenInput)


class TicketIdsField(forms.Field):
    """The checked rows: a list of ticket ids (ids the user may not see are reported by the action)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        try:
            ids = [int(item) for item in values]
        except (TypeError, ValueError) as error:
            raise ValidationError(gettext("Ticket ids are numbers.")) from error
        if any(ticket_id <= 0 for ticket_id in ids):
            raise ValidationError(gettext("Ticket ids are numbers."))
        return list(dict.fromkeys(ids))


class BulkForm(forms.Form):
    ids = TicketIdsField(error_messages={"required": _("Select at least one ticket.")})
    action = forms.ChoiceField(label=_("Action"), choices=BulkAction.choices)
    assignee = AgentChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False, empty_label=_("Unassigned")
    )
    team = CachedModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("Keep team")
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", "---------"), *TicketStatus.choices], required=False
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=[("", "---------"), *Priority.choices], required=False
    )
    tag = forms.CharField(label=_("Tag"), max_length=50, required=False)
    resolution = forms.CharField(label=_("Resolution summary"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)
    macro = ListedModelChoiceField(label=_("Macro"), queryset=Macro.objects.none(), required=False)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].offer(agents(), "agents")
        self.fields["team"].offer(Team.objects.order_by("name"), "teams")
        # Only the macros this agent may use are choices: another's personal macro is "not a choice".
        if user is not None:
            self.fields["macro"].queryset = Macro.objects.available_to(user).active().order_by("name", "id")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        needs = {
            BulkAction.STATUS: "status",
            BulkAction.PRIORITY: "priority",
            BulkAction.TAG: "tag",
            BulkAction.MACRO: "macro",
        }
        if action in needs and not data.get(needs[action]):
            self.add_error(needs[action], gettext("This action needs a value."))
        return data


# --- requester portal ---------------------------------------------------------------------------
class IncidentReportForm(forms.Form):
    title = forms.CharField(label=_("What is wrong?"), max_length=255)
    description = forms.CharField(label=_("Details"), widget=forms.Textarea)
    urgency = forms.ChoiceField(label=_("How urgent is it?"), choices=Urgency.choices, initial=Urgency.MEDIUM)
    attachments = MultipleFileField(label=_("Attachments"))


class PortalReplyForm(forms.Form):
    body = forms.CharField(label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 4}))
    attachments = MultipleFileField(label=_("Attachments"))


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is it not solved?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=500,
        required=False,
    )


# --- the service catalog: request forms defined as data -------------------------------------------
def catalog_form_field(definition: CatalogField) -> forms.Field:
    """A Django form field for one parsed field of a catalog item (validation from its definition)."""
    common: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help,
    }
    if definition.type == "textarea":
        return forms.CharField(
            widget=forms.Textarea(attrs={"rows": 4}), max_length=definition.max_length or 5000, **common
        )
    if definition.type == "number":
        return forms.DecimalField(
            min_value=_decimal(definition.min), max_value=_decimal(definition.max), **common
        )
    if definition.type == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if definition.type == "choice":
        # Always a blank first option: a required choice must be picked, not defaulted.
        return forms.ChoiceField(
            choices=[("", "---------"), *((choice, choice) for choice in definition.choices)], **common
        )
    if definition.type == "boolean":
        return forms.BooleanField(**common)
    if definition.type == "email":
        return forms.EmailField(max_length=definition.max_length or 254, **common)
    return forms.CharField(max_length=definition.max_length or 255, **common)


def _decimal(value: float | None) -> decimal.Decimal | None:
    return None if value is None else decimal.Decimal(str(value))


def _answer_text(definition: CatalogField, value: Any) -> str:
    """An answer as requester and agents read it in the ticket description."""
    if value is None or value == "":
        return "—"
    if definition.type == "boolean":
        return gettext("Yes") if value else gettext("No")
    return str(value)


class CatalogRequestForm(forms.Form):
    """The form of one catalog item, built from its definition (``CatalogItem.form_fields``), plus files.

    A definition that no longer parses (edited outside the admin) raises ValidationError here;
    the portal shows that the form is unavailable instead of a broken page.
    """

    def __init__(self, *args: Any, item: CatalogItem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        self.definitions = item.form_fields()
        for definition in self.definitions:
            self.fields[f"field_{definition.name}"] = catalog_form_field(definition)
        self.fields["attachments"] = MultipleFileField(label=_("Attachments"))

    def answers(self) -> dict[str, Any]:
        """Answers as JSON values, keyed by field name (kept in ``ticket.metadata``)."""
        answers: dict[str, Any] = {}
        for definition in self.definitions:
            value = self.cleaned_data.get(f"field_{definition.name}")
            if isinstance(value, datetime.date):
                value = value.isoformat()
            elif isinstance(value, decimal.Decimal):
                value = int(value) if value == value.to_integral_value() else float(value)
            answers[definition.name] = value
        return answers

    def description(self) -> str:
        answers = self.answers()
        lines = [self.item.description.strip(), ""] if self.item.description.strip() else []
        lines += [
            f"{definition.label}: {_answer_text(definition, answers.get(definition.name))}"
            for definition in self.definitions
        ]
        return "\n".join(lines).strip()
