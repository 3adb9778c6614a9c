from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changes import actions
from changes import conflicts as conflict_rules
from changes.forms import AcceptConflictsForm, ChangeForm, TransitionForm
from changes.models import CHANGE_TRANSITIONS, ChangeError, ChangeEvent, ChangeRequest, ChangeStatus
from itsm.approvals.views import approvals_for, card_context
from itsm.models import AutomationEvent
from tickets.models import Ticket


def require_staff_reader(request: HttpRequest) -> None:
    if request.user.is_requester:
        raise Http404


def require_agent(request: HttpRequest) -> None:
    if not request.user.is_agent:
        raise PermissionDenied


def changes_for(user: Any) -> Any:
    return ChangeRequest.objects.visible_to(user).select_related("team", "assignee")


def get_change_for_user(request: HttpRequest, pk: int) -> ChangeRequest:
    require_staff_reader(request)
    visible = Ticket.objects.visible_to(request.user).order_by("number")
    change = get_object_or_404(
        changes_for(request.user).prefetch_related(
            conflict_rules.with_items(),
            "problems",
            Prefetch("incidents", queryset=visible, to_attr="visible_incidents"),
        ),
        pk=pk,
    )
    return change


@login_required
@require_GET
def change_list(request: HttpRequest) -> HttpResponse:
    require_staff_reader(request)
    changes = changes_for(request.user)
    status = request.GET.get("status", "open")
    if status == "open":
        changes = changes.exclude(status__in=[ChangeStatus.CLOSED, ChangeStatus.CANCELLED])
    elif status in ChangeStatus.values:
        changes = changes.filter(status=status)
    return render(
        request,
        "changes/change_list.html",
        {"changes": changes[:200], "status": status, "statuses": ChangeStatus.choices},
    )


def _save_values(form: ChangeForm) -> dict[str, Any]:
    return dict(form.cleaned_data)


@login_required
@require_http_methods(["GET", "POST"])
def change_create(request: HttpRequest) -> HttpResponse:
    require_staff_reader(request)
    require_agent(request)
    form = ChangeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            change = actions.do_create_change(actor=request.user, **_save_values(form))
            return redirect("changes:change-detail", change.pk)
        except ValidationError as error:
            form.add_error(None, error)
    return render(request, "changes/change_form.html", {"form": form}, status=400 if form.errors else 200)


def _detail_context(request: HttpRequest, change: ChangeRequest, **extra: Any) -> dict[str, Any]:
    found = conflict_rules.conflicts_of(change)
    accepted = set(change.overridden_conflicts or [])
    approvals = list(
        approvals_for(request.user)
        .for_target(change)
        .filter(kind=actions.APPROVAL_KIND)
        .order_by("-created_at", "-id")[:5]
    )
    events = AutomationEvent.objects.filter(
        subject_type="change_request", subject_id=str(change.pk)
    ).order_by("-created_at", "-id")[:50]
    return {
        "change": change,
        "conflicts": [(conflict, conflict.key in accepted) for conflict in found],
        "blocking": [c for c in found if c.key not in accepted],
        "cards": [card_context(approval, request.user) for approval in approvals],
        "transitions": [(value, ChangeStatus(value).label) for value in CHANGE_TRANSITIONS[change.status]],
        "form": extra.pop("form", None)
        or (
            ChangeForm(user=request.user, change=change)
            if change.status in actions.EDITABLE_STATUSES
            else None
        ),
        "accept_form": extra.pop("accept_form", None) or AcceptConflictsForm(),
        "transition_form": TransitionForm(),
        "events": history(events),
        "caused": list(change.incidents_during(request.user)[:20]),
        **extra,
    }


def history(events: Any) -> list[dict[str, Any]]:
    """The change's history as people read it: each entry's label and the statuses' names, in
    the reader's language (an entry this page does not know shows its action name)."""
    labels = dict(ChangeEvent.choices)
    statuses = dict(ChangeStatus.choices)
    rows = []
    for event in events:
        before = (event.before or {}).get("status") or ""
        after = (event.after or {}).get("status") or ""
        rows.append(
            {
                "event": event,
                "label": labels.get(event.action, event.action),
                "from": statuses.get(before, before),
                "to": statuses.get(after, after),
            }
        )
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request, pk)
    if request.method == "GET":
        return render(request, "changes/change_detail.html", _detail_context(request, change))
    require_agent(request)
    form = ChangeForm(request.POST, user=request.user, change=change)
    if form.is_valid():
        try:
            actions.do_update_change(change, actor=request.user, **_save_values(form))
            messages.success(request, _("Change saved."))
            return redirect("changes:change-detail", change.pk)
        except ValidationError as error:
            form.add_error(None, error)
        except ChangeError as error:
            form.add_error(None, error.message)
    change = get_change_for_user(request, pk)
    return render(
        request, "changes/change_detail.html", _detail_context(request, change, form=form), status=400
    )


@login_required
@require_POST
def change_transition(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request, pk)
    require_agent(request)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid move."))
        return redirect("changes:change-detail", change.pk)
    try:
        actions.do_transition_change(
            change,
            form.cleaned_data["status"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
            outcome=form.cleaned_data["outcome"],
            resolve_problems=form.cleaned_data["resolve_problems"],
        )
        messages.success(request, _("Change updated."))
    except ChangeError as error:
        messages.error(request, error.message)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("changes:change-detail", change.pk)


@login_required
@require_POST
def change_accept_conflicts(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request, pk)
    require_agent(request)
    form = AcceptConflictsForm(request.POST)
    if form.is_valid():
        try:
            actions.do_accept_conflicts(change, actor=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, _("Conflicts accepted."))
            return redirect("changes:change-detail", change.pk)
        except ValidationError as error:
            form.add_error("reason", " ".join(error.messages))
    context = _detail_context(request, change, accept_form=form)
    return render(request, "changes/change_detail.html", context, status=400)


# --- calendar -----------------------------------------------------------------------------------
def calendar_range(view: str, anchor: date) -> tuple[date, date]:
    if view == "month":
        first = anchor.replace(day=1)
        start = first - timedelta(days=first.weekday())
        following = (first + timedelta(days=32)).replace(day=1)
        end = following + timedelta(days=(7 - following.weekday()) % 7)
        return start, end
    start = anchor - timedelta(days=anchor.weekday())
    return start, start + timedelta(days=7)


def calendar_changes(user: Any, start: datetime, end: datetime) -> list[ChangeRequest]:
    """Planned changes overlapping the range, with their items, in two queries (bounded)."""
    return list(
        changes_for(user)
        .planned()
        .overlapping(start, end)
        .prefetch_related(conflict_rules.with_items())
        .order_by("planned_start", "id")[:500]
    )


@login_required
@require_GET
def change_calendar(request: HttpRequest) -> HttpResponse:
    require_staff_reader(request)
    view = request.GET.get("view", "week")
    if view not in ("week", "month"):
        view = "week"
    try:
        anchor = (
            date.fromisoformat(request.GET.get("date", ""))
            if request.GET.get("date")
            else timezone.localdate()
        )
    except ValueError:
        return render(
            request, "changes/calendar.html", {"error": _("Give the date as YYYY-MM-DD.")}, status=400
        )
    first, last = calendar_range(view, anchor)
    zone = timezone.get_current_timezone()
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last, time.min, tzinfo=zone)
    changes = calendar_changes(request.user, start, end)
    found = conflict_rules.conflicts_among(changes)
    days = []
    day = first
    while day < last:
        day_start = datetime.combine(day, time.min, tzinfo=zone)
        day_end = day_start + timedelta(days=1)
        days.append(
            {
                "date": day,
                "in_month": view == "week" or day.month == anchor.month,
                "changes": [
                    (change, bool(conflict_rules.unaccepted(change, found.get(change.pk, []))))
                    for change in changes
                    if change.planned_start < day_end and change.planned_end > day_start
                ],
            }
        )
        day += timedelta(days=1)
    step = timedelta(days=7) if view == "week" else timedelta(days=31)
    context = {
        "view": view,
        "anchor": anchor,
        "weeks": [days[index : index + 7] for index in range(0, len(days), 7)],
        "previous": (anchor - step).replace(day=1) if view == "month" else anchor - step,
        "next": (anchor.replace(day=1) + step).replace(day=1) if view == "month" else anchor + step,
        "today": timezone.localdate(),
        "conflicted": sum(
            1 for change in changes if conflict_rules.unaccepted(change, found.get(change.pk, []))
        ),
    }
    return render(request, "changes/calendar.html", context)
