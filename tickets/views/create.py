"""The agents' create form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from tickets import actions
from tickets.forms import TicketCreateForm, add_domain_error
from tickets.models import Channel
from tickets.views.common import agent_pages, agents_only


@login_required
@agent_pages
@agents_only
@require_http_methods(["GET", "POST"])
def ticket_create(request: HttpRequest) -> HttpResponse:
    form = TicketCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = actions.do_create_ticket(
                actor=request.user,
                title=data["title"],
                description=data["description"],
                requester=data["requester"] or request.user,
                type=data["type"],
                impact=data["impact"],
                urgency=data["urgency"],
                category=data["category"],
                assignee=data["assignee"],
                team=data["team"],
                tags=data["tags"],
                sensitive=data["sensitive"],
                channel=Channel.WEB,
                attachments=data["attachments"],
            )
        except ValidationError as invalid:
            add_domain_error(form, invalid)
        else:
            messages.success(request, gettext("Created %(number)s.") % {"number": ticket.number})
            return redirect("tickets:ticket-detail", pk=ticket.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/ticket_form.html", {"form": form}, status=status)
