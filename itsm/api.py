"""Platform API: the caller's identity, and the JSON error shape every endpoint shares."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorSerializer(serializers.Serializer):
    """The body of every API error that is not field errors."""

    detail = serializers.CharField()


class StateConflictSerializer(ErrorSerializer):
    """A 409 about something not in the state the request needs (``status`` says which it is in)."""

    status = serializers.CharField()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    role = serializers.CharField()
    organisation = serializers.CharField(allow_null=True)
    teams = TeamRefSerializer(many=True)
    language = serializers.CharField()


@extend_schema(responses=MeSerializer, summary="The authenticated caller")
@api_view(["GET"])
def me(request: Request) -> Response:
    user = request.user
    data = {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "organisation": user.organisation.name if user.organisation_id else None,
        "teams": [{"id": team.pk, "name": team.name} for team in user.teams.order_by("name")],
        "language": user.language,
    }
    return Response(MeSerializer(data).data)


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "request_too_large"


def too_large_message() -> str:
    return (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE); nothing was read."
    )


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus Django's own errors turned into JSON 4xx instead of HTML or 500."""
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(too_large_message())
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ValidationError({"detail": str(exc)})
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError()
    elif isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    return drf_exception_handler(exc, context)
