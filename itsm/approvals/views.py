"""Approval pages: what waits for my decision, what I asked for, one approval, the mailed link.

Requests come only through ``ApprovalRequest.objects.visible_to(user)``; every write goes
through ``itsm.approvals.actions``. Decisions work with and without JavaScript: HTMX swaps the
approval's card in place, a plain form post redirects back.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from itsm.approvals import actions, links, registry
from itsm.approvals.models import ApprovalError, ApprovalRequest, ApprovalStatus, DecisionChannel

LIST_SIZE = 50


def approvals_for(user: Any) -> QuerySet[ApprovalRequest]:
    """What the cards read, in a fixed number of queries (one more per target type)."""
    return (
        ApprovalRequest.objects.visible_to(user)
        .select_related("target_type", "requested_by")
        .prefetch_related("target", "decisions__approver", "approver_links__user")
    )


def get_approval_for_user(request: HttpRequest, pk: int) -> ApprovalRequest:
    return get_object_or_404(approvals_for(request.user), pk=pk)


def card_context(approval: ApprovalRequest, user: Any, **extra: Any) -> dict[str, Any]:
    decisions = {decision.approver_id: decision for decision in approval.decisions.all()}
    return {
        "approval": approval,
        "target": registry.describe(approval, user),
        "approvers": [(link.user, decisions.get(link.user_id)) for link in approval.approver_links.all()],
        "can_decide": approval.can_be_decided_by(user),
        "can_cancel": approval.can_be_cancelled_by(user),
        "channel": extra.pop("channel", DecisionChannel.WEB),
        **extra,
    }


@login_required
@require_http_methods(["GET"])
def approval_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    status = request.GET.get("status", "")
    if status not in ApprovalStatus.values:
        status = ""
    waiting = approvals_for(user).awaiting_decision_by(user).order_by("expires_at", "id")[:LIST_SIZE]
    asked = approvals_for(user).asked_by(user)
    if status:
        asked = asked.filter(status=status)
    context = {
        "waiting": [card_context(approval, user) for approval in waiting],
        "asked": [card_context(approval, user) for approval in asked[:LIST_SIZE]],
        "list_size": LIST_SIZE,
        "status": status,
        "statuses": ApprovalStatus.choices,
    }
    template = "approvals/approval_list.html#asked" if request.htmx and "status" in request.GET else None
    return render(request, template or "approvals/approval_list.html", context)


@login_required
@require_http_methods(["GET"])
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    approval = get_approval_for_user(request, pk)
    return render(request, "approvals/approval_detail.html", {"card": card_context(approval, request.user)})


@login_required
@require_http_methods(["GET"])
def approval_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to an approver: opens the approval for them (they still confirm with a POST)."""
    try:
        claim = links.read_token(token)
    except links.LinkExpired:
        return _refused(request, _("This approval link has expired. Open Approvals to decide."), 410)
    except links.LinkInvalid:
        return _refused(request, _("This approval link is not valid. Open Approvals to decide."), 400)
    if claim.user_id != request.user.pk:
        return _refused(
            request,
            _("This approval link was sent to someone else. Sign in as them, or open your own Approvals."),
            403,
        )
    approval = get_approval_for_user(request, claim.approval_id)
    card = card_context(approval, request.user, channel=DecisionChannel.EMAIL)
    return render(request, "approvals/approval_detail.html", {"card": card, "from_link": True})


def _refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "approvals/link_refused.html", {"message": message}, status=status)


def _channel(request: HttpRequest) -> str:
    """Pages decide on the web, or from the mailed link's page; the API says api itself."""
    channel = request.POST.get("channel", "")
    return channel if channel in (DecisionChannel.WEB, DecisionChannel.EMAIL) else DecisionChannel.WEB


def _back(request: HttpRequest, approval: ApprovalRequest) -> HttpResponse:
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("approvals:approval-detail", approval.pk)


def _respond(
    request: HttpRequest, approval: ApprovalRequest, *, error: str = "", error_status: int = 400, done: str
) -> HttpResponse:
    approval = get_approval_for_user(request, approval.pk)  # fresh, with what the card reads
    context = {
        "card": card_context(
            approval,
            request.user,
            channel=_channel(request),
            error=error,
            comment=request.POST.get("comment", "") if error else "",
        )
    }
    if request.htmx:
        # htmx swaps only 2xx answers: the card comes back with the message beside the form.
        response = render(request, "approvals/_approval.html", context)
        return response if error else trigger_client_event(response, "approvalDecided")
    if error:
        return render(request, "approvals/approval_detail.html", context, status=error_status)
    messages.success(request, done)
    return _back(request, approval)


def _decide(request: HttpRequest, pk: int, *, approve: bool) -> HttpResponse:
    approval = get_approval_for_user(request, pk)
    try:
        actions.do_decide_approval(
            approval,
            actor=request.user,
            approve=approve,
            comment=request.POST.get("comment", ""),
            channel=_channel(request),
        )
    except ApprovalError as error:
        return _respond(request, approval, error=error.message, error_status=error.status_code, done="")
    except ValidationError as error:
        return _respond(request, approval, error=" ".join(error.messages), done="")
    return _respond(request, approval, done=_("Approved.") if approve else _("Rejected."))


@login_required
@require_http_methods(["POST"])
def approval_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, approve=True)


@login_required
@require_http_methods(["POST"])
def approval_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, approve=False)


@login_required
@require_http_methods(["POST"])
def approval_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    approval = get_approval_for_user(request, pk)
    try:
        actions.do_cancel_approval(approval, actor=request.user, reason=request.POST.get("reason", ""))
    except ApprovalError as error:
        return _respond(request, approval, error=error.message, error_status=error.status_code, done="")
    return _respond(request, approval, done=_("Approval withdrawn."))
