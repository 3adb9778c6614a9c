"""Signed, expiring links mailed to approvers.

A link names one approval and one approver. It opens the approval page for that person only,
who must be signed in as them; the page still asks to confirm with a POST. The signature (the
project's SECRET_KEY, a salt of its own) cannot be forged, and it lapses after
``APPROVAL_LINK_MAX_AGE_HOURS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.urls import reverse

if TYPE_CHECKING:
    from itsm.approvals.models import ApprovalRequest
    from itsm.models import User

SALT = "itsm.approvals.email-link"


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


@dataclass(frozen=True)
class LinkClaim:
    approval_id: int
    user_id: int


def make_token(approval: ApprovalRequest, user: User) -> str:
    return signing.dumps({"a": approval.pk, "u": user.pk}, salt=SALT, compress=False)


def link_path(approval: ApprovalRequest, user: User) -> str:
    return reverse("approvals:approval-link", args=[make_token(approval, user)])


def link_url(approval: ApprovalRequest, user: User) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{link_path(approval, user)}"


def read_token(token: str) -> LinkClaim:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.APPROVAL_LINK_MAX_AGE_HOURS * 3600)
    except signing.SignatureExpired as error:
        raise LinkExpired from error
    except signing.BadSignature as error:
        raise LinkInvalid from error
    try:
        return LinkClaim(approval_id=int(data["a"]), user_id=int(data["u"]))
    except (KeyError, TypeError, ValueError) as error:
        raise LinkInvalid from error
