"""Admin pages of the webhooks: subscriptions at a glance, deliveries, redelivery by hand."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from integrations.webhooks import actions
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

PAGE_SIZE = 50


def _require_admin(request: HttpRequest) -> None:
    if not request.user.is_admin:
        raise PermissionDenied


@login_required
@require_http_methods(["GET"])
def delivery_list(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    status = request.GET.get("status", "")
    if status and status not in DeliveryStatus.values:
        return HttpResponseBadRequest(
            _("Unknown status %(status)s; use one of %(known)s.")
            % {"status": status, "known": ", ".join(DeliveryStatus.values)}
        )
    deliveries = WebhookDelivery.objects.select_related("subscription").order_by("-created_at", "-id")
    if status:
        deliveries = deliveries.filter(status=status)
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "subscriptions": WebhookSubscription.objects.order_by("name", "id"),
        "page": page,
        "status": status,
        "statuses": DeliveryStatus.choices,
    }
    return render(request, "webhooks/delivery_list.html", context)


@login_required
@require_http_methods(["POST"])
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("subscription"), pk=pk)
    copy, error = None, ""
    try:
        copy = actions.do_redeliver(delivery, actor=request.user)
    except actions.DeliveryNotFinished as problem:
        error = str(problem)
    except ValidationError as problem:
        error = " ".join(problem.messages)
    if request.htmx:
        response = render(
            request,
            "webhooks/delivery_list.html#delivery-row",
            {"delivery": delivery, "redelivered": copy, "error": error},
            status=409 if error else 200,
        )
        if copy is not None:
            trigger_client_event(response, "webhookRedelivered", {"delivery": str(copy.delivery_id)})
        return response
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Delivery queued again as %(id)s.") % {"id": copy.delivery_id})
    return redirect("integrations:webhooks-delivery-list")
