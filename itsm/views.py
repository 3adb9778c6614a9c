from __future__ import annotations

import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from itsm import health
from itsm.analytics import metrics as exposition
from itsm.analytics.home import sections_for
from itsm.api import too_large_message
from itsm.middleware import database_unavailable, is_database_unavailable
from itsm.models import Notification


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    return redirect(settings.LOGIN_URL)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The landing page after sign-in: who you are and where to go next."""
    sections = sections_for(request.user)  # agents: their work summary; others: the links
    return render(
        request,
        "itsm/home.html",
        {
            "teams": request.user.teams.order_by("name"),
            "now": timezone.now(),
            "sections": sections,
            "notifications": Notification.objects.for_user(request.user)[:6] if sections else [],
        },
    )


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = health.check_database()
    body: dict[str, object] = {
        "status": "ok" if database.ok else "error",
        "database": {"ok": database.ok, "latency_ms": database.latency_ms, "error": database.error},
    }
    if database.ok:
        try:
            age = health.heartbeat_age_seconds()
            body["worker"] = {"heartbeat_age_seconds": age, "stale": health.worker_is_stale(age)}
            body["queue"] = health.queue_depth()
        except DatabaseError:
            body["worker"] = {"heartbeat_age_seconds": None, "stale": True}
        body.update(health.contributions())
    return JsonResponse(body, status=200 if database.ok else 503)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness for a load balancer: the database answers and every migration of this code is
    applied (a node started before the release step ran stays out of rotation). 200 or 503."""
    database = health.check_database()
    body: dict[str, object] = {
        "status": "not ready",
        "database": {"ok": database.ok, "error": database.error},
        "migrations": {"pending": None},
    }
    if database.ok:
        try:
            pending = health.pending_migrations()
        except DatabaseError as error:
            body["database"] = {"ok": False, "error": error.__class__.__name__}
        else:
            body["migrations"] = {"pending": pending}
            if pending == 0:
                body["status"] = "ready"
    return JsonResponse(body, status=200 if body["status"] == "ready" else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition (``itsm.analytics.metrics``): bearer token or allowed addresses."""
    return exposition.respond(request)


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = Notification.objects.for_user(request.user)[:50]
    template = "itsm/notifications.html#list" if request.htmx else "itsm/notifications.html"
    return render(request, template, {"notifications": notifications})


@login_required
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    return render(request, "itsm/_bell.html")


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification.objects.for_user(request.user), pk=pk)
    notification.mark_read()
    if request.htmx:
        response = render(request, "itsm/notifications.html#item", {"notification": notification})
        return trigger_client_event(response, "notificationsChanged")
    return redirect(notification.url or "itsm:notification-list")


@login_required
@require_http_methods(["POST"])
def notification_read_all(request: HttpRequest) -> HttpResponse:
    Notification.objects.for_user(request.user).unread().update(read_at=timezone.now())
    if request.htmx:
        response = render(
            request,
            "itsm/notifications.html#list",
            {"notifications": Notification.objects.for_user(request.user)[:50]},
        )
        return trigger_client_event(response, "notificationsChanged")
    return redirect("itsm:notification-list")


# --- error pages: JSON under /api/, HTML elsewhere ----------------------------------------------
# DRF answers its own views' errors in JSON (itsm.api.exception_handler); these cover what never
# reaches a DRF view: a path that matches no route, a body too large to read, a crash.
def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": too_large_message()}, status=413)
    return JsonResponse({"detail": "Malformed request."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Called while the error is being handled: a database that stopped answering in a
    # middleware (a session read, a throttle counter) is a 503 too.
    error = sys.exc_info()[1]
    if is_database_unavailable(error):
        return database_unavailable(request, error)
    if not is_api(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "Server error."}, status=500)
