"""What the security app listens to: sign-ins (Django, allauth) and changes to audit."""

from __future__ import annotations

import hashlib

from allauth.mfa.signals import authentication_failed
from allauth.socialaccount.models import SocialApp
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_delete, post_init, post_save, pre_save

from itsm.security import audit, signins
from itsm.security.models import (
    FailureReason,
    SecurityAction,
    SecuritySettings,
    SignInMethod,
    SignInResult,
)

# The fields of a user that decide what they may do.
PRIVILEGE_FIELDS = ("role", "is_staff", "is_superuser", "is_active")
ALLOWLIST_FIELDS = ("admin_allowed_networks", "agent_allowed_networks")
SETTINGS_FIELDS = (
    "two_factor_required_for",
    "two_factor_trusts_sso",
    "sso_required_for_agents",
    "notify_unusual_sign_ins",
)
SOCIAL_APP_FIELDS = ("provider", "provider_id", "name", "client_id", "key", "settings")


def connect() -> None:
    """Called from ``SecurityConfig.ready()``; the ``dispatch_uid``s make a second call a no-op."""
    user_model = get_user_model()
    user_logged_in.connect(on_signed_in, dispatch_uid="security-signed-in")
    user_login_failed.connect(on_sign_in_failed, dispatch_uid="security-sign-in-failed")
    authentication_failed.connect(on_second_factor_failed, dispatch_uid="security-second-factor-failed")
    post_init.connect(remember_privileges, sender=user_model, dispatch_uid="security-user-init")
    post_save.connect(audit_privileges, sender=user_model, dispatch_uid="security-user-saved")
    pre_save.connect(remember_settings, sender=SecuritySettings, dispatch_uid="security-settings-pre")
    post_save.connect(audit_settings, sender=SecuritySettings, dispatch_uid="security-settings-saved")
    pre_save.connect(remember_social_app, sender=SocialApp, dispatch_uid="security-sso-pre")
    post_save.connect(audit_social_app, sender=SocialApp, dispatch_uid="security-sso-saved")
    post_delete.connect(audit_social_app_deleted, sender=SocialApp, dispatch_uid="security-sso-deleted")


# --- Sign-ins ---


def on_signed_in(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session") or "REMOTE_ADDR" not in request.META:
        return  # login() outside an HTTP request (force_login in tests, scripts): no sign-in to log
    method = signins.method_of(request)
    if method == SignInMethod.SSO:
        request.session[signins.SSO_SESSION_KEY] = True
    signins.record(request, method=method, result=SignInResult.SUCCESS, user=user)


def on_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    if request is None:
        return  # an authenticate() call outside a request (a command, a test)
    email = str(credentials.get("email") or credentials.get("username") or "")
    user = get_user_model().objects.filter(email__iexact=email).first() if email else None
    signins.record(
        request,
        method=SignInMethod.PASSWORD,
        result=SignInResult.FAILURE,
        user=user,
        email=email,
        reason=FailureReason.BAD_CREDENTIALS,
    )


def on_second_factor_failed(sender, request, user, reauthentication=False, **kwargs) -> None:
    if reauthentication or request is None:
        return
    signins.record(
        request,
        method=signins.method_of(request),
        result=SignInResult.FAILURE,
        user=user,
        reason=FailureReason.SECOND_FACTOR,
    )


# --- Audit of changes ---


def _values(instance: object, fields: tuple[str, ...]) -> dict:
    return {field: getattr(instance, field) for field in fields}


def remember_privileges(sender, instance, **kwargs) -> None:
    # Read from __dict__: a user loaded with .only() must not query its deferred fields here.
    instance._privileges_at_load = {field: instance.__dict__.get(field) for field in PRIVILEGE_FIELDS}


def audit_privileges(sender, instance, created, update_fields=None, **kwargs) -> None:
    before = getattr(instance, "_privileges_at_load", {})
    now = _values(instance, PRIVILEGE_FIELDS)
    instance._privileges_at_load = now
    if created:
        if instance.role != "user" or instance.is_staff or instance.is_superuser:
            audit.record(SecurityAction.ROLE_CHANGED, target=instance, target_label=instance.email, after=now)
        return
    if update_fields is not None and not set(update_fields) & set(PRIVILEGE_FIELDS):
        return  # last_login and the like
    changed = {
        field for field in PRIVILEGE_FIELDS if before.get(field) is not None and before[field] != now[field]
    }
    if changed:
        audit.record(
            SecurityAction.ROLE_CHANGED,
            target=instance,
            target_label=instance.email,
            before={field: before[field] for field in sorted(changed)},
            after={field: now[field] for field in sorted(changed)},
        )


def remember_settings(sender, instance, **kwargs) -> None:
    old = SecuritySettings.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._before = _values(old or SecuritySettings(), ALLOWLIST_FIELDS + SETTINGS_FIELDS)


def audit_settings(sender, instance, **kwargs) -> None:
    SecuritySettings.remember(instance)
    before = getattr(instance, "_before", {})
    now = _values(instance, ALLOWLIST_FIELDS + SETTINGS_FIELDS)
    for action, fields in (
        (SecurityAction.ALLOWLIST_CHANGED, ALLOWLIST_FIELDS),
        (SecurityAction.SETTINGS_CHANGED, SETTINGS_FIELDS),
    ):
        changed = sorted(field for field in fields if before.get(field) != now[field])
        if changed:
            audit.record(
                action,
                target=instance,
                before={field: before.get(field) for field in changed},
                after={field: now[field] for field in changed},
            )


def _social_app_values(app) -> dict:
    values = _values(app, SOCIAL_APP_FIELDS)
    # The client secret is never written to the audit: only a digest, to tell that it changed.
    values["secret"] = hashlib.sha256(app.secret.encode()).hexdigest()[:12] if app.secret else ""
    return values


def _redacted(values: dict, fields: list[str]) -> dict:
    return {field: ("(changed)" if field == "secret" else values.get(field)) for field in fields}


def remember_social_app(sender, instance, **kwargs) -> None:
    old = sender.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._before = _social_app_values(old) if old is not None else {}


def audit_social_app(sender, instance, created, **kwargs) -> None:
    before = getattr(instance, "_before", {})
    now = _social_app_values(instance)
    changed = sorted(field for field in now if before.get(field) != now[field])
    instance._before = now
    if created or changed:
        audit.record(
            SecurityAction.SSO_CHANGED,
            target=instance,
            before=_redacted(before, changed) if before else {},
            after=_redacted(now, changed),
        )


def audit_social_app_deleted(sender, instance, **kwargs) -> None:
    before = _social_app_values(instance)
    audit.record(
        SecurityAction.SSO_CHANGED,
        target=instance,
        before=_redacted(before, sorted(before)),
        after={"deleted": True},
    )
