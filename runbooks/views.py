"""Runbook pages: the panel on the ticket page (matches, run, executions polled live), one
execution, an item's recent executions, and the settings page for admins.

Staff only (requesters get 404); tickets come through ``visible_to``; every write goes
through ``runbooks.actions``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from cmdb.models import ConfigurationItem
from itsm.approvals.models import ApprovalError
from runbooks import actions, matching
from runbooks.api import attach_approvals, execution_queryset
from runbooks.forms import DecisionForm, SettingsForm
from runbooks.models import Runbook, RunbookExecution, RunbookSettings
from tickets.models import Ticket

PANEL = "runbooks/ticket_panel.html"
EXECUTIONS_SHOWN = 10


def require_staff(request: HttpRequest) -> None:
    if request.user.is_requester:
        raise Http404


def get_ticket_for_user(request: HttpRequest, pk: int) -> Ticket:
    require_staff(request)
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


def get_execution_for_user(request: HttpRequest, pk: int) -> RunbookExecution:
    require_staff(request)
    return get_object_or_404(execution_queryset(request.user), pk=pk)


def errors_of(error: Exception) -> str:
    if isinstance(error, ValidationError):
        if hasattr(error, "message_dict"):
            return " ".join(
                f"{message}" for messages_ in error.message_dict.values() for message in messages_
            )
        return " ".join(error.messages)
    return getattr(error, "message", None) or str(error)


# --- the ticket's panel -------------------------------------------------------------------------------
def panel_context(ticket: Ticket, user: Any, **extra: Any) -> dict[str, Any]:
    executions = attach_approvals(
        list(execution_queryset(user).filter(ticket=ticket).order_by("-created_at", "-id")[:EXECUTIONS_SHOWN])
    )
    return {
        "ticket": ticket,
        "matches": matching.match_ticket(ticket) if user.is_agent else [],
        "executions": executions,
        "polling": any(execution.is_active for execution in executions),
        "can_run": user.is_agent,
        "panel_target": f"#runbooks-panel-{ticket.pk}",
        **extra,
    }


def render_panel(request: HttpRequest, ticket: Ticket, *, status: int = 200, **extra: Any) -> HttpResponse:
    template = f"{PANEL}#panel" if request.htmx else PANEL
    context = panel_context(ticket, request.user, **extra)
    response = render(request, template, context, status=status)
    response.context_data_polling = context["polling"]  # type: ignore[attr-defined]
    return response


@login_required
@require_http_methods(["GET"])
def ticket_panel(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    response = render_panel(request, get_ticket_for_user(request, ticket_pk))
    if request.GET.get("polling") and not response.context_data_polling:  # type: ignore[attr-defined]
        # The last poll after an execution ended: the ticket's timeline (its note) refreshes too.
        return trigger_client_event(response, "ticketUpdated")
    return response


def _back_to_ticket(request: HttpRequest, ticket: Ticket, done: str = "", error: str = "") -> HttpResponse:
    if request.htmx:
        response = render_panel(request, ticket, error=error, done=done)
        return response if error else trigger_client_event(response, "ticketUpdated")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(reverse("tickets:ticket-detail", args=[ticket.pk]) + "#panel-runbooks")


@login_required
@require_http_methods(["POST"])
def ticket_run(request: HttpRequest, ticket_pk: int, runbook_pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, ticket_pk)
    runbook = get_object_or_404(Runbook, pk=runbook_pk)
    parameters = {
        name.removeprefix("param-"): value
        for name, value in request.POST.items()
        if name.startswith("param-")
    }
    item = None
    if request.POST.get("item", "").isdigit():
        item = ConfigurationItem.objects.filter(pk=int(request.POST["item"])).first()
    try:
        execution = actions.do_request_execution(
            ticket, runbook, actor=request.user, parameters=parameters, item=item
        )
    except (ValidationError, PermissionDenied, ApprovalError, actions.ExecutionConflict) as error:
        return _back_to_ticket(request, ticket, error=errors_of(error))
    done = (
        _("“%(name)s” waits for approval.")
        if execution.status == "pending_approval"
        else _("“%(name)s” is queued.")
    ) % {"name": runbook.name}
    return _back_to_ticket(request, ticket, done=done)


# --- one execution ------------------------------------------------------------------------------------
def execution_context(request: HttpRequest, execution: RunbookExecution, **extra: Any) -> dict[str, Any]:
    attach_approvals([execution])
    return {
        "execution": execution,
        "can_run": request.user.is_agent,
        "target": f"#execution-{execution.pk}",
        **extra,
    }


@login_required
@require_http_methods(["GET"])
def execution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    execution = get_execution_for_user(request, pk)
    template = (
        "runbooks/execution_detail.html#execution" if request.htmx else "runbooks/execution_detail.html"
    )
    return render(request, template, execution_context(request, execution))


def _after_execution_change(
    request: HttpRequest, execution: RunbookExecution, done: str, error: str = ""
) -> HttpResponse:
    if request.htmx:
        if request.POST.get("from") == "panel":
            return _back_to_ticket(request, execution.ticket, done=done, error=error)
        fresh = get_execution_for_user(request, execution.pk)
        response = render(
            request,
            "runbooks/execution_detail.html#execution",
            execution_context(request, fresh, error=error, done=done),
        )
        return response if error else trigger_client_event(response, "ticketUpdated")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    if request.POST.get("from") == "panel":
        return redirect(reverse("tickets:ticket-detail", args=[execution.ticket_id]) + "#panel-runbooks")
    return redirect("runbooks:execution-detail", pk=execution.pk)


@login_required
@require_http_methods(["POST"])
def execution_decide(request: HttpRequest, pk: int) -> HttpResponse:
    execution = get_execution_for_user(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _after_execution_change(request, execution, "", error=_("Choose approve or reject."))
    approve = form.cleaned_data["decision"] == "approve"
    try:
        actions.check_is_agent(request.user)
        actions.do_decide_execution(
            execution, actor=request.user, approve=approve, comment=form.cleaned_data["comment"]
        )
    except (actions.ExecutionConflict, ApprovalError, ValidationError, PermissionDenied) as error:
        return _after_execution_change(request, execution, "", error=errors_of(error))
    return _after_execution_change(request, execution, _("Approved.") if approve else _("Rejected."))


@login_required
@require_http_methods(["POST"])
def execution_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    execution = get_execution_for_user(request, pk)
    try:
        actions.do_cancel_execution(execution, actor=request.user)
    except (actions.ExecutionConflict, PermissionDenied) as error:
        return _after_execution_change(request, execution, "", error=errors_of(error))
    return _after_execution_change(request, execution, _("Cancelling: completed steps are rolled back."))


@login_required
@require_http_methods(["POST"])
def execution_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    execution = get_execution_for_user(request, pk)
    done = request.POST.get("done", "yes") != "no"
    try:
        actions.do_confirm_manual_step(
            execution, actor=request.user, done=done, note=request.POST.get("note", "")[:2000]
        )
    except (actions.ExecutionConflict, PermissionDenied) as error:
        return _after_execution_change(request, execution, "", error=errors_of(error))
    return _after_execution_change(request, execution, _("Step confirmed."))


# --- an item's executions (panel of the configuration-item page) ------------------------------------
@login_required
@require_http_methods(["GET"])
def item_executions(request: HttpRequest, pk: int) -> HttpResponse:
    require_staff(request)
    item = get_object_or_404(ConfigurationItem.objects.visible_to(request.user), pk=pk)
    executions = list(
        RunbookExecution.objects.visible_to(request.user)
        .filter(item=item)
        .select_related("runbook", "ticket")
        .order_by("-created_at", "-id")[:EXECUTIONS_SHOWN]
    )
    return render(request, "runbooks/item_executions.html", {"item": item, "executions": executions})


# --- settings --------------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_admin:
        raise PermissionDenied(_("Only admins change the runbook settings."))
    row = RunbookSettings.load()
    form = SettingsForm(request.POST or None, initial={"mode": row.mode, "threshold": row.threshold})
    if request.method == "POST" and form.is_valid():
        actions.do_update_settings(actor=request.user, **form.cleaned_data)
        messages.success(request, _("Runbook settings saved."))
        return redirect("runbooks:settings")
    runbooks = Runbook.objects.select_related("owner_team").prefetch_related("versions").order_by("name")
    return render(
        request,
        "runbooks/settings.html",
        {"form": form, "row": row, "runbooks": runbooks},
        status=400 if form.errors else 200,
    )
