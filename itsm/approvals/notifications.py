"""Who hears about an approval: each approver when asked (bell and mail with a signed link), the
requester when it is settled (bell and mail), the undecided approvers when it is withdrawn (bell).

Bell rows are written in the transaction of the change (a rolled-back request notifies nobody);
mail is sent by the worker after commit (``itsm.notify``). Texts are in the recipient's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from itsm.approvals import links, registry
from itsm.approvals.models import ApprovalStatus
from itsm.notify import notify

if TYPE_CHECKING:
    from itsm.approvals.models import ApprovalRequest
    from itsm.models import User

REQUESTED_EMAIL = "approvals/email/requested"
SETTLED_EMAIL = "itsm/email/notification"  # the title, the comment, the link


def detail_path(approval: ApprovalRequest) -> str:
    return reverse("approvals:approval-detail", args=[approval.pk])


def requester_name(approval: ApprovalRequest) -> str:
    if approval.requested_by is not None:
        return str(approval.requested_by)
    return approval.requested_by_label or gettext("Automation")


def _each(
    users: Iterable[User],
    approval: ApprovalRequest,
    *,
    verb: str,
    title: Callable[[], str],
    body: Callable[[User], str],
    email: bool = False,
    email_template: str = REQUESTED_EMAIL,
    email_context: Callable[[User], dict] | None = None,
) -> None:
    for user in users:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            text, detail = title(), body(user)
            context = email_context(user) if email_context else None
        notify(
            [user],
            verb=verb,
            title=text,
            body=detail,
            url=detail_path(approval),
            subject_type="approval",
            subject_id=approval.pk,
            dedupe_key=f"{verb}:{approval.pk}",
            email=email,
            email_template=email_template,
            email_context=context,
        )


def notify_approvers_asked(approval: ApprovalRequest, approvers: Iterable[User]) -> None:
    def body(user: User) -> str:
        target = registry.describe(approval, user)
        return gettext("%(requester)s asks for your approval of %(target)s (until %(expires)s).") % {
            "requester": requester_name(approval),
            "target": target.label,
            "expires": formats.date_format(timezone.localtime(approval.expires_at), "SHORT_DATETIME_FORMAT"),
        }

    def email_context(user: User) -> dict:
        target = registry.describe(approval, user)
        return {
            "approval_url": links.link_url(approval, user),
            "summary": approval.summary,
            "details": approval.details,
            "target_label": target.label,
            "requester_name": requester_name(approval),
            "expires": formats.date_format(timezone.localtime(approval.expires_at), "SHORT_DATETIME_FORMAT"),
            "quorum": approval.quorum,
        }

    _each(
        approvers,
        approval,
        verb="approval.requested",
        title=lambda: gettext("Approval requested: %(summary)s") % {"summary": approval.summary},
        body=body,
        email=settings.APPROVAL_EMAILS,
        email_context=email_context,
    )


OUTCOME_TITLES = {
    ApprovalStatus.APPROVED: lambda summary: gettext("Approved: %(summary)s") % {"summary": summary},
    ApprovalStatus.REJECTED: lambda summary: gettext("Rejected: %(summary)s") % {"summary": summary},
    ApprovalStatus.EXPIRED: lambda summary: (
        gettext("Expired without a decision: %(summary)s") % {"summary": summary}
    ),
    ApprovalStatus.CANCELLED: lambda summary: gettext("Withdrawn: %(summary)s") % {"summary": summary},
}


def notify_requester_settled(approval: ApprovalRequest, *, comment: str = "", actor: User | None) -> None:
    requester = approval.requested_by
    if requester is None or (actor is not None and actor.pk == requester.pk):
        return  # automation asked, or the requester settled it themselves
    _each(
        [requester],
        approval,
        verb=f"approval.{approval.status}",
        title=lambda: OUTCOME_TITLES[approval.status](approval.summary),
        body=lambda user: comment,
        # The requester may have left the page long ago: the outcome reaches their mailbox too.
        email=settings.APPROVAL_EMAILS,
        email_template=SETTLED_EMAIL,
    )


def notify_approvers_withdrawn(approval: ApprovalRequest, *, actor: User | None) -> None:
    decided = {decision.approver_id for decision in approval.decisions.all()}
    waiting = [
        link.user
        for link in approval.approver_links.select_related("user")
        if link.user_id not in decided and (actor is None or link.user_id != actor.pk)
    ]
    _each(
        waiting,
        approval,
        verb="approval.cancelled",
        title=lambda: OUTCOME_TITLES[ApprovalStatus.CANCELLED](approval.summary),
        body=lambda user: approval.closed_reason,
    )
