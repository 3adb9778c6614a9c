"""Platform core: people, teams, organisations, API tokens, notifications, automation events."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.lib.choices import ChoiceLabels


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")
    USER = "user", _("Requester")
    VIEWER = "viewer", _("Viewer")


class CustomerTier(models.TextChoices):
    ENTERPRISE = "enterprise", _("Enterprise")
    BUSINESS = "business", _("Business")
    STANDARD = "standard", _("Standard")
    FREE = "free", _("Free")


class Seniority(models.TextChoices):
    JUNIOR = "junior", _("Junior")
    MID = "mid", _("Mid-level")
    SENIOR = "senior", _("Senior")
    LEAD = "lead", _("Lead")


class Organisation(ChoiceLabels, models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    tier = models.CharField(
        _("customer tier"), max_length=20, choices=CustomerTier.choices, default=CustomerTier.STANDARD
    )
    domain = models.CharField(_("email domain"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")

    def __str__(self) -> str:
        return self.name


class UserQuerySet(models.QuerySet):
    def active(self) -> UserQuerySet:
        return self.filter(is_active=True)

    def staff_roles(self) -> UserQuerySet:
        """Users who work tickets: agents and admins."""
        return self.filter(role__in=[Role.AGENT, Role.ADMIN])

    def available(self) -> UserQuerySet:
        return self.active().filter(is_available=True)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True, role=Role.ADMIN)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.USER)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    skills = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    seniority = models.CharField(max_length=10, choices=Seniority.choices, default=Seniority.MID)
    capacity = models.PositiveIntegerField(
        _("capacity"), default=20, help_text=_("Maximum number of open tickets assigned at once.")
    )
    is_available = models.BooleanField(_("available"), default=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text=_("Can log into the Django admin (admins get it automatically).")
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        verbose_name = _("user")

    def __str__(self) -> str:
        return self.full_name or self.email

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = self.email.lower()
        if self.role == Role.ADMIN:
            self.is_staff = True
        super().save(*args, **kwargs)

    def has_perm(self, perm: str, obj: object = None) -> bool:
        # The admin role manages everything in the Django admin, like a superuser.
        if self.is_active and self.role == Role.ADMIN:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return super().has_module_perms(app_label)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    # Role predicates: the one place pages and the API ask what a user may do.
    @property
    def is_admin(self) -> bool:
        return self.is_active and (self.role == Role.ADMIN or self.is_superuser)

    @property
    def is_agent(self) -> bool:
        """Works tickets: agents and admins."""
        return self.is_active and (self.role in {Role.AGENT, Role.ADMIN} or self.is_superuser)

    @property
    def is_requester(self) -> bool:
        return self.role == Role.USER and not self.is_superuser

    @property
    def is_viewer(self) -> bool:
        return self.role == Role.VIEWER and not self.is_superuser

    def can_write(self) -> bool:
        """Viewers read; everyone else may change what they can see."""
        return self.is_active and not self.is_viewer


class Team(models.Model):
    """An assignment group."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(blank=True)
    email = models.EmailField(blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_teams",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    skills = ArrayField(models.CharField(max_length=60), default=list, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")

    def __str__(self) -> str:
        return self.name


class TokenScope(models.TextChoices):
    """What an API token may do, on top of what its user's role allows (``itsm.security.scopes``)."""

    READ = "read", _("Read only")
    TICKETS = "tickets", _("Tickets")
    INTEGRATIONS = "integrations", _("Integrations")
    ADMIN = "admin", _("Admin")

    @classmethod
    def rank(cls, scope: str) -> int:
        return list(cls.values).index(scope)

    @classmethod
    def offered_to(cls, user: User) -> list[TokenScope]:
        """The scopes worth giving a token of this user: none above what the role can do."""
        if user.is_admin:
            return list(cls)
        if user.is_agent:
            return [cls.READ, cls.TICKETS, cls.INTEGRATIONS]
        return [cls.READ, cls.TICKETS]


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True).exclude(
            expires_at__lte=timezone.now()
        )

    def of(self, user: User) -> ApiTokenQuerySet:
        return self.filter(user=user)


class ApiToken(models.Model):
    """An API token. Only its SHA-256 digest is stored; the key is shown once, at creation."""

    PREFIX = "itsm_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, default="api")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text=_("First characters of the key."))
    scope = models.CharField(_("scope"), max_length=12, choices=TokenScope.choices, default=TokenScope.READ)
    allowed_networks = models.TextField(
        _("allowed networks"),
        blank=True,
        help_text=_("One IPv4 or IPv6 range per line (e.g. 10.0.0.0/8). Empty: any address."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.hint}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(
        cls,
        user: User,
        name: str = "api",
        *,
        scope: str | None = None,
        expires_at: datetime | None = None,
        allowed_networks: str = "",
    ) -> tuple[ApiToken, str]:
        """A new token and its key (shown once). Without a scope, the widest the user's role can use."""
        key = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            digest=cls.hash_key(key),
            hint=key[:12],
            scope=scope or TokenScope.offered_to(user)[-1],
            expires_at=expires_at,
            allowed_networks=allowed_networks,
        )
        return token, key

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired

    def revoke(self) -> bool:
        """Revoke the token; False when it already was (a second click changes nothing)."""
        now = timezone.now()
        # Compare-and-set: of two concurrent revocations (two tabs, the admin and the owner) one
        # wins, so the audit records the revocation once.
        revoked = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now)
        if revoked:
            self.revoked_at = now
        return bool(revoked)


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user: User) -> NotificationQuerySet:
        return self.filter(recipient=user)

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """An in-app (bell) notification."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    verb = models.CharField(max_length=60)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    # What it is about, by type and id: the core knows no domain model.
    subject_type = models.CharField(max_length=60, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Its mail (``itsm.tasks.send_notification_email``): taken by a worker (a claim that the
    # job's next run takes over once ``EMAIL_SEND_CLAIM_SECONDS`` old), then sent once.
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"],
                name="notification_unread_idx",
                condition=models.Q(read_at__isnull=True),
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_dedupe_unique",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def mark_read(self) -> None:
        if self.read_at is None:
            self.read_at = timezone.now()
            self.save(update_fields=["read_at"])


# What an automation event is about: a saved object, or (its type, its id) when only the id is at hand.
Subject = models.Model | tuple[str, object]

REASON_MAX_CHARS = 2000


def subject_type_of(obj: models.Model) -> str:
    """``Ticket`` → ``ticket``, ``WebhookDelivery`` → ``webhook_delivery`` (as notifications name them)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(obj).__name__).lower()


class AutomationEventQuerySet(models.QuerySet):
    def record(
        self,
        *,
        actor: str | AbstractBaseUser,
        action: str,
        subject: Subject,
        before: dict | None = None,
        after: dict | None = None,
        reason: str = "",
        trace_id: uuid.UUID | str | None = None,
        at: datetime | None = None,
    ) -> AutomationEvent:
        """Write one automation event (see ``AutomationEvent.entry`` for the arguments)."""
        event = AutomationEvent.entry(
            actor=actor,
            action=action,
            subject=subject,
            before=before,
            after=after,
            reason=reason,
            trace_id=trace_id,
            at=at,
        )
        event.save(force_insert=True)
        return event


def _subject_key(subject: Subject) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        return subject_type_of(subject), str(subject.pk)
    subject_type, subject_id = subject
    return subject_type, str(subject_id)


class AutomationEvent(models.Model):
    """Every automated change, with who did it (``system:sla``, ``system:jira`` …) and why.

    Written with ``AutomationEvent.objects.record(…)`` (or ``AutomationEvent.entry(…)`` rows
    given to ``bulk_create``), never field by field.
    """

    actor = models.CharField(max_length=60)
    action = models.CharField(max_length=80)
    subject_type = models.CharField(max_length=60)
    subject_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    trace_id = models.UUIDField(default=uuid.uuid4)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AutomationEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "-created_at"], name="automation_subject_idx")
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.subject_type}:{self.subject_id}"

    @classmethod
    def entry(
        cls,
        *,
        actor: str | AbstractBaseUser,
        action: str,
        subject: Subject,
        before: dict | None = None,
        after: dict | None = None,
        reason: str = "",
        trace_id: uuid.UUID | str | None = None,
        at: datetime | None = None,
    ) -> AutomationEvent:
        """An unsaved event: ``actor`` is a ``system:…`` label or a user (recorded by email);
        ``subject`` an object or ``(type, id)``; ``trace_id`` ties the events of one run together
        (a new one when None); ``at`` defaults to now. Texts are cut to what the columns hold."""
        if isinstance(actor, AbstractBaseUser):
            actor = actor.get_username()
        subject_type, subject_id = _subject_key(subject)
        return cls(
            actor=_fit(cls, "actor", actor),
            action=_fit(cls, "action", action),
            subject_type=_fit(cls, "subject_type", subject_type),
            subject_id=_fit(cls, "subject_id", subject_id),
            before=before or {},
            after=after or {},
            reason=reason[:REASON_MAX_CHARS],
            trace_id=trace_id or uuid.uuid4(),
            created_at=at or timezone.now(),
        )


def _fit(model: type[models.Model], field: str, value: str) -> str:
    return value[: model._meta.get_field(field).max_length]


class WorkerHeartbeat(models.Model):
    """One row per worker host, touched by the periodic heartbeat task."""

    worker = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class KPISnapshot(models.Model):
    """One KPI's value for one day and one group (``itsm.kpis``); trends read these.

    ``grouping`` is empty for the whole desk; ``group`` is the group's key (a team id, a priority)
    and empty for tickets without one. Re-running a day replaces its rows (``itsm.analytics.snapshots``).
    """

    day = models.DateField()
    kpi = models.CharField(max_length=60)
    grouping = models.CharField(max_length=20, blank=True)
    group = models.CharField(max_length=200, blank=True)
    # A number, an object ({"mean", "median", "p90"}), or null when nothing was measured.
    value = models.JSONField(null=True)
    version = models.PositiveSmallIntegerField(default=1)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["day", "kpi", "grouping", "group"]
        verbose_name = _("KPI snapshot")
        constraints = [
            models.UniqueConstraint(fields=["day", "kpi", "grouping", "group"], name="kpi_snapshot_unique")
        ]
        indexes = [models.Index(fields=["kpi", "grouping", "day"], name="kpi_snapshot_series_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.kpi} {self.grouping}={self.group}: {self.value}"
