"""The sign-in log: what is recorded for each attempt, unusual sign-ins, and the login lockout.

Password and single sign-on attempts are recorded from Django's and allauth's signals (see
``receivers``). API tokens are not signed in on each call: a token records its last use (time and
address) on itself, and only refused tokens are logged here, at most once a minute per address.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.core.internal import ratelimit
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from itsm.lib import useragents
from itsm.lib.networks import client_ip, site_of
from itsm.models import ApiToken, User
from itsm.notify import notify
from itsm.security.models import (
    FailureReason,
    SecuritySettings,
    SignInEvent,
    SignInMethod,
    SignInResult,
)

logger = logging.getLogger(__name__)

# allauth's session record of how the current sign-in was made (password, socialaccount, mfa).
AUTHENTICATION_RECORDS_KEY = "account_authentication_methods"
# Set on the session when it was opened through single sign-on.
SSO_SESSION_KEY = "itsm_signed_in_with_sso"
LOCKOUT_ACTION = "login_failed"


def method_of(request: HttpRequest) -> SignInMethod:
    """How the sign-in being completed on this request was made (allauth keeps a record per step)."""
    records = request.session.get(AUTHENTICATION_RECORDS_KEY) or []
    methods = {record.get("method") for record in records if isinstance(record, dict)}
    return SignInMethod.SSO if "socialaccount" in methods else SignInMethod.PASSWORD


def record(
    request: HttpRequest | None,
    *,
    method: SignInMethod,
    result: SignInResult,
    user: User | None = None,
    email: str = "",
    reason: FailureReason | str = "",
) -> SignInEvent:
    """Append one sign-in event; a success from a new place or browser also notifies the user."""
    ip = client_ip(request) if request is not None else None
    user_agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    event = SignInEvent(
        user=user,
        email=(email or (user.email if user is not None else ""))[:254].lower(),
        ip=ip,
        site=site_of(ip) if ip else "",
        user_agent=user_agent[:300],
        agent_family=useragents.family(user_agent)[:60],
        method=method,
        result=result,
        reason=reason,
    )
    if result == SignInResult.SUCCESS and user is not None:
        event.unusual = is_unusual(user, site=event.site, agent_family=event.agent_family)
    event.save(force_insert=True)
    if event.unusual and user is not None and SecuritySettings.current().notify_unusual_sign_ins:
        notify_unusual(user, event)
    return event


def is_unusual(user: User, *, site: str, agent_family: str) -> bool:
    """A success from a network range or a kind of browser this user has not signed in from in the
    last ``SIGN_IN_HISTORY_DAYS`` days. A first sign-in ever is not unusual (nothing to compare)."""
    since = timezone.now() - timedelta(days=settings.SIGN_IN_HISTORY_DAYS)
    seen = (
        SignInEvent.objects.successes()
        .of(user)
        .since(since)
        .aggregate(
            any=Count("id"),
            same_site=Count("id", filter=Q(site=site)),
            same_browser=Count("id", filter=Q(agent_family=agent_family)),
        )
    )
    return bool(seen["any"]) and not (seen["same_site"] and seen["same_browser"])


def notify_unusual(user: User, event: SignInEvent) -> None:
    with translation.override(user.language or "en"):
        title = _("New sign-in to your account from %(where)s") % {
            "where": event.ip or _("an unknown address")
        }
        body = _(
            "Signed in with %(method)s from %(ip)s (%(site)s) using %(browser)s at %(at)s UTC. "
            "If this was not you, end your other sessions and change your password."
        ) % {
            "method": event.get_method_display(),
            "ip": event.ip or "?",
            "site": event.site or "?",
            "browser": event.agent_family or _("an unknown browser"),
            "at": event.created_at.strftime("%Y-%m-%d %H:%M"),
        }
    notify(
        [user],
        verb="security.unusual_sign_in",
        title=title,
        body=body,
        url=reverse("security:account"),
        subject_type="sign_in_event",
        subject_id=event.pk,
        dedupe_key=f"unusual-sign-in:{event.pk}",
        email=True,
    )


def record_token_failure(
    request: HttpRequest, token: ApiToken | None, *, refused_network: bool = False
) -> None:
    """Log a refused API token, at most once a minute per address: a flood of bad keys must not
    become a flood of writes."""
    ip = client_ip(request)
    if not cache.add(f"itsm:signin:token-failure:{ip}", 1, timeout=60):
        return
    record(
        request,
        method=SignInMethod.TOKEN,
        result=SignInResult.FAILURE,
        user=token.user if token is not None else None,
        reason=FailureReason.NETWORK if refused_network else FailureReason.BAD_TOKEN,
    )


# --- Lockouts: allauth's login rate limit, kept in the default cache ---


def _lockout_request(ip: str) -> HttpRequest:
    """A request as the locked-out person's would be, so allauth computes the same cache keys."""
    request = HttpRequest()
    request.method = "POST"
    request.META["REMOTE_ADDR"] = ip
    return request


def _lockout_keys(*, email: str = "", ip: str = "") -> list[tuple[str, object]]:
    keys = []
    for rate in ratelimit.get_rates(app="allauth.account", action=LOCKOUT_ACTION):
        if rate.per == "ip" and ip:
            keys.append(
                (
                    ratelimit.get_cache_key(
                        _lockout_request(ip), app="allauth.account", action=LOCKOUT_ACTION, rate=rate
                    ),
                    rate,
                )
            )
        elif rate.per == "key" and email:
            keys.append(
                (
                    ratelimit.get_cache_key(
                        _lockout_request("0.0.0.0"),  # noqa: S104 - unused for per-key rates
                        app="allauth.account",
                        action=LOCKOUT_ACTION,
                        rate=rate,
                        key=lockout_key(email),
                    ),
                    rate,
                )
            )
    return keys


def lockout_key(email: str) -> str:
    """The rate-limit key of sign-in attempts for an email (``AccountAdapter`` uses it too)."""
    return email.strip().lower()


def locked_out(*, emails: Sequence[str] = (), ips: Sequence[str] = ()) -> set[str]:
    """Which of these emails and addresses allauth would refuse at their next sign-in attempt
    (one cache read for all of them)."""
    keys: list[tuple[str, str, object]] = [
        (value, cache_key, rate) for value in emails for cache_key, rate in _lockout_keys(email=value)
    ] + [(value, cache_key, rate) for value in ips for cache_key, rate in _lockout_keys(ip=value)]
    histories = cache.get_many([cache_key for _value, cache_key, _rate in keys])
    now = time.time()
    locked = set()
    for value, cache_key, rate in keys:
        allowed, _history = ratelimit.apply_rate(list(histories.get(cache_key, [])), now, rate, dry_run=True)
        if not allowed:
            locked.add(value)
    return locked


def is_locked_out(*, email: str = "", ip: str = "") -> bool:
    """Whether allauth would refuse the next sign-in attempt for this email or from this address."""
    return bool(locked_out(emails=[email] if email else [], ips=[ip] if ip else []))


def lift_lockout(*, email: str = "", ip: str = "") -> int:
    """Forget the failed attempts counted against this email and/or address; returns keys cleared."""
    keys = [cache_key for cache_key, _rate in _lockout_keys(email=email, ip=ip)]
    present = [key for key in keys if cache.get(key)]
    cache.delete_many(keys)
    return len(present)


@dataclass(frozen=True)
class FailureSummary:
    key: str  # the address or the email
    failures: int
    last_at: datetime
    locked: bool


def failures_by(field: str, *, since: datetime, limit: int = 50) -> list[FailureSummary]:
    """Failed sign-ins grouped by ``ip`` or ``email`` since a moment, most failures first."""
    rows = SignInEvent.objects.failures().since(since).exclude(**{f"{field}__isnull": True})
    if field == "email":
        rows = rows.exclude(email="")
    rows = (
        rows.values(field)
        .annotate(failures=Count("id"), last_at=Max("created_at"))
        .order_by("-failures", "-last_at")[:limit]
    )
    rows = list(rows)
    values = [str(row[field]) for row in rows]
    locked = locked_out(ips=values) if field == "ip" else locked_out(emails=values)
    return [
        FailureSummary(key=key, failures=row["failures"], last_at=row["last_at"], locked=key in locked)
        for key, row in zip(values, rows, strict=True)
    ]
