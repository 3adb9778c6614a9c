"""Forms of the security pages and admin: they validate and shape input, the actions act."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.lib.networks import address_allowed, client_ip, parse_networks
from itsm.models import ApiToken, TokenScope, User
from itsm.security.models import SecuritySettings
from itsm.security.oidc.claims import ClaimMapping, MappingError

EXPIRY_CHOICES = [
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
    ("never", _("Never")),
]
SCOPE_HELP = {
    TokenScope.READ: _("Reads what you can see; changes nothing."),
    TokenScope.TICKETS: _("Reads, and works tickets, comments, problems and knowledge."),
    TokenScope.INTEGRATIONS: _("Tickets, plus the integration endpoints (Jira, webhooks, mail, chat)."),
    TokenScope.ADMIN: _("Everything your role allows, admin endpoints included."),
}


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text=_("What uses it, e.g. “n8n production”."),
    )
    scope = forms.ChoiceField(label=_("Scope"), widget=forms.RadioSelect)
    expires_in = forms.ChoiceField(label=_("Expires"), choices=EXPIRY_CHOICES, initial="90")
    allowed_networks = forms.CharField(
        label=_("Allowed networks"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: one IPv4 or IPv6 range per line (e.g. 203.0.113.0/24). Empty: any address."),
    )

    def __init__(self, *args: object, owner: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        offered = TokenScope.offered_to(owner)
        self.fields["scope"].choices = [
            (scope.value, f"{scope.label} — {SCOPE_HELP[scope]}") for scope in offered
        ]
        self.fields["scope"].initial = TokenScope.READ

    def clean_allowed_networks(self) -> str:
        value = self.cleaned_data["allowed_networks"]
        parse_networks(value)
        return value.strip()

    def expires_at(self):
        days = self.cleaned_data["expires_in"]
        return None if days == "never" else timezone.now() + timedelta(days=int(days))


class SecuritySettingsForm(forms.ModelForm):
    """The admin's form: ranges checked line by line, and no allowlist that shuts out the admin saving it."""

    class Meta:
        model = SecuritySettings
        fields = [
            "two_factor_required_for",
            "two_factor_trusts_sso",
            "sso_required_for_agents",
            "admin_allowed_networks",
            "agent_allowed_networks",
            "notify_unusual_sign_ins",
        ]
        widgets = {
            "admin_allowed_networks": forms.Textarea(attrs={"rows": 4, "cols": 40}),
            "agent_allowed_networks": forms.Textarea(attrs={"rows": 4, "cols": 40}),
        }

    request = None  # set by the admin (SecuritySettingsAdmin.get_form)

    def clean(self):
        cleaned = super().clean()
        if self.request is None:
            return cleaned
        ip = client_ip(self.request)
        for field in ("admin_allowed_networks", "agent_allowed_networks"):
            if field in self.errors:
                continue
            networks = parse_networks(cleaned.get(field) or "")
            if networks and not address_allowed(ip, networks):
                self.add_error(
                    field,
                    ValidationError(
                        _(
                            "Your own address (%(ip)s) is outside these ranges: saving would lock you "
                            "out. Add your range first."
                        ),
                        params={"ip": ip},
                    ),
                )
        return cleaned


class SocialAppSettingsField(forms.JSONField):
    """The settings JSON of a single sign-on application, checked as ``ClaimMapping``."""

    def validate(self, value):
        super().validate(value)
        try:
            ClaimMapping.parse(value)
        except MappingError as error:
            raise ValidationError(str(error)) from error
