"""SLA API: a ticket's clocks, the sweep (and its dry run), Jira sync, advisory risk, KPIs, policies."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.api import ErrorSerializer
from itsm.permissions import IsAgent
from sla import actions, sync
from sla.models import ClockState, Metric, SLAPolicy, TicketSLA
from sla.serializers import (
    SLAPolicySerializer,
    SLARiskEvaluationSerializer,
    SLARunInputSerializer,
    SLAStatsQuerySerializer,
    SLAStatsSerializer,
    SLASweepReportSerializer,
    SLASyncResultSerializer,
    TicketSLASerializer,
)
from sla.sweep import run_sweep
from tickets.models import Priority, Ticket


class CanReadSLA(permissions.BasePermission):
    """Agents, admins and viewers; requesters see their tickets, not the desk's clocks."""

    message = "SLA details need an agent, admin or viewer account."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_agent or user.is_viewer))


class PolicyPermission(permissions.BasePermission):
    """Agents and viewers read the policies; admins change them."""

    message = "Changing SLA policies needs an admin account."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return user.is_agent or user.is_viewer
        return user.is_admin


def clock_data(clock: TicketSLA | None, metric: str, now: datetime) -> dict[str, object]:
    if clock is None:
        return {
            "metric": metric,
            "status": "unknown",
            "state": None,
            "due_at": None,
            "remaining_seconds": None,
            "paused_seconds": 0,
            "paused_since": None,
            "started_at": None,
            "stopped_at": None,
            "breached_at": None,
            "target_seconds": None,
            "escalation_level": 0,
            "source": None,
            "policy": None,
        }
    paused = clock.paused_seconds
    if clock.is_paused:
        paused += int((now - clock.paused_since).total_seconds())
    return {
        "metric": metric,
        "status": clock.status_at(now),
        "state": clock.state,
        "due_at": clock.due_at,
        "remaining_seconds": clock.remaining_seconds(now),
        "paused_seconds": paused,
        "paused_since": clock.paused_since if clock.is_paused else None,
        "started_at": clock.started_at,
        "stopped_at": clock.stopped_at,
        "breached_at": clock.breached_at,
        "target_seconds": clock.target_seconds,
        "escalation_level": clock.escalation_level,
        "source": clock.source,
        "policy": clock.policy.name if clock.policy_id else None,
    }


def clocks_data(ticket: Ticket, now: datetime) -> list[dict[str, object]]:
    clocks = {clock.metric: clock for clock in ticket.sla_clocks.select_related("policy")}
    return [clock_data(clocks.get(metric), metric, now) for metric in Metric.values]


def _ticket(request: Request, pk: int) -> Ticket:
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


@extend_schema(responses=TicketSLASerializer, summary="The SLA clocks of a ticket")
@api_view(["GET"])
@permission_classes([CanReadSLA])
def ticket_sla(request: Request, pk: int) -> Response:
    ticket = _ticket(request, pk)
    data = {"ticket": ticket.pk, "number": ticket.number, "clocks": clocks_data(ticket, timezone.now())}
    return Response(TicketSLASerializer(data).data)


@extend_schema(
    request=None,
    responses={
        200: SLASyncResultSerializer,
        409: OpenApiResponse(ErrorSerializer, description="The ticket is not linked to Jira."),
        503: OpenApiResponse(ErrorSerializer, description="Jira did not answer; try again later."),
    },
    summary="Take the ticket's SLA clocks from Jira",
)
@api_view(["POST"])
@permission_classes([IsAgent])
def ticket_sync(request: Request, pk: int) -> Response:
    ticket = _ticket(request, pk)
    try:
        applied = sync.sync_ticket(ticket)
    except sync.NotLinked as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    except sync.SyncUnavailable as error:
        return Response(
            {"detail": f"The remote system is unavailable: {error}"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    data = {"ticket": ticket.pk, "synced": len(applied), "clocks": clocks_data(ticket, timezone.now())}
    return Response(SLASyncResultSerializer(data).data)


@extend_schema(responses=SLARiskEvaluationSerializer, summary="The latest advisory breach-risk evaluation")
@api_view(["GET"])
@permission_classes([CanReadSLA])
def ticket_risk_latest(request: Request, pk: int) -> Response:
    ticket = _ticket(request, pk)
    evaluation = ticket.sla_risk_evaluations.order_by("-created_at", "-pk").first()
    if evaluation is None:
        return Response(
            {"detail": f"{ticket.number} has no risk evaluation yet."}, status=status.HTTP_404_NOT_FOUND
        )
    return Response(SLARiskEvaluationSerializer(evaluation).data)


@extend_schema(
    request=SLARunInputSerializer,
    responses=SLASweepReportSerializer,
    summary="Run the SLA sweep now (dry_run: report, change nothing)",
)
@api_view(["POST"])
@permission_classes([IsAgent])
def run(request: Request) -> Response:
    serializer = SLARunInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    dry_run = serializer.validated_data["dry_run"]
    if not dry_run and not request.user.is_admin:
        raise PermissionDenied("A real run needs an admin account; agents may ask for a dry run.")
    report = run_sweep(dry_run=dry_run).as_dict()
    # The counts cover every clock; the listed actions only tickets the caller may see.
    ids = {action["ticket_id"] for action in report["actions"]}
    visible = set(Ticket.objects.visible_to(request.user).filter(pk__in=ids).values_list("pk", flat=True))
    report["actions"] = [action for action in report["actions"] if action["ticket_id"] in visible]
    return Response(SLASweepReportSerializer(report).data)


def _rate(row: dict[str, int]) -> dict[str, object]:
    outcome = row["with_outcome"]
    return {**row, "breach_rate": round(row["breached"] / outcome, 4) if outcome else None}


COUNTS = {
    "clocks": Count("id"),
    "with_outcome": Count("id", filter=Q(stopped_at__isnull=False) | Q(breached_at__isnull=False)),
    "breached": Count("id", filter=Q(breached_at__isnull=False)),
    "met": Count("id", filter=Q(stopped_at__isnull=False, breached_at__isnull=True)),
}


@extend_schema(
    parameters=[SLAStatsQuerySerializer],
    responses=SLAStatsSerializer,
    summary="First-response and resolution breach rates (tickets created in the period)",
)
@api_view(["GET"])
@permission_classes([CanReadSLA])
def stats(request: Request) -> Response:
    query = SLAStatsQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    since, until = query.validated_data.get("since"), query.validated_data.get("until")
    clocks = TicketSLA.objects.filter(ticket__in=Ticket.objects.visible_to(request.user).values("pk"))
    if since:
        clocks = clocks.filter(ticket__created_at__date__gte=since)
    if until:
        clocks = clocks.filter(ticket__created_at__date__lte=until)
    # One grouped query for everything: per metric and priority, summed up per metric here.
    empty = {"clocks": 0, "with_outcome": 0, "breached": 0, "met": 0}
    by_priority: dict[str, dict[str, dict[str, int]]] = {
        priority: {metric: dict(empty) for metric in Metric.values} for priority in Priority.values
    }
    totals = {metric: dict(empty) for metric in Metric.values}
    for row in clocks.values("metric", "ticket__priority").annotate(**COUNTS).order_by():
        for key in empty:
            by_priority[row["ticket__priority"]][row["metric"]][key] = row[key]
            totals[row["metric"]][key] += row[key]
    now_counts = clocks.aggregate(
        at_risk_now=Count("id", filter=Q(state=ClockState.AT_RISK)),
        breached_open_now=Count("id", filter=Q(state=ClockState.BREACHED, stopped_at__isnull=True)),
    )
    data = {
        "since": since,
        "until": until,
        "first_response": _rate(totals[Metric.RESPONSE]),
        "resolution": _rate(totals[Metric.RESOLUTION]),
        "by_priority": {
            priority: {
                "first_response": _rate(rows[Metric.RESPONSE]),
                "resolution": _rate(rows[Metric.RESOLUTION]),
            }
            for priority, rows in by_priority.items()
        },
        **now_counts,
    }
    return Response(SLAStatsSerializer(data).data)


class SLAPolicyViewSet(viewsets.ModelViewSet):
    """SLA policies with their escalation chains. Bad input is refused by the same model rules
    as the admin form (clean()), with field errors."""

    serializer_class = SLAPolicySerializer
    permission_classes = [PolicyPermission]
    queryset = (
        SLAPolicy.objects.select_related("calendar").prefetch_related("escalation_steps").order_by("pk")
    )

    def perform_create(self, serializer: SLAPolicySerializer) -> None:
        values = dict(serializer.validated_data)
        steps = values.pop("escalation_steps", None)
        serializer.instance = actions.do_save_policy(values=values, steps=steps)

    def perform_update(self, serializer: SLAPolicySerializer) -> None:
        values = dict(serializer.validated_data)
        steps = values.pop("escalation_steps", None)
        serializer.instance = actions.do_save_policy(values=values, steps=steps, instance=serializer.instance)
