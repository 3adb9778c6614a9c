"""Email API (admins): the inbound log, and a door for mail relayed over HTTP.

``POST /api/integrations/email/inbound/`` takes one raw RFC 822 message, either as the body
with ``Content-Type: message/rfc822`` or as the ``message`` file of a multipart form (an MTA
pipe, an n8n IMAP trigger …), and processes it exactly as ``ingest_email`` does.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.email.actions import do_ingest_email
from integrations.email.models import EmailReceipt, ReceiptStatus
from integrations.email.parsing import NotAnEmail
from integrations.email.serializers import EmailReceiptSerializer, IngestResultSerializer
from itsm.permissions import IsAdmin


class RawMessageParser(parsers.BaseParser):
    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class EmailReceiptFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ReceiptStatus.choices)
    sender = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = EmailReceipt
        fields = ["status", "sender"]


class EmailReceiptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, IsAdmin]
    serializer_class = EmailReceiptSerializer
    filterset_class = EmailReceiptFilter
    queryset = EmailReceipt.objects.select_related("ticket").order_by("-received_at", "-id")
    lookup_value_regex = r"\d+"


@extend_schema(
    request={"message/rfc822": OpenApiTypes.BINARY, "multipart/form-data": OpenApiTypes.OBJECT},
    responses={201: IngestResultSerializer, 200: IngestResultSerializer},
    summary="Process one inbound RFC 822 message",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated, IsAdmin])
@parser_classes([RawMessageParser, parsers.MultiPartParser])
def inbound(request: Request) -> Response:
    if isinstance(request.data, bytes):
        raw = request.data
    else:
        upload = request.FILES.get("message")
        if upload is None:
            return Response(
                {"detail": "Send the message as message/rfc822, or as the 'message' file of a form."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        raw = upload.read()
    try:
        result = do_ingest_email(raw, source="api")
    except NotAnEmail as error:
        return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
    data = IngestResultSerializer(result.receipt).data | {"duplicate": result.duplicate}
    return Response(data, status=status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED)
