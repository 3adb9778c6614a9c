"""``/api/catalog/``: the service catalog, and requesting an item.

    GET  /api/catalog/                 active items with their form definition
    GET  /api/catalog/{slug}/
    POST /api/catalog/{slug}/request/  {"answers": {"field": value, …}}

The answers are checked by the same form as the portal's (required fields, types, choices,
limits); unknown fields are refused. An item that requires approval answers 201 with the
ticket in ``pending_approval`` and ``approval`` naming the request its approvers decide
(``/api/approvals/{id}/approve/`` …).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.approvals.models import ApprovalRequest
from itsm.parsers import JSONParser
from itsm.permissions import ReadOnlyForViewers
from tickets.actions.catalog import do_request_catalog_item
from tickets.api import REFUSED, DomainErrorsMixin
from tickets.forms import CatalogRequestForm
from tickets.models import CATALOG_APPROVAL_KIND, CatalogItem, Channel, Ticket
from tickets.serializers import TicketSerializer


class CatalogItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogItem
        fields = ["id", "slug", "name", "description", "fields", "requires_approval"]


class CatalogRequestInputSerializer(serializers.Serializer):
    answers = serializers.DictField(required=False, default=dict)


class CatalogRequestSerializer(serializers.Serializer):
    ticket = TicketSerializer()
    approval = inline_serializer(
        "CatalogRequestApproval",
        fields={"id": serializers.IntegerField(), "status": serializers.CharField()},
        allow_null=True,
    )


def form_errors(form: CatalogRequestForm) -> dict[str, list[str]]:
    """The form's errors keyed by the answer names the caller sent (``field_x`` → ``x``)."""
    return {
        (name.removeprefix("field_") if name != "__all__" else "answers"): [
            str(message) for message in messages
        ]
        for name, messages in form.errors.items()
    }


@extend_schema_view(
    list=extend_schema(summary="The service catalog: active items and their forms"),
    retrieve=extend_schema(summary="One catalog item"),
)
class CatalogViewSet(
    DomainErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CatalogItemSerializer
    permission_classes = [ReadOnlyForViewers]
    parser_classes = [JSONParser]
    lookup_field = "slug"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[CatalogItem]:
        return CatalogItem.objects.filter(active=True).select_related("default_category", "default_team")

    @extend_schema(
        summary="Request a catalog item (waits in pending_approval when the item requires approval)",
        request=CatalogRequestInputSerializer,
        responses={201: CatalogRequestSerializer, **REFUSED},
    )
    @action(detail=True, methods=["post"], url_path="request")
    def request_item(self, request: Request, slug: str | None = None) -> Response:
        item = self.get_object()
        data = CatalogRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answers: dict[str, Any] = data.validated_data["answers"]
        try:
            form = CatalogRequestForm({f"field_{name}": value for name, value in answers.items()}, item=item)
        except DjangoValidationError as error:
            raise exceptions.ValidationError(
                {"detail": "This catalog item's form is broken; ask an admin."}
            ) from error
        known = {definition.name for definition in form.definitions}
        unknown = sorted(set(answers) - known)
        if unknown:
            raise exceptions.ValidationError(
                {
                    "answers": [
                        f"Unknown field(s): {', '.join(unknown)}. Known: {', '.join(sorted(known)) or 'none'}."
                    ]
                }
            )
        if not form.is_valid():
            raise exceptions.ValidationError(form_errors(form))
        try:
            ticket = do_request_catalog_item(
                item,
                actor=request.user,
                description=form.description(),
                answers=form.answers(),
                channel=Channel.API,
            )
        except DjangoValidationError as error:
            raise exceptions.ValidationError(
                error.message_dict if hasattr(error, "error_dict") else error.messages
            ) from error
        approval = (
            ApprovalRequest.objects.for_target(ticket)
            .filter(kind=CATALOG_APPROVAL_KIND)
            .values("id", "status")
            .first()
        )
        related = ("requester", "assignee", "team", "category", "organisation")
        fresh = Ticket.objects.select_related(*related).get(pk=ticket.pk)
        return Response(
            {"ticket": TicketSerializer(fresh).data, "approval": approval}, status=status.HTTP_201_CREATED
        )
