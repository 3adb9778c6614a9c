"""The satisfaction survey behind the signed link: no sign-in, shows only the ticket's number
and title, one answer per ticket (changed within a week)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tickets.actions import csat

SCORES = (1, 2, 3, 4, 5)


@never_cache
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    """Public by design: the signature is the key (docs/agent-productivity.md)."""
    found = csat.survey_for_token(token)
    if found is None:
        context = {"expired": True}
        return render(request, "tickets/survey.html", context, status=404)
    error, saved, status = "", False, 200
    score, comment = request.GET.get("score", ""), ""
    if request.method == "POST":
        score, comment = request.POST.get("score", ""), request.POST.get("comment", "")
        try:
            found = csat.do_answer_survey(found, score=score, comment=comment)
            saved = True
        except ValidationError as invalid:
            error, status = " ".join(invalid.messages), 400
    context = {
        # Only what the link may reveal: the number and the title.
        "number": found.ticket.number,
        "title": found.ticket.title,
        "survey": found,
        "scores": SCORES,
        "chosen": str(found.score or score),
        "comment": found.comment if found.is_answered and not error else comment,
        "can_change": found.can_change_answer(),
        "saved": saved,
        "survey_error": error,
        "thanks": gettext("Thank you for your answer."),
    }
    return render(request, "tickets/survey.html", context, status=status)
