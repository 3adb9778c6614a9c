"""Knowledge base pages: articles, search, suggestions on the new-ticket form, ticket panels,
smart reply drafts. Thin views: objects come through ``visible_to``; writes through actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from ai.knowledge import actions
from ai.knowledge.forms import ArticleFilterForm, ArticleForm, ReplyForm, SearchForm, VoteForm
from ai.knowledge.models import ArticleVote, DeflectionEvent, DraftEventKind, KnowledgeArticle, SourceType
from ai.knowledge.replies import draft_reply, ticket_query
from ai.knowledge.search import SearchInputError, hybrid_search, similar_items, source_url
from itsm.replicas import replica_reads
from problems.models import Problem
from tickets.actions import do_add_comment
from tickets.models import Ticket

PAGE_SIZE = 25
SUGGESTIONS = 5
PANEL_ITEMS = 5


def _render(
    request: HttpRequest, template: str, partial: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """The whole page, or only its named partial for an HTMX request."""
    return render(request, f"{template}#{partial}" if request.htmx else template, context, status=status)


def _require_agent(request: HttpRequest) -> None:
    if not request.user.is_agent:
        raise PermissionDenied(_("This needs an agent account."))


def _ticket_for(request: HttpRequest, pk: int) -> Ticket:
    """The ticket if the user may see it, else 404."""
    return get_object_or_404(Ticket.objects.visible_to(request.user).select_related("requester"), pk=pk)


# --- articles -------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET"])
def article_list(request: HttpRequest) -> HttpResponse:
    form = ArticleFilterForm(request.GET or None)
    articles = KnowledgeArticle.objects.visible_to(request.user).select_related("category")
    if form.is_valid():
        articles = articles.titled_like(form.cleaned_data["q"])
        if form.cleaned_data["status"]:
            articles = articles.with_status(form.cleaned_data["status"])
        if form.cleaned_data["audience"]:
            articles = articles.for_audience(form.cleaned_data["audience"])
    page = Paginator(articles, PAGE_SIZE).get_page(request.GET.get("page"))
    deflections = None
    if request.user.is_agent:
        deflections = DeflectionEvent.objects.since(timezone.now() - timedelta(days=30)).count()
    context = {"form": form, "page": page, "deflections": deflections, "search_form": SearchForm()}
    return _render(request, "knowledge/article_list.html", "results", context)


@login_required
@require_http_methods(["GET"])
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(
        KnowledgeArticle.objects.visible_to(request.user).select_related("category", "author", "updated_by"),
        pk=pk,
    )
    vote = ArticleVote.objects.filter(article=article, user=request.user).first()
    deflections = DeflectionEvent.objects.mentioning(article).count() if request.user.is_agent else None
    return render(
        request,
        "knowledge/article_detail.html",
        {"article": article, "vote": vote, "deflections": deflections},
    )


@login_required
@require_http_methods(["GET", "POST"])
def article_create(request: HttpRequest) -> HttpResponse:
    _require_agent(request)
    form = ArticleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            article = actions.do_create_article(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Article created."))
            return redirect(article)
    status = 400 if request.method == "POST" else 200
    return render(request, "knowledge/article_form.html", {"form": form, "article": None}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_agent(request)
    article = get_object_or_404(KnowledgeArticle.objects.visible_to(request.user), pk=pk)
    form = ArticleForm(request.POST or None, instance=article)
    if request.method == "POST" and form.is_valid():
        try:
            changed = actions.do_update_article(article, actor=request.user, fields=form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Article saved.") if changed else _("Nothing changed."))
            return redirect(article)
    status = 400 if request.method == "POST" else 200
    return render(request, "knowledge/article_form.html", {"form": form, "article": article}, status=status)


@login_required
@require_http_methods(["POST"])
def article_vote(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(KnowledgeArticle.objects.visible_to(request.user).published(), pk=pk)
    form = VoteForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Say whether the article helped (yes or no)."), status=400)
    actions.do_vote_article(article, actor=request.user, helpful=form.cleaned_data["helpful"])
    if not request.htmx:
        messages.success(request, _("Thank you for your feedback."))
        return redirect(article)
    article.refresh_from_db(fields=["helpful_votes", "not_helpful_votes"])
    vote = ArticleVote.objects.filter(article=article, user=request.user).first()
    return render(request, "knowledge/article_detail.html#votes", {"article": article, "vote": vote})


# --- search ---------------------------------------------------------------------------------
@replica_reads
@login_required
@require_http_methods(["GET"])
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    context: dict[str, Any] = {"form": form, "hits": None, "error": ""}
    status = 200
    if request.GET and form.is_valid():
        try:
            result = hybrid_search(
                request.user, form.cleaned_data["q"], k=20, sources=form.cleaned_data["sources"] or None
            )
        except SearchInputError as error:
            context["error"], status = str(error), 400
        else:
            context["hits"], context["mode"] = result.hits, result.mode
    elif request.GET:
        status = 400
    return _render(request, "knowledge/search.html", "results", context, status=status)


# --- suggestions on the requester's new-ticket form, and deflection --------------------------
def _suggestion_query(request: HttpRequest) -> str:
    query = request.GET.get("q") or " ".join(
        part for part in (request.GET.get("title", ""), request.GET.get("description", "")) if part
    )
    return query.strip()[:1000]


@login_required
@require_http_methods(["GET"])
def suggest(request: HttpRequest) -> HttpResponse:
    """Published articles the user may read that match what they are typing (a partial)."""
    query = _suggestion_query(request)
    hits = []
    token = ""
    if len(query) >= 3:
        result = hybrid_search(request.user, query, k=SUGGESTIONS, sources=[SourceType.ARTICLE])
        hits = [hit for hit in result.hits if (hit.similarity or 0) >= settings.AI_SUGGEST_MIN_SIMILARITY]
        if hits and request.user.is_requester:
            token = actions.issue_suggestion_token(request.user, query, [hit.source_id for hit in hits])
    return _render(
        request, "knowledge/suggest.html", "suggestions", {"hits": hits, "token": token, "query": query}
    )


@login_required
@require_http_methods(["POST"])
def deflection(request: HttpRequest) -> HttpResponse:
    """The beacon sent when a requester leaves the new-ticket form after seeing suggestions."""
    try:
        _event, created = actions.do_record_deflection(
            actor=request.user, token=request.POST.get("token", "")
        )
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=400, content_type="text/plain")
    return HttpResponse(status=201 if created else 200)


# --- ticket panels -------------------------------------------------------------------------
def _panel(request: HttpRequest, ticket: Ticket, panel: str, context: dict[str, Any]) -> HttpResponse:
    context = {
        "ticket": ticket,
        "ticket_url": source_url(SourceType.TICKET, ticket.pk),
        "panel": panel,
        **context,
    }
    return _render(request, "knowledge/ticket_panels.html", panel, context)


@login_required
@require_http_methods(["GET"])
def ticket_similar(request: HttpRequest, pk: int) -> HttpResponse:
    _require_agent(request)
    ticket = _ticket_for(request, pk)
    hits = similar_items(request.user, ticket, k=PANEL_ITEMS)
    return _panel(request, ticket, "similar-tickets", {"hits": hits})


@login_required
@require_http_methods(["GET"])
def ticket_articles(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_for(request, pk)
    result = hybrid_search(request.user, ticket_query(ticket), k=PANEL_ITEMS, sources=[SourceType.ARTICLE])
    hits = [hit for hit in result.hits if (hit.similarity or 0) >= settings.AI_SUGGEST_MIN_SIMILARITY]
    return _panel(request, ticket, "suggested-articles", {"hits": hits})


@login_required
@require_http_methods(["GET", "POST"])
def ticket_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the panel with its "Draft a reply" button. POST: the draft, in an editable textarea."""
    _require_agent(request)
    ticket = _ticket_for(request, pk)
    if request.method == "GET":
        return _panel(request, ticket, "smart-reply", {})
    draft = draft_reply(ticket, actor=request.user)
    actions.do_record_reply_draft(
        ticket, actor=request.user, kind=DraftEventKind.DRAFTED, grounded=draft.grounded
    )
    form = ReplyForm(initial={"body": draft.text})
    return _panel(request, ticket, "draft", {"draft": draft, "form": form})


@login_required
@require_http_methods(["POST"])
def ticket_send_reply(request: HttpRequest, pk: int) -> HttpResponse:
    """Sends the (edited) draft as a public reply, through the same action as the reply form."""
    _require_agent(request)
    ticket = _ticket_for(request, pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                do_add_comment(ticket, actor=request.user, body=form.cleaned_data["body"], internal=False)
                actions.do_record_reply_draft(ticket, actor=request.user, kind=DraftEventKind.SENT)
        except ValidationError as error:
            form.add_error("body", error)
    if not form.is_valid():
        response = _panel(request, ticket, "draft", {"draft": None, "form": form})
        response.status_code = 400
        return response
    if request.htmx:
        response = _panel(request, ticket, "sent", {})
        return trigger_client_event(response, "ticketUpdated")
    messages.success(request, _("Reply sent."))
    url = source_url(SourceType.TICKET, ticket.pk)
    return redirect(url) if url else redirect("ai:kb-ticket-draft", pk=ticket.pk)


@login_required
@require_http_methods(["POST"])
def publish_known_error(request: HttpRequest, problem_pk: int) -> HttpResponse:
    """The problem page's *Publish as a knowledge article* button (problems.extensions)."""
    _require_agent(request)
    problem = get_object_or_404(Problem.objects.visible_to(request.user), pk=problem_pk)
    try:
        article = actions.do_publish_known_error(problem, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("problems:problem-detail", problem.pk)
    messages.success(request, _("Published as a knowledge article."))
    return redirect("ai:kb-article-detail", article.pk)
