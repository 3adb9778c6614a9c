from __future__ import annotations

from datetime import timedelta

from allauth.mfa.models import Authenticator
from allauth.socialaccount.admin import SocialAppAdmin as AllauthSocialAppAdmin
from allauth.socialaccount.admin import SocialAppForm as AllauthSocialAppForm
from allauth.socialaccount.models import SocialApp
from allauth.usersessions.models import UserSession
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from itsm.security import actions, signins
from itsm.security.forms import SecuritySettingsForm, SocialAppSettingsField
from itsm.security.models import SecurityEvent, SecuritySettings, SignInEvent

FAILURE_WINDOW = timedelta(hours=24)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: listed and read, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SecuritySettings)
class SecuritySettingsAdmin(admin.ModelAdmin):
    """One row: two-factor policy, single sign-on policy, network allowlists, notifications."""

    form = SecuritySettingsForm
    list_display = ["__str__", "two_factor_required_for", "sso_required_for_agents", "updated_at"]
    fieldsets = (
        (_("Two-factor authentication"), {"fields": ("two_factor_required_for", "two_factor_trusts_sso")}),
        (_("Single sign-on"), {"fields": ("sso_required_for_agents",)}),
        (_("Network allowlists"), {"fields": ("admin_allowed_networks", "agent_allowed_networks")}),
        (_("Sign-ins"), {"fields": ("notify_unusual_sign_ins",)}),
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # The form refuses an allowlist that shuts out the admin saving it: it needs the request.
        return type(form.__name__, (form,), {"request": request})

    def changelist_view(self, request, extra_context=None):
        # One row: the list is the row.
        row = SecuritySettings.load()
        return redirect(reverse("admin:security_securitysettings_change", args=[row.pk]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SignInEvent)
class SignInEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "email", "result", "reason", "ip"]
    list_filter = ["result", "method", "reason", "unusual"]
    search_fields = ["email", "ip"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in SignInEvent._meta.fields]
    show_full_result_count = False  # no COUNT(*) over the whole log on every page

    def get_urls(self):
        return [
            path(
                "failures/",
                self.admin_site.admin_view(self.failures_view),
                name="security_signinevent_failures",
            ),
            path(
                "failures/lift/",
                self.admin_site.admin_view(require_POST(self.lift_view)),
                name="security_signinevent_lift",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "failures_url": reverse("admin:security_signinevent_failures"),
        }
        return super().changelist_view(request, extra_context)

    def failures_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        since = timezone.now() - FAILURE_WINDOW
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Failed sign-ins (last 24 hours)"),
            "by_ip": signins.failures_by("ip", since=since),
            "by_email": signins.failures_by("email", since=since),
        }
        return TemplateResponse(request, "admin/security/signinevent/failures.html", context)

    def lift_view(self, request):
        if not request.user.is_admin:
            raise PermissionDenied
        email = request.POST.get("email", "").strip()[:254]
        ip = request.POST.get("ip", "").strip()[:45]
        if not email and not ip:
            messages.error(request, _("Say which email or address to unlock."))
        else:
            actions.do_lift_lockout(email=email, ip=ip, actor=request.user)
            messages.success(request, _("Lockout lifted for %(who)s.") % {"who": email or ip})
        return redirect("admin:security_signinevent_failures")


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_label", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_label", "target_label", "target_id", "ip"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in SecurityEvent._meta.fields]
    show_full_result_count = False


class SocialAppForm(AllauthSocialAppForm):
    settings = SocialAppSettingsField(
        label=_("Settings"),
        help_text=_(
            'JSON: {"server_url": "https://issuer", "groups_claim": "groups", "role_map": '
            '{"group": "agent"}, "team_map": {"group": "Team name"}, "trust_email": false}'
        ),
    )


admin.site.unregister(SocialApp)


@admin.register(SocialApp)
class SocialAppAdmin(AllauthSocialAppAdmin):
    """Single sign-on applications; changes are audited (``security.receivers``)."""

    form = SocialAppForm


# Authenticators are removed only through "Reset two-factor authentication" on users (audited).
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    raw_id_fields = ("user",)
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    search_fields = ["user__email"]
    exclude = ["data"]  # the TOTP secret and recovery codes are never shown


admin.site.unregister(UserSession)


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "last_seen_at", "ip", "user_agent")
    search_fields = ["user__email", "ip"]
    exclude = ["session_key", "data"]
