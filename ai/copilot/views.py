"""Copilot pages: the full page (/ai/copilot/), the panel on the ticket page, the runs browser
with each run's trace, one-click proposals, and the requester's "turn this into a ticket".

Thin views: questions go through ``actions.do_ask_copilot``, proposals through
``actions.do_decide_proposal`` (the normal ticket actions, as the user), tickets come only
through ``visible_to``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ai.copilot import actions, quickfix
from ai.copilot.models import CopilotProposal, CopilotRun, Recommendation, RunSource, RunStatus
from ai.copilot.recommendations import AlreadyClosed, do_close_recommendation
from ai.copilot.tools import REGISTRY
from ai.triage.rules import match_category
from tickets.actions import do_create_ticket
from tickets.models import Category, Channel, IllegalTransition, StaleTicket, Ticket

PAGE = "copilot/page.html"
PARTS = "copilot/_copilot.html"


def _ticket(request: HttpRequest, pk: int) -> Ticket:
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


def _run_with_trace(request: HttpRequest, pk: int) -> CopilotRun:
    runs = CopilotRun.objects.visible_to(request.user).select_related("user", "ticket", "replay_of")
    return get_object_or_404(
        runs.prefetch_related(
            "steps", Prefetch("proposals", queryset=CopilotProposal.objects.select_related("decision"))
        ),
        pk=pk,
    )


def _answer_context(run: CopilotRun | None, error: str = "", user: Any = None) -> dict[str, Any]:
    context: dict[str, Any] = {"run": run, "error": error}
    if run is not None and user is not None and user.is_requester:
        # The ticket draft a requester may confirm: the category guessed by the triage keyword rules.
        categories = list(Category.objects.order_by("name"))
        rules = [
            (category.pk, category.name, (category.keywords or "").split(",")) for category in categories
        ]
        guess = match_category(run.question, "", rules)
        context.update({"categories": categories, "draft_category": guess.value if guess else None})
    return context


@login_required
@require_http_methods(["GET", "POST"])
def copilot_page(request: HttpRequest) -> HttpResponse:
    """Ask a question; the answer is swapped in below the form (HTMX) or the page re-rendered."""
    run, error, status, ticket = None, "", 200, None
    if request.method == "POST":
        if request.POST.get("ticket"):
            try:
                ticket = _ticket(request, int(request.POST["ticket"]))
            except ValueError:
                error, status = _("No such ticket."), 400
        if not error:
            source = request.POST.get("source") or (
                RunSource.PORTAL if request.user.is_requester else RunSource.PAGE
            )
            if source not in (RunSource.PAGE, RunSource.TICKET, RunSource.DASHBOARD, RunSource.PORTAL):
                source = RunSource.PAGE
            try:
                run = actions.do_ask_copilot(
                    actor=request.user,
                    question=request.POST.get("question", ""),
                    ticket=ticket,
                    source=source,
                )
            except ValidationError as invalid:
                error, status = " ".join(invalid.messages), 400
        if run is not None:
            run = _run_with_trace(request, run.pk)
        if request.htmx:
            # The panel's answer region keeps its ticket-specific id, so the next question finds it.
            context = {**_answer_context(run, error, request.user), "ticket": ticket}
            return render(request, f"{PARTS}#copilot-answer", context, status=status)
    recent = (
        CopilotRun.objects.visible_to(request.user)
        .filter(user=request.user)
        .order_by("-created_at", "-id")[:10]
    )
    context = {
        **_answer_context(run, error),
        "recent": recent,
        "question": request.POST.get("question", "")
        if request.method == "POST"
        else request.GET.get("q", ""),
        "categories": Category.objects.order_by("name") if request.user.is_requester else [],
    }
    return render(request, PAGE, context, status=status)


@login_required
@require_GET
def copilot_panel(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    # The panel reloads when the ticket changes (a confirmed proposal, say): it shows the
    # reader's latest question about this ticket again, with the decisions taken since.
    latest = (
        CopilotRun.objects.filter(user=request.user, ticket=ticket, replay_of__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    run = _run_with_trace(request, latest) if latest else None
    template = f"{PARTS}#copilot-panel" if request.htmx else "copilot/panel.html"
    return render(request, template, {"ticket": ticket, **_answer_context(run, "", request.user)})


def _proposal_response(
    request: HttpRequest, proposal: CopilotProposal, error: str = "", status: int = 200
) -> HttpResponse:
    proposal = CopilotProposal.objects.select_related("decision", "run").get(pk=proposal.pk)
    if request.htmx:
        response = render(
            request,
            f"{PARTS}#copilot-proposal",
            {"proposal": proposal, "proposal_error": error},
            status=status,
        )
        if not error:
            response["HX-Trigger"] = "ticketUpdated"
        return response
    if error:
        messages.error(request, error)
    return redirect("ai:copilot-run", pk=proposal.run_id)


@login_required
@require_POST
def proposal_decide(request: HttpRequest, pk: int, outcome: str) -> HttpResponse:
    proposal = get_object_or_404(CopilotProposal.objects.filter(run__user=request.user), pk=pk)
    try:
        actions.do_decide_proposal(proposal, actor=request.user, outcome=outcome)
    except actions.AlreadyDecided as error:
        return _proposal_response(request, proposal, str(error), 409)
    except PermissionDenied as error:
        return _proposal_response(request, proposal, str(error) or _("You may not do that."), 403)
    except (IllegalTransition, StaleTicket) as error:
        return _proposal_response(request, proposal, str(error), 409)
    except ValidationError as error:
        return _proposal_response(request, proposal, " ".join(error.messages), 400)
    except ObjectDoesNotExist as error:
        return _proposal_response(request, proposal, str(error), 404)
    return _proposal_response(request, proposal)


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    """Your runs; admins everyone's, filtered by user, status and tool."""
    runs = CopilotRun.objects.visible_to(request.user).select_related("user")
    filters = {key: request.GET.get(key, "").strip()[:254] for key in ("user", "status", "tool")}
    if filters["status"] in RunStatus.values:
        runs = runs.filter(status=filters["status"])
    if filters["tool"]:
        runs = runs.using_tool(filters["tool"])
    if filters["user"] and request.user.is_admin:
        runs = runs.filter(user__email__iexact=filters["user"])
    page = Paginator(runs.order_by("-created_at", "-id"), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "copilot/runs.html",
        {"page": page, "filters": filters, "statuses": RunStatus.choices, "tools": _tool_names()},
    )


def _tool_names() -> list[str]:

    return list(REGISTRY)


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(
        request, "copilot/run.html", _answer_context(_run_with_trace(request, pk), "", request.user)
    )


@login_required
@require_POST
def run_replay(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_with_trace(request, pk)
    planner = request.POST.get("planner") or None
    if planner not in (None, "local", "llm"):
        planner = None
    replay = actions.do_replay_run(run, actor=request.user, planner=planner)
    return redirect("ai:copilot-run", pk=replay.pk)


@login_required
@require_POST
def ticket_from_conversation(request: HttpRequest) -> HttpResponse:
    """A requester confirms the draft the copilot prefilled from their question: a portal ticket."""

    title = request.POST.get("title", "").strip()[:255]
    description = request.POST.get("description", "").strip()[:10000]
    category = (
        Category.objects.filter(pk=request.POST.get("category") or None).first()
        if request.POST.get("category", "").isdigit()
        else None
    )
    if not title:
        messages.error(request, _("A title is required."))
        return redirect("ai:copilot")
    try:
        ticket = do_create_ticket(
            actor=request.user,
            requester=request.user,
            title=title,
            description=description,
            category=category,
            channel=Channel.PORTAL,
        )
    except ValidationError as invalid:
        messages.error(request, " ".join(invalid.messages))
        return redirect("ai:copilot")
    messages.success(request, _("Created %(number)s.") % {"number": ticket.number})
    return redirect("tickets:ticket-detail", pk=ticket.pk)


@login_required
@require_GET
def recommendation_list(request: HttpRequest) -> HttpResponse:
    if request.user.is_requester:
        raise PermissionDenied(_("Recommendations are for the desk."))
    recommendations = Recommendation.objects.open().order_by("-created_at", "-id")[:100]
    return render(request, "copilot/recommendations.html", {"recommendations": recommendations})


@login_required
@require_POST
def recommendation_close(request: HttpRequest, pk: int, status: str) -> HttpResponse:
    recommendation = get_object_or_404(Recommendation, pk=pk)
    try:
        do_close_recommendation(recommendation, actor=request.user, status=status)
    except AlreadyClosed as error:
        messages.info(request, str(error))
    if request.htmx:
        return HttpResponse("")  # the row is removed in place
    return redirect("ai:copilot-recommendations")


def _agent_ticket(request: HttpRequest, pk: int) -> Ticket:
    if not request.user.is_agent:
        raise PermissionDenied(_("Quick fixes are for agents."))
    return _ticket(request, pk)


@login_required
@require_GET
def quick_fix_panel(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _agent_ticket(request, pk)
    fix = quickfix.suggest(ticket, user=request.user)
    template = f"{PARTS}#quick-fix" if request.htmx else "copilot/quick_fix.html"
    return render(request, template, {"ticket": ticket, "fix": fix})


@login_required
@require_POST
def quick_fix_decide(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _agent_ticket(request, pk)
    outcome = request.POST.get("outcome", "")
    try:
        decision = quickfix.do_decide_quick_fix(ticket, actor=request.user, outcome=outcome)
    except quickfix.QuickFixInputError as error:
        return HttpResponse(str(error), status=400)
    fix = quickfix.suggest(ticket, user=request.user)
    context = {"ticket": ticket, "fix": fix, "decision": decision}
    response = render(request, f"{PARTS}#quick-fix", context)
    if decision.outcome == "linked":
        response["HX-Trigger"] = "ticketUpdated"
    return response if request.htmx else redirect("tickets:ticket-detail", pk=ticket.pk)
