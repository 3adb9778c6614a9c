from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from itsm.lib.networks import parse_networks
from itsm.models import (
    ApiToken,
    AutomationEvent,
    Notification,
    Organisation,
    Team,
    User,
    WorkerHeartbeat,
)
from itsm.security.actions import do_change_api_token, do_reset_two_factor, do_revoke_api_token, token_state

admin.site.site_header = _("ITSM administration")
admin.site.site_title = _("ITSM")


@never_cache
def _admin_login(request, extra_context=None):
    """The admin signs in through the site's sign-in (allauth), never its own form: so two-factor,
    single sign-on, lockouts and the sign-in log apply to admins too."""
    return redirect_to_login(request.GET.get("next") or request.get_full_path())


admin.site.login = _admin_login


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "organisation", "is_available", "capacity", "is_active"]
    list_filter = ["role", "is_active", "is_available", "seniority", "organisation__tier"]
    search_fields = ["email", "full_name"]
    autocomplete_fields = ["organisation"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("full_name", "role", "organisation", "language")}),
        (_("Work"), {"fields": ("skills", "seniority", "capacity", "is_available")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "role", "password1", "password2")}),)
    actions = ["reset_two_factor"]

    @admin.action(description=_("Reset two-factor authentication (lost device)"))
    def reset_two_factor(self, request, queryset):
        for user in queryset:
            do_reset_two_factor(user, actor=request.user)
        self.message_user(
            request,
            _("Two-factor authentication reset for %(count)d user(s); their sessions were ended.")
            % {"count": len(queryset)},
            messages.SUCCESS,
        )


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "tier", "domain"]
    list_filter = ["tier"]
    search_fields = ["name", "domain"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "lead", "member_count"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
    autocomplete_fields = ["lead"]

    @admin.display(description=_("members"))
    def member_count(self, team: Team) -> int:
        return team.members.count()


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created on the account page or with ``manage.py create_api_token``; here they
    are listed, narrowed (name, expiry, networks) and revoked, each change audited."""

    list_display = ["hint", "name", "user", "scope", "expires_at", "last_used_at", "last_used_ip"]
    list_filter = ["scope", "revoked_at", "expires_at"]
    search_fields = ["user__email", "name", "hint"]
    readonly_fields = ["user", "hint", "scope", "created_at", "last_used_at", "last_used_ip", "revoked_at"]
    fields = [
        "user",
        "name",
        "hint",
        "scope",
        "expires_at",
        "allowed_networks",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the audit keeps naming the token

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)

        def clean_allowed_networks(self):
            value = self.cleaned_data["allowed_networks"]
            parse_networks(value)
            return value.strip()

        return type(form.__name__, (form,), {"clean_allowed_networks": clean_allowed_networks})

    def save_model(self, request, obj, form, change):
        before = token_state(ApiToken.objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        do_change_api_token(obj, before, actor=request.user)

    @admin.action(description=_("Revoke selected tokens"))
    def revoke(self, request, queryset):
        count = sum(
            do_revoke_api_token(token, actor=request.user) for token in queryset.select_related("user")
        )
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count}, messages.SUCCESS)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "verb", "created_at", "read_at"]
    list_filter = ["verb"]
    search_fields = ["title", "recipient__email"]
    raw_id_fields = ["recipient"]


@admin.register(AutomationEvent)
class AutomationEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "subject_type", "subject_id", "trace_id"]
    list_filter = ["actor", "action", "subject_type"]
    search_fields = ["subject_id", "trace_id", "reason"]
    readonly_fields = [field.name for field in AutomationEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker", "beat_at"]
