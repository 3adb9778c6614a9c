from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from problems import actions
from problems.forms import ProblemForm, ProblemUpdateForm
from problems.models import IllegalProblemTransition, Problem, ProblemIncident
from tickets.models import Ticket


def get_problem_for_user(request: HttpRequest, pk: int) -> Problem:
    """The problem, with ``visible_links``: only the incidents ``request.user`` may see."""
    problems = Problem.objects.visible_to(request.user).with_incidents_for(request.user)
    return get_object_or_404(problems, pk=pk)


def require_staff_reader(request: HttpRequest) -> None:
    if request.user.is_requester:
        raise Http404


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


@login_required
def problem_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_staff_reader(request)
    problem = get_problem_for_user(request, pk)
    form = ProblemUpdateForm(request.POST or None, problem=problem)
    if request.method == "POST":
        if not request.user.is_agent:
            raise PermissionDenied
        if form.is_valid():
            try:
                actions.do_transition_problem(problem, actor=request.user, **form.cleaned_data)
                messages.success(request, _("Problem updated."))
                return redirect("problems:problem-detail", problem.pk)
            except IllegalProblemTransition as error:
                form.add_error("status", error.message)
    links = problem.visible_links
    context = {"problem": problem, "form": form, "links": links, "hidden": problem.linked_count - len(links)}
    return render(request, "problems/problem_detail.html", context)


@login_required
@require_POST
def problem_link(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.is_agent:
        raise PermissionDenied
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
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("problems:problem-detail", pk)


@login_required
@require_GET
def ticket_problem_panel(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    """The problem panel of the ticket page (registered in tickets.extensions)."""
    ticket = get_object_or_404(Ticket.objects.visible_to(request.user), pk=ticket_pk)
    if not request.user.is_agent and not request.user.is_viewer:
        raise Http404
    link = ProblemIncident.objects.select_related("problem").filter(ticket=ticket).first()
    open_problems = Problem.objects.active().order_by("-created_at")[:20] if link is None else []
    return render(
        request,
        "problems/_ticket_panel.html",
        {"ticket": ticket, "link": link, "open_problems": open_problems},
    )
