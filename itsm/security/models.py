"""Security settings (one row), the sign-in log and the security audit (both append-only)."""

from __future__ import annotations

import time
from typing import ClassVar

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.lib.networks import Network, parse_networks


class TwoFactorPolicy(models.TextChoices):
    NOBODY = "nobody", _("Nobody (optional for everyone)")
    ADMINS = "admins", _("Admins")
    STAFF = "staff", _("Admins and agents")


def validate_networks(value: str) -> None:
    parse_networks(value)


class SecuritySettings(models.Model):
    """The organisation's sign-in policy: one row (``SecuritySettings.current()``), edited in the admin."""

    two_factor_required_for = models.CharField(
        _("two-factor authentication required for"),
        max_length=10,
        choices=TwoFactorPolicy.choices,
        default=TwoFactorPolicy.NOBODY,
        help_text=_(
            "People in these roles without an authenticator app are sent to set one up before "
            "anything else. API tokens are not affected."
        ),
    )
    two_factor_trusts_sso = models.BooleanField(
        _("single sign-on counts as two-factor"),
        default=True,
        help_text=_("A session opened through single sign-on is not asked for an authenticator app."),
    )
    sso_required_for_agents = models.BooleanField(
        _("agents sign in with single sign-on only"),
        default=False,
        help_text=_(
            "When single sign-on is configured, agents cannot sign in with a password. Admins keep "
            "their password (and two-factor) so that an identity provider outage locks nobody out."
        ),
    )
    admin_allowed_networks = models.TextField(
        _("networks allowed to reach the admin site"),
        blank=True,
        validators=[validate_networks],
        help_text=_("One IPv4 or IPv6 range per line (e.g. 10.0.0.0/8). Empty: any address."),
    )
    agent_allowed_networks = models.TextField(
        _("networks allowed for agents and admins"),
        blank=True,
        validators=[validate_networks],
        help_text=_(
            "Agents and admins use the pages and the API only from these ranges, one per line. "
            "Empty: any address."
        ),
    )
    notify_unusual_sign_ins = models.BooleanField(
        _("notify unusual sign-ins"),
        default=True,
        help_text=_(
            "Tell people (bell and email) when they sign in from a new network range (/24, /48) "
            "or a new kind of browser."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    # The row in force, per process: see ``current()``.
    _current: ClassVar[tuple[SecuritySettings, float] | None] = None

    class Meta:
        verbose_name = _("security settings")
        verbose_name_plural = _("security settings")

    def __str__(self) -> str:
        return str(_("Security settings"))

    @classmethod
    def load(cls) -> SecuritySettings:
        """The row, created with the defaults when missing (the admin edits it)."""
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    @classmethod
    def current(cls) -> SecuritySettings:
        """The settings in force. Every request needs them, so each process reads the row at most
        once per ``SECURITY_SETTINGS_CACHE_SECONDS``; a save in this process applies at once."""
        cached = cls._current
        if cached is not None and time.monotonic() - cached[1] < settings.SECURITY_SETTINGS_CACHE_SECONDS:
            return cached[0]
        try:
            row = cls.objects.filter(pk=1).first() or cls()
        except DatabaseError:
            # The database is down: nothing that needs it will work anyway, and /healthz must
            # still say so. Keep what was in force (the defaults if nothing was read yet).
            fallback = cached[0] if cached is not None else cls()
            cls.remember(fallback)  # try the database again in a while, not on every call
            return fallback
        cls.remember(row)
        return row

    @classmethod
    def remember(cls, row: SecuritySettings | None) -> None:
        """Make ``row`` the settings in force in this process (``None``: read the row again)."""
        cls._current = None if row is None else (row, time.monotonic())

    def clean(self) -> None:
        for field in ("admin_allowed_networks", "agent_allowed_networks"):
            try:
                parse_networks(getattr(self, field))
            except ValidationError as error:
                raise ValidationError({field: error.messages}) from error

    def admin_networks(self) -> list[Network]:
        return parse_networks(self.admin_allowed_networks)

    def agent_networks(self) -> list[Network]:
        return parse_networks(self.agent_allowed_networks)

    def requires_two_factor(self, user: object) -> bool:
        if self.two_factor_required_for == TwoFactorPolicy.STAFF:
            return bool(getattr(user, "is_agent", False))
        if self.two_factor_required_for == TwoFactorPolicy.ADMINS:
            return bool(getattr(user, "is_admin", False))
        return False


class SignInMethod(models.TextChoices):
    PASSWORD = "password", _("Password")
    SSO = "sso", _("Single sign-on")
    TOKEN = "token", _("API token")


class SignInResult(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")


class FailureReason(models.TextChoices):
    BAD_CREDENTIALS = "bad_credentials", _("Wrong email or password")
    RATE_LIMITED = "rate_limited", _("Too many attempts")
    SECOND_FACTOR = "second_factor", _("Wrong two-factor code")
    SSO_ERROR = "sso_error", _("Identity provider error")
    SSO_REFUSED = "sso_refused", _("Identity refused")
    SSO_REQUIRED = "sso_required", _("Password sign-in turned off (SSO only)")
    NETWORK = "network", _("Network not allowed")
    INACTIVE = "inactive", _("Account deactivated")
    BAD_TOKEN = "bad_token", _("Unknown, revoked or expired token")


class SignInEventQuerySet(models.QuerySet):
    def failures(self) -> SignInEventQuerySet:
        return self.filter(result=SignInResult.FAILURE)

    def successes(self) -> SignInEventQuerySet:
        return self.filter(result=SignInResult.SUCCESS)

    def of(self, user: object) -> SignInEventQuerySet:
        return self.filter(user_id=getattr(user, "pk", None))

    def since(self, moment: object) -> SignInEventQuerySet:
        return self.filter(created_at__gte=moment)


class SignInEvent(models.Model):
    """One sign-in attempt (password, single sign-on) or a refused API token. Append-only (trigger)."""

    # No database foreign key: the log outlives the account and names it by email.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    email = models.CharField(_("email"), max_length=254, blank=True, help_text=_("As typed or as signed in."))
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    site = models.CharField(_("network range"), max_length=50, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    agent_family = models.CharField(_("browser"), max_length=60, blank=True)
    method = models.CharField(_("method"), max_length=10, choices=SignInMethod.choices)
    result = models.CharField(_("result"), max_length=10, choices=SignInResult.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=FailureReason.choices, blank=True)
    unusual = models.BooleanField(_("unusual"), default=False)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    objects = SignInEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("sign-in")
        verbose_name_plural = _("sign-ins")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="signin_user_idx"),
            models.Index(
                fields=["ip", "-created_at"],
                name="signin_failure_ip_idx",
                condition=models.Q(result="failure"),
            ),
            models.Index(
                fields=["email", "-created_at"],
                name="signin_failure_email_idx",
                condition=models.Q(result="failure"),
            ),
            models.Index(fields=["-created_at"], name="signin_created_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.email or '?'} {self.method} {self.result} {self.ip or ''}"


class SecurityAction(models.TextChoices):
    ROLE_CHANGED = "role_changed", _("Role or privileges changed")
    TOKEN_CREATED = "token_created", _("API token created")
    TOKEN_REVOKED = "token_revoked", _("API token revoked")
    TOKEN_CHANGED = "token_changed", _("API token changed")
    TWO_FACTOR_RESET = "two_factor_reset", _("Two-factor authentication reset")
    SSO_CHANGED = "sso_changed", _("Single sign-on configuration changed")
    ALLOWLIST_CHANGED = "allowlist_changed", _("Network allowlist changed")
    SETTINGS_CHANGED = "settings_changed", _("Security settings changed")
    EXPORT_REQUESTED = "export_requested", _("Export requested")
    LOCKOUT_LIFTED = "lockout_lifted", _("Sign-in lockout lifted")
    SESSIONS_ENDED = "sessions_ended", _("Sessions ended")


class SecurityEvent(models.Model):
    """A change to who may do what, with who made it, from where, and before/after. Append-only (trigger).

    Written with ``itsm.security.audit.record(…)``.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # The actor's email, or ``system:sso`` / ``system:command`` when no person acted.
    actor_label = models.CharField(_("actor"), max_length=254)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=30, choices=SecurityAction.choices)
    target_type = models.CharField(_("target type"), max_length=60)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=254, blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("security event")
        verbose_name_plural = _("security audit")
        indexes = [
            models.Index(fields=["-created_at"], name="security_event_created_idx"),
            models.Index(fields=["action", "-created_at"], name="security_event_action_idx"),
            models.Index(fields=["target_type", "target_id"], name="security_event_target_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type}:{self.target_id}"


class RateCounter(models.Model):
    """How many requests one key (a token, a user, an address) made in its current window.

    API throttles count here, in PostgreSQL, so every web process and node shares one count;
    one ``INSERT … ON CONFLICT DO UPDATE`` per request counts and answers atomically (see
    ``hit``). The table is UNLOGGED (migration 0002): counters are worth nothing after a crash,
    and skipping the write-ahead log keeps the write cheap. Rows of windows long past are
    purged by the ``purge-rate-counters`` periodic task.
    """

    key = models.CharField(max_length=200, primary_key=True)
    window_start = models.BigIntegerField()  # epoch seconds, a multiple of the window's length
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("rate counter")
        indexes = [models.Index(fields=["window_start"], name="rate_counter_window_idx")]

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"

    @classmethod
    def hit(cls, key: str, seconds: int, *, at: float) -> tuple[int, float]:
        """Count one request of ``key`` in the fixed window of ``seconds`` holding ``at`` (epoch
        seconds). Returns ``(requests in this window, seconds until the window ends)``."""
        start = int(at // seconds) * seconds
        table = connection.ops.quote_name(cls._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (key, window_start, hits) VALUES (%s, %s, 1) "  # noqa: S608 - table from the model
                "ON CONFLICT (key) DO UPDATE SET hits = CASE "
                f"WHEN {table}.window_start = EXCLUDED.window_start THEN {table}.hits + 1 ELSE 1 END, "
                "window_start = EXCLUDED.window_start RETURNING hits",
                [key[:200], start],
            )
            hits = cursor.fetchone()[0]
        return hits, start + seconds - at

    @classmethod
    def purge(cls, *, before: float) -> int:
        """Forget counters whose window ended before ``before`` (epoch seconds); returns how many."""
        table = connection.ops.quote_name(cls._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE window_start < %s", [int(before)])  # noqa: S608
            return cursor.rowcount
