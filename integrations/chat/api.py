"""Chat API (admins): ``/api/integrations/chat/channels/`` and ``/messages/``."""

from __future__ import annotations

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.chat import actions
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage, MessageStatus
from integrations.chat.serializers import ChatChannelSerializer, ChatMessageSerializer
from itsm.permissions import IsAdmin


class ChatChannelViewSet(viewsets.ModelViewSet):
    permission_classes = [IsAuthenticated, IsAdmin]
    serializer_class = ChatChannelSerializer
    queryset = ChatChannel.objects.order_by("name", "id")
    lookup_value_regex = r"\d+"

    def perform_update(self, serializer: ChatChannelSerializer) -> None:
        serializer.save(updated_at=timezone.now())

    @extend_schema(request=None, responses={202: ChatMessageSerializer}, summary="Post a test message")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        message = actions.do_send_test_message(self.get_object(), actor=request.user)
        return Response(ChatMessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)


class ChatMessageFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MessageStatus.choices)
    channel = django_filters.ModelChoiceFilter(queryset=ChatChannel.objects.all())
    kind = django_filters.ChoiceFilter(field_name="channel__kind", choices=ChannelKind.choices)
    event = django_filters.CharFilter()

    class Meta:
        model = ChatMessage
        fields = ["status", "channel", "kind", "event"]


class ChatMessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, IsAdmin]
    serializer_class = ChatMessageSerializer
    filterset_class = ChatMessageFilter
    queryset = ChatMessage.objects.select_related("channel").order_by("-created_at", "-id")
    lookup_value_regex = r"\d+"

    @extend_schema(request=None, responses=ChatMessageSerializer, summary="Send a failed message again")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        message = actions.do_retry_chat_message(self.get_object(), actor=request.user)
        return Response(ChatMessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)
