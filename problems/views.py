from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from problems import actions, extensions, history
from problems.forms import DismissForm, MergeForm, NoteForm, ProblemEditForm, ProblemForm
from problems.models import IllegalProblemTransition, Problem, ProblemIncident, RecurrenceCandidate
from problems.suggestions import suggestions_for
from tickets.models import Ticket


def get_problem_for_user(request: HttpRequest, pk: int) -> Problem:
    """The problem, with ``visible_links``: only the incidents ``request.user`` may see."""
    problems = Problem.objects.visible_to(request.user).with_incidents_for(request.user)
    return get_object_or_404(problems, pk=pk)


def require_staff_reader(request: HttpRequest) -> None:
    if request.user.is_requester:
        raise Http404


def require_agent(request: HttpRequest) -> None:
    if not request.user.is_agent:
        raise PermissionDenied


@login_required
@require_GET
def problem_list(request: HttpRequest) -> HttpResponse:
    require_staff_reader(request)
    problems = Problem.objects.visible_to(request.user).select_related("team", "category")
    status = request.GET.get("status", "active")
    problems = problems.active() if status == "active" else problems
    return render(request, "problems/problem_list.html", {"problems": problems[:200], "status": status})


@login_required
def problem_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_agent:
        raise PermissionDenied
    form = ProblemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        problem = actions.do_create_problem(actor=request.user, **form.cleaned_data)
        return redirect("problems:problem-detail", problem.pk)
    return render(request, "problems/problem_form.html", {"form": form})


def _detail_context(request: HttpRequest, problem: Problem, **forms: Any) -> dict[str, Any]:
    links = problem.visible_links
    return {
        "problem": problem,
        "form": forms.get("form") or ProblemEditForm(problem=problem),
        "note_form": forms.get("note_form") or NoteForm(),
        "merge_form": forms.get("merge_form") or MergeForm(),
        "links": links,
        "hidden": problem.linked_count - len(links),
        "timeline": history.timeline(problem, request.user),
        "duplicates": list(problem.duplicates.only("pk", "number", "title")),
        "extra_actions": extensions.detail_actions(problem, request.user),
        "suggestions": suggestions_for(problem, request.user),
    }


@login_required
@require_http_methods(["GET", "POST"])
def problem_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_staff_reader(request)
    problem = get_problem_for_user(request, pk)
    form = ProblemEditForm(request.POST or None, problem=problem)
    if request.method == "POST":
        require_agent(request)
        if form.is_valid():
            values = dict(form.cleaned_data)
            try:
                actions.do_update_problem(problem, actor=request.user, **values)
                messages.success(request, _("Problem updated."))
                return redirect("problems:problem-detail", problem.pk)
            except IllegalProblemTransition as error:
                form.add_error("status", error.message)
            except ValidationError as error:
                form.add_error(None, error)
    return render(request, "problems/problem_detail.html", _detail_context(request, problem, form=form))


@login_required
@require_POST
def problem_note(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request)
    problem = get_problem_for_user(request, pk)
    note_form = NoteForm(request.POST)
    if note_form.is_valid():
        actions.do_add_problem_note(problem, actor=request.user, body=note_form.cleaned_data["body"])
        return redirect(reverse("problems:problem-detail", args=[problem.pk]) + "#timeline")
    context = _detail_context(request, problem, note_form=note_form)
    return render(request, "problems/problem_detail.html", context, status=400)


@login_required
@require_POST
def problem_merge(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request)
    problem = get_problem_for_user(request, pk)
    merge_form = MergeForm(request.POST)
    if merge_form.is_valid():
        into = Problem.objects.filter(number__iexact=merge_form.cleaned_data["into"].strip()).first()
        if into is None:
            merge_form.add_error(
                "into", _("No problem %(number)s.") % {"number": merge_form.cleaned_data["into"]}
            )
        else:
            try:
                actions.do_merge_problems(problem, into=into, actor=request.user)
                messages.success(
                    request,
                    _("%(source)s merged into %(into)s.") % {"source": problem.number, "into": into.number},
                )
                return redirect("problems:problem-detail", into.pk)
            except ValidationError as error:
                merge_form.add_error("into", " ".join(error.messages))
    context = _detail_context(request, problem, merge_form=merge_form)
    return render(request, "problems/problem_detail.html", context, status=400)


@login_required
@require_POST
def problem_link(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request)
    problem = get_problem_for_user(request, pk)
    reference = request.POST.get("ticket", "").strip()
    ticket = Ticket.objects.visible_to(request.user).filter(number__iexact=reference).first()
    if ticket is None:
        messages.error(request, _("No ticket %(number)s.") % {"number": reference})
    else:
        try:
            actions.do_link_incident(problem, ticket, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    return _back(request, pk)


@login_required
@require_POST
def problem_unlink(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request)
    problem = get_problem_for_user(request, pk)
    ticket = (
        Ticket.objects.visible_to(request.user)
        .filter(number__iexact=request.POST.get("ticket", "").strip())
        .first()
    )
    if ticket is None or not actions.do_unlink_incident(problem, ticket, actor=request.user):
        messages.error(request, _("That incident is not linked to %(number)s.") % {"number": problem.number})
    return _back(request, pk)


def _back(request: HttpRequest, pk: int) -> HttpResponse:
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("problems:problem-detail", pk)


# --- candidate review ----------------------------------------------------------------------------
@login_required
@require_GET
def candidate_list(request: HttpRequest) -> HttpResponse:
    require_staff_reader(request)
    state = request.GET.get("state", RecurrenceCandidate.State.OPEN)
    if state not in RecurrenceCandidate.State.values:
        state = RecurrenceCandidate.State.OPEN
    candidates = list(
        RecurrenceCandidate.objects.filter(state=state)
        .select_related("problem", "decided_by")
        .prefetch_related(
            Prefetch(
                "tickets",
                queryset=Ticket.objects.visible_to(request.user).order_by("created_at", "id"),
                to_attr="visible_tickets",
            )
        )
        .order_by("-updated_at", "-id")[:100]
    )
    context = {
        "candidates": candidates,
        "state": state,
        "states": RecurrenceCandidate.State.choices,
        "dismiss_form": DismissForm(),
    }
    return render(request, "problems/candidate_list.html", context)


@login_required
@require_POST
def candidate_promote(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request)
    candidate = get_object_or_404(RecurrenceCandidate, pk=pk)
    try:
        problem = actions.do_promote_candidate(candidate, actor=request.user)
    except (actions.CandidateDecided, ValidationError) as error:
        messages.error(request, getattr(error, "message", None) or " ".join(error.messages))
        return redirect("problems:candidate-list")
    messages.success(request, _("%(number)s opened.") % {"number": problem.number})
    return redirect("problems:problem-detail", problem.pk)


@login_required
@require_POST
def candidate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request)
    candidate = get_object_or_404(RecurrenceCandidate, pk=pk)
    form = DismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the candidate is dismissed."))
        return redirect("problems:candidate-list")
    try:
        actions.do_dismiss_candidate(candidate, actor=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, _("Candidate dismissed."))
    except (actions.CandidateDecided, ValidationError) as error:
        messages.error(request, getattr(error, "message", None) or " ".join(error.messages))
    return redirect("problems:candidate-list")


@login_required
@require_GET
def ticket_problem_panel(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """The problem panel of the ticket page (registered in tickets.extensions)."""
    ticket = get_object_or_404(Ticket.objects.visible_to(request.user), pk=ticket_pk)
    if not request.user.is_agent and not request.user.is_viewer:
        raise Http404
    link = ProblemIncident.objects.select_related("problem").filter(ticket=ticket).first()
    open_problems = Problem.objects.active().order_by("-created_at")[:20] if link is None else []
    # Known errors whose title resembles the ticket's: their workaround may help right away.
    known_errors = list(Problem.objects.known_errors().resembling(ticket.title)[:3]) if link is None else []
    return render(
        request,
        "problems/_ticket_panel.html",
        {"ticket": ticket, "link": link, "open_problems": open_problems, "known_errors": known_errors},
    )
