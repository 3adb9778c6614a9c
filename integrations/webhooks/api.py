"""Webhook API (admins): ``/api/webhooks/`` subscriptions, ``/api/webhooks/deliveries/``."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.webhooks import actions
from integrations.webhooks.events import Event
from integrations.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from integrations.webhooks.serializers import (
    WebhookDeliveryDetailSerializer,
    WebhookDeliverySerializer,
    WebhookSubscriptionSerializer,
)
from itsm.api import ErrorSerializer
from itsm.permissions import IsAdmin


class WebhookSubscriptionViewSet(viewsets.ModelViewSet):
    """Who receives which events. Admins only."""

    permission_classes = [IsAuthenticated, IsAdmin]
    serializer_class = WebhookSubscriptionSerializer
    queryset = WebhookSubscription.objects.order_by("name", "id")
    lookup_value_regex = r"\d+"

    def perform_create(self, serializer: WebhookSubscriptionSerializer) -> None:
        serializer.save(created_by=self.request.user)

    def perform_update(self, serializer: WebhookSubscriptionSerializer) -> None:
        serializer.save(updated_at=timezone.now())

    @extend_schema(
        request=None, responses=WebhookSubscriptionSerializer, summary="Replace the signing secret"
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        subscription.rotate_secret()
        return Response(self.get_serializer(subscription).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer}, summary="Send a ping event once")
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: str | None = None) -> Response:
        delivery = actions.do_ping_subscription(self.get_object(), actor=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event = django_filters.ChoiceFilter(choices=[*Event.choices, ("ping", "ping")])
    subscription = django_filters.ModelChoiceFilter(queryset=WebhookSubscription.objects.all())
    trace_id = django_filters.UUIDFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event", "subscription", "trace_id"]


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every delivery with its attempts; ``redeliver`` sends a finished one again. Admins only."""

    permission_classes = [IsAuthenticated, IsAdmin]
    filterset_class = WebhookDeliveryFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        queryset = WebhookDelivery.objects.select_related("subscription", "redelivery_of").order_by(
            "-created_at", "-id"
        )
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
            )
        return queryset

    def get_serializer_class(self):
        return WebhookDeliveryDetailSerializer if self.action == "retrieve" else WebhookDeliverySerializer

    @extend_schema(
        request=None,
        responses={
            201: WebhookDeliverySerializer,
            409: OpenApiResponse(ErrorSerializer, description="The delivery is not finished yet."),
        },
        summary="Send a finished delivery again (as a new delivery)",
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str | None = None) -> Response:
        try:
            copy = actions.do_redeliver(self.get_object(), actor=request.user)
        except actions.DeliveryNotFinished as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(WebhookDeliverySerializer(copy).data, status=status.HTTP_201_CREATED)
