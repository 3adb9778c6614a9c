"""The outbox shared by outbound webhooks and chat messages: one model shape, one attempt loop.

A row per message (``OutboxMessage``) is written in the transaction of the change that caused
it, with one waiting job (a procrastinate queueing lock per row). Delivery is at least once:

- **claim**: an attempt first moves the row from ``pending``/``retrying`` to ``sending`` by
  compare-and-set, only when it is due; a second or retried job finds nothing to claim, so a
  message is never sent twice at once and a delivered one never again;
- **send**: the kind posts the message and says what the answer means (a ``Verdict``);
- **back off**: a retryable answer schedules the next attempt ``base × 2^(attempt-1)``
  seconds later (capped, never before ``Retry-After``) as a new job on the same lock;
- **give up**: a permanent answer, or a retryable one on the last allowed attempt, ends in the
  kind's give-up status (``dead`` for webhooks, ``failed`` for chat) and tells the admins;
- **requeue**: a periodic sweep gives back a claim that outlived its worker (the worker died
  mid-send: the message is sent again) and re-defers waiting rows whose job was lost.

A kind of message (``Outbox`` subclass) plugs in only what differs: its model and job, its
settings, how to send, what the receiver's answer means, what else to record.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from procrastinate.contrib.django import app

from integrations.webhooks.transport import HttpResult, backoff_delay
from itsm.lib.tasks import defer_once
from itsm.models import Role, User
from itsm.notify import notify

logger = logging.getLogger(__name__)

# Statuses every outbox model has (its TextChoices use these values, plus its own two final ones).
PENDING, SENDING, RETRYING, CANCELLED = "pending", "sending", "retrying", "cancelled"
WAITING = (PENDING, RETRYING)

CLOCK_SKEW = timedelta(seconds=5)  # a job may start a little before its row says it is due
REQUEUE_GRACE = timedelta(seconds=60)
REQUEUE_BATCH = 500


# --- what an answer means ----------------------------------------------------------------------
SENT, RETRY, FAILED = "sent", "retry", "failed"


@dataclass(frozen=True)
class Verdict:
    """What the receiver's answer to one attempt means: sent, retry later, or failed for good."""

    outcome: str
    reason: str = ""

    @classmethod
    def sent(cls) -> Verdict:
        return cls(SENT)

    @classmethod
    def retry(cls, reason: str) -> Verdict:
        return cls(RETRY, reason)

    @classmethod
    def failed(cls, reason: str) -> Verdict:
        return cls(FAILED, reason)

    @classmethod
    def from_http_failure(cls, result: HttpResult) -> Verdict:
        """HTTP as most services mean it: no answer, 429 and 5xx are worth retrying; another
        4xx says the message or the address is wrong and will stay wrong."""
        if result.status_code is None:
            return cls.retry(result.error or "no answer")
        detail = f"HTTP {result.status_code}" + (
            f" {result.body.strip()[:300]}" if result.body.strip() else ""
        )
        if result.status_code == 429 or result.status_code >= 500:
            return cls.retry(detail)
        return cls.failed(detail)


@dataclass
class Sent:
    """One attempt as the kind made it: the HTTP exchange and what it means."""

    result: HttpResult
    verdict: Verdict

    def fields(self) -> dict[str, Any]:
        """Columns of the kind's own to store with this attempt."""
        return {}


# --- the model ---------------------------------------------------------------------------------
def status_field(choices: type[models.TextChoices] | None = None) -> models.CharField:
    """The ``status`` column; each kind declares it again with its own choices."""
    return models.CharField(
        _("status"), max_length=12, choices=choices.choices if choices else None, default=PENDING
    )


def indexes(prefix: str, receiver: str, receiver_short: str) -> list[models.Index]:
    """The indexes an outbox table needs: newest first (all, per receiver, per status) and
    the due rows the loop and the sweep read (``<prefix>_due_idx``)."""
    return [
        models.Index(fields=["-created_at", "-id"], name=f"{prefix}_created_idx"),
        models.Index(fields=[receiver, "-created_at"], name=f"{prefix}_{receiver_short}_idx"),
        models.Index(fields=["status", "-created_at"], name=f"{prefix}_status_idx"),
        models.Index(
            fields=["next_attempt_at"],
            name=f"{prefix}_due_idx",
            condition=Q(status__in=[*WAITING, SENDING]),
        ),
    ]


def dedupe_constraint(prefix: str, receiver: str) -> models.UniqueConstraint:
    """One row per receiver and fact: ``add(…, deduplicate=True)`` relies on it."""
    return models.UniqueConstraint(
        fields=[receiver, "dedupe_key"], condition=~Q(dedupe_key=""), name=f"{prefix}_dedupe_unique"
    )


class OutboxQuerySet(models.QuerySet):
    def waiting(self) -> OutboxQuerySet:
        return self.filter(status__in=WAITING)

    def overdue(self, now: datetime, grace: timedelta) -> OutboxQuerySet:
        """Waiting rows whose job should have run by now (a lost job, a dead worker)."""
        return self.waiting().filter(next_attempt_at__lte=now - grace)

    def stuck_sending(self, now: datetime) -> OutboxQuerySet:
        """Claimed by a worker that died mid-send: the claim has expired."""
        return self.filter(status=SENDING, claimed_until__lt=now)


class OutboxMessage(models.Model):
    """One message to one receiver and where its delivery stands.

    ``SUCCEEDED`` and ``GAVE_UP`` name the kind's two final statuses besides ``cancelled``.
    """

    SUCCEEDED: ClassVar[str]
    GAVE_UP: ClassVar[str]

    event = models.CharField(_("event"), max_length=40)
    trace_id = models.UUIDField(_("trace id"), default=uuid.uuid4)
    status = status_field()
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, default=timezone.now)
    # Until when the worker that claimed the row may still be sending it.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    response_excerpt = models.TextField(_("response body (excerpt)"), blank=True)
    error = models.TextField(_("error"), blank=True)
    # The same fact signalled twice (an SLA sweep re-run) queues nothing twice.
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_final(self) -> bool:
        return self.status in (self.SUCCEEDED, self.GAVE_UP, CANCELLED)


Message = TypeVar("Message", bound=OutboxMessage)
Attempt = TypeVar("Attempt", bound=Sent)


@dataclass(frozen=True)
class Policy:
    """How long to wait for an answer and between attempts (read from settings per attempt)."""

    timeout: float
    backoff_base: int
    backoff_max: int


def claim(model: type[OutboxMessage], pk: int, *, now: datetime, timeout: float) -> bool:
    """Move a waiting, due row to ``sending`` for one attempt; False when there was nothing to claim."""
    return bool(
        model.objects.filter(pk=pk, status__in=WAITING, next_attempt_at__lte=now + CLOCK_SKEW).update(
            status=SENDING, claimed_until=now + timedelta(seconds=3 * timeout + 60)
        )
    )


# --- the loop ------------------------------------------------------------------------------------
class Outbox(Generic[Message, Attempt]):
    """The attempt loop of one kind of message. A kind sets the class attributes and
    implements ``job``, ``policy``, ``load``, ``cancel_reason`` and ``send``; the hooks
    ``recorded`` and ``gave_up`` add what it records beside the row."""

    model: type[Message]
    lock_prefix: str  # the queueing lock of a row's job is "<lock_prefix>-<pk>"
    argument: str  # the job's argument naming the row
    succeeded_at: str  # the column stamped when the message was delivered
    # The name of the task that attempts one row. Named, not imported: the task module imports
    # the outbox's actions, so the import runs one way.
    task: str

    def policy(self) -> Policy:
        raise NotImplementedError

    def load(self, pk: int) -> Message:
        """The claimed row with what ``send`` needs."""
        raise NotImplementedError

    def cancel_reason(self, message: Message) -> str:
        """Why the message must not be sent any more (its receiver was deactivated), or ""."""
        raise NotImplementedError

    def send(self, message: Message, *, attempt: int, now: datetime, timeout: float) -> Attempt:
        raise NotImplementedError

    def recorded(
        self,
        message: Message,
        sent: Attempt,
        *,
        attempt: int,
        outcome: str,
        started: datetime,
        finished: datetime,
    ) -> None:
        """After an attempt, in the transaction that stores its outcome (``SENT``, ``RETRY`` or
        ``FAILED``, the last also when the retries ran out)."""

    def gave_up(self, message: Message, reason: str) -> None:
        """The message will not be sent (in the same transaction)."""

    def describe(self, message: Message) -> str:
        return f"{self.lock_prefix} {message.pk} ({message.event})"

    def tell_admins(
        self, *, verb: str, title: str, url: str, subject: tuple[str, int], once_a_day: str
    ) -> None:
        """Put a failure in the bell of every active admin; one per day and ``once_a_day`` key
        (the receiver), however many of its messages fail."""
        notify(
            User.objects.active().filter(role=Role.ADMIN),
            verb=verb,
            title=title[:300],
            url=url,
            subject_type=subject[0],
            subject_id=subject[1],
            dedupe_key=f"{once_a_day}:{timezone.now():%Y-%m-%d}",
        )

    # --- queueing ---
    def lock(self, pk: int) -> str:
        return f"{self.lock_prefix}-{pk}"

    def add(self, rows: list[Message], *, deduplicate: bool) -> list[Message]:
        """Insert new rows with a job each, in the caller's transaction. With ``deduplicate``
        a row whose dedupe key its receiver already has is skipped (one savepoint per row)."""
        if not rows:
            return []
        if deduplicate:
            created = []
            for row in rows:
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                except IntegrityError:
                    continue  # the same fact was already queued for this receiver
                created.append(row)
        else:
            created = self.model.objects.bulk_create(rows)
        for row in created:
            # A new row has no job yet: no queueing-lock conflict, so no savepoint is needed.
            app.configure_task(self.task, allow_unknown=False, queueing_lock=self.lock(row.pk)).defer(
                **{self.argument: row.pk}
            )
        return created

    def schedule(self, pk: int, at: datetime | None = None) -> bool:
        """Defer the row's job unless one already waits (then that one does the work)."""
        return defer_once(self.task, lock=self.lock(pk), schedule_at=at, **{self.argument: pk}) is not None

    # --- one attempt ---
    def attempt(self, pk: int) -> Message | None:
        """Send one waiting, due message once; None when there was nothing to claim."""
        now = timezone.now()
        policy = self.policy()
        # Claim: only a waiting, due row moves to "sending"; a second job (or a retried one)
        # finds nothing to claim, so a delivered message is never sent again.
        if not claim(self.model, pk, now=now, timeout=policy.timeout):
            return None
        message = self.load(pk)
        reason = self.cancel_reason(message)
        if reason:
            fields: dict[str, Any] = {
                "status": CANCELLED,
                "claimed_until": None,
                "next_attempt_at": None,
                "error": reason,
            }
            self.model.objects.filter(pk=pk).update(**fields)
            return _assign(message, fields)

        attempt = message.attempts + 1
        sent = self.send(message, attempt=attempt, now=now, timeout=policy.timeout)
        finished = timezone.now()
        outcome, reason = sent.verdict.outcome, sent.verdict.reason
        if outcome == RETRY and attempt >= message.max_attempts:
            outcome = FAILED
            reason = f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}: {reason}"
        fields = {
            "attempts": attempt,
            "last_attempt_at": now,
            "claimed_until": None,
            "response_code": sent.result.status_code,
            "response_excerpt": sent.result.body,
            "error": reason,
            **sent.fields(),
        }
        if outcome == SENT:
            fields.update(status=self.model.SUCCEEDED, next_attempt_at=None, **{self.succeeded_at: finished})
        elif outcome == RETRY:
            delay = backoff_delay(
                attempt,
                base=policy.backoff_base,
                maximum=policy.backoff_max,
                retry_after=sent.result.retry_after_seconds(finished),
            )
            fields.update(status=RETRYING, next_attempt_at=finished + delay)
        else:
            fields.update(status=self.model.GAVE_UP, next_attempt_at=None)

        with transaction.atomic():
            self.recorded(message, sent, attempt=attempt, outcome=outcome, started=now, finished=finished)
            self.model.objects.filter(pk=pk, status=SENDING).update(**fields)
            if outcome == RETRY:
                self.schedule(pk, at=fields["next_attempt_at"])
            elif outcome == FAILED:
                self.gave_up(message, reason)
        log = logger.info if outcome == SENT else logger.warning
        log(
            "%s attempt %s: %s %s (trace %s)",
            self.describe(message),
            attempt,
            outcome,
            reason or sent.result.status_code,
            message.trace_id,
        )
        return _assign(message, fields)

    # --- lost work ---
    def requeue_stalled(self, now: datetime | None = None) -> int:
        """Give lost work back to the queue: expired claims and overdue waiting rows.

        At least once: a lost attempt may or may not have reached the receiver; it is sent again.
        """
        now = now or timezone.now()
        stuck = list(self.model.objects.stuck_sending(now).values_list("pk", flat=True)[:REQUEUE_BATCH])
        self.model.objects.filter(pk__in=stuck, status=SENDING).update(
            status=RETRYING,
            claimed_until=None,
            next_attempt_at=now,
            error="The worker stopped during an attempt; retrying.",
        )
        overdue = list(
            self.model.objects.overdue(now, REQUEUE_GRACE)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:REQUEUE_BATCH]
        )
        return sum(self.schedule(pk) for pk in dict.fromkeys([*stuck, *overdue]))


def _assign(message: Message, fields: dict[str, Any]) -> Message:
    for name, value in fields.items():
        setattr(message, name, value)
    return message
