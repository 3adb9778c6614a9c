"""Approvals API: what waits for my decision, what I asked for, approve, reject, withdraw.

    GET  /api/approvals/?scope=to_decide|asked_by_me&status=&kind=&target_type=&target_id=
    GET  /api/approvals/{id}/
    POST /api/approvals/{id}/approve/   {"comment": "…"}
    POST /api/approvals/{id}/reject/    {"comment": "…"}   (a comment is required)
    POST /api/approvals/{id}/cancel/    {"reason": "…"}    (the requester or an admin)

Refusals are JSON ``{"detail": …}``: 403 not an approver or one's own request, 409 already
decided by this approver or no longer pending (decided, expired, withdrawn).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.approvals import actions
from itsm.approvals.models import ApprovalError, ApprovalRequest, ApprovalStatus, DecisionChannel
from itsm.approvals.serializers import ApprovalSerializer, CancelInputSerializer, DecisionInputSerializer
from itsm.approvals.views import approvals_for

SCOPES = ("to_decide", "asked_by_me")
REFUSED = {
    403: OpenApiResponse(description="Not an approver, or one's own request."),
    404: OpenApiResponse(description="No such approval visible to the caller."),
    409: OpenApiResponse(description="Already decided by this approver, or no longer pending."),
}


@extend_schema_view(
    list=extend_schema(
        summary="Approvals I may see: to decide, asked by me, or (admins) all",
        parameters=[
            OpenApiParameter("scope", OpenApiTypes.STR, enum=list(SCOPES)),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(ApprovalStatus.values)),
            OpenApiParameter("kind", OpenApiTypes.STR),
            OpenApiParameter("target_type", OpenApiTypes.STR, description="app_label.model"),
            OpenApiParameter("target_id", OpenApiTypes.INT),
        ],
    ),
    retrieve=extend_schema(summary="One approval with its approvers and decisions"),
)
class ApprovalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ApprovalSerializer
    queryset = ApprovalRequest.objects.none()

    def get_queryset(self) -> QuerySet[ApprovalRequest]:
        user = self.request.user
        queryset = approvals_for(user)
        if self.action != "list":
            return queryset
        params = self.request.query_params
        scope = params.get("scope", "")
        if scope and scope not in SCOPES:
            raise ValidationError({"scope": f"Use one of: {', '.join(SCOPES)}."})
        if scope == "to_decide":
            queryset = queryset.awaiting_decision_by(user)
        elif scope == "asked_by_me":
            queryset = queryset.asked_by(user)
        if params.get("status"):
            if params["status"] not in ApprovalStatus.values:
                raise ValidationError({"status": f"Use one of: {', '.join(ApprovalStatus.values)}."})
            queryset = queryset.filter(status=params["status"])
        if params.get("kind"):
            queryset = queryset.filter(kind=params["kind"])
        if params.get("target_type"):
            app_label, _, model = params["target_type"].lower().partition(".")
            queryset = queryset.filter(target_type__app_label=app_label, target_type__model=model)
        if params.get("target_id"):
            if not params["target_id"].isdigit():
                raise ValidationError({"target_id": "An integer id."})
            queryset = queryset.filter(target_id=int(params["target_id"]))
        return queryset.order_by("-created_at", "-id")

    def _decided(self, request: Request, approve: bool) -> Response:
        approval = self.get_object()
        data = DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            actions.do_decide_approval(
                approval,
                actor=request.user,
                approve=approve,
                comment=data.validated_data["comment"],
                channel=DecisionChannel.API,
            )
        except ApprovalError as error:
            return Response({"detail": error.message}, status=error.status_code)
        return self._fresh(approval)

    def _fresh(self, approval: ApprovalRequest) -> Response:
        fresh = approvals_for(self.request.user).get(pk=approval.pk)
        return Response(self.get_serializer(fresh).data)

    @extend_schema(request=DecisionInputSerializer, responses={200: ApprovalSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: Any = None) -> Response:
        return self._decided(request, approve=True)

    @extend_schema(
        request=DecisionInputSerializer,
        responses={200: ApprovalSerializer, 400: OpenApiResponse(description="No comment."), **REFUSED},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        return self._decided(request, approve=False)

    @extend_schema(request=CancelInputSerializer, responses={200: ApprovalSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        approval = self.get_object()
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            actions.do_cancel_approval(approval, actor=request.user, reason=data.validated_data["reason"])
        except ApprovalError as error:
            return Response({"detail": error.message}, status=error.status_code)
        return self._fresh(approval)
