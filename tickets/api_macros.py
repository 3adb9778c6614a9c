"""``/api/macros/``: the macros an agent may use (CRUD); applying one is
``POST /api/tickets/{id}/apply-macro/`` (``tickets.api``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.parsers import JSONParser
from tickets import actions
from tickets.api import REFUSED, DomainErrorsMixin, require_agent
from tickets.models import Macro
from tickets.serializers import MacroInputSerializer, MacroSerializer


@extend_schema_view(
    list=extend_schema(summary="The macros you may use: shared, your teams', your own"),
    retrieve=extend_schema(summary="A macro"),
    destroy=extend_schema(
        summary="Delete a macro (yours; shared ones by admins)", responses={204: None, **REFUSED}
    ),
)
class MacroViewSet(
    DomainErrorsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MacroSerializer
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Macro]:
        if getattr(self, "swagger_fake_view", False):
            return Macro.objects.none()
        require_agent(self.request, "Macros are for agents.")
        return (
            Macro.objects.available_to(self.request.user)
            .select_related("owner", "team", "set_assignee", "set_team")
            .order_by("name", "id")
        )

    def _saved(self, macro: Macro, code: int = status.HTTP_200_OK) -> Response:
        return Response(MacroSerializer(self.get_queryset().get(pk=macro.pk)).data, status=code)

    @extend_schema(
        summary="Create a macro (personal by default; team needs membership, shared needs an admin)",
        request=MacroInputSerializer,
        responses={201: MacroSerializer, **REFUSED},
    )
    def create(self, request: Request) -> Response:
        require_agent(request, "Macros are for agents.")
        data = MacroInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        macro = actions.do_save_macro(None, dict(data.validated_data), actor=request.user)
        return self._saved(macro, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a macro (only the fields given)",
        request=MacroInputSerializer,
        responses={200: MacroSerializer, **REFUSED},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        macro = self.get_object()
        data = MacroInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        macro = actions.do_save_macro(macro, dict(data.validated_data), actor=request.user)
        return self._saved(macro)

    def perform_destroy(self, instance: Macro) -> None:
        actions.do_delete_macro(instance, actor=self.request.user)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)
