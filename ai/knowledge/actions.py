"""Knowledge base workflows: pages, the API, the admin and commands call these."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pghistory
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ai.knowledge.models import (
    ArticleStatus,
    Audience,
    DeflectionEvent,
    DraftEventKind,
    KnowledgeArticle,
    PublishedKnownError,
    ReplyDraftEvent,
)
from problems.models import Problem

if TYPE_CHECKING:
    from itsm.models import User

EDITABLE_FIELDS = {"title", "body", "status", "audience", "category"}
DEFLECTION_SALT = "ai.knowledge.deflection"
DEFLECTION_MAX_AGE = 24 * 3600


def check_can_edit_articles(actor: User) -> None:
    if not (actor.is_authenticated and actor.is_agent):
        raise PermissionDenied(_("Only agents write knowledge articles."))


def check_article_fields(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    errors: dict[str, str] = {}
    if "title" in cleaned:
        cleaned["title"] = str(cleaned["title"] or "").strip()
        if not cleaned["title"]:
            errors["title"] = _("A title is required.")
        elif len(cleaned["title"]) > 255:
            errors["title"] = _("The title is longer than 255 characters.")
    if "body" in cleaned:
        cleaned["body"] = str(cleaned["body"] or "").strip()
        if not cleaned["body"]:
            errors["body"] = _("The article is empty.")
    if "status" in cleaned and cleaned["status"] not in ArticleStatus.values:
        errors["status"] = _("Use one of: %s.") % ", ".join(ArticleStatus.values)
    if "audience" in cleaned and cleaned["audience"] not in Audience.values:
        errors["audience"] = _("Use one of: %s.") % ", ".join(Audience.values)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _audit(actor: User) -> Any:
    return pghistory.context(actor_id=actor.pk, actor=actor.email)


@transaction.atomic
def do_create_article(
    *,
    actor: User,
    title: str,
    body: str,
    status: str = ArticleStatus.DRAFT,
    audience: str = Audience.INTERNAL,
    category: Any = None,
) -> KnowledgeArticle:
    check_can_edit_articles(actor)
    fields = check_article_fields(
        {"title": title, "body": body, "status": status, "audience": audience, "category": category}
    )
    now = timezone.now()
    article = KnowledgeArticle(
        **fields,
        author=actor,
        updated_by=actor,
        created_at=now,
        updated_at=now,
        published_at=now if fields["status"] == ArticleStatus.PUBLISHED else None,
    )
    with _audit(actor):
        article.save()
    return article


@transaction.atomic
def do_update_article(article: KnowledgeArticle, *, actor: User, fields: dict[str, Any]) -> list[str]:
    """Edits (publishing and unpublishing included); returns the names of the changed fields."""
    check_can_edit_articles(actor)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: _("This field cannot be edited.") for name in unknown})
    fields = check_article_fields(fields)
    article = KnowledgeArticle.objects.select_for_update().get(pk=article.pk)
    changed = [name for name, value in fields.items() if getattr(article, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(article, name, fields[name])
    article.updated_by = actor
    article.updated_at = timezone.now()
    update_fields = [*changed, "updated_by", "updated_at"]
    if "status" in changed and article.is_published and article.published_at is None:
        article.published_at = article.updated_at
        update_fields.append("published_at")
    with _audit(actor):
        article.save(update_fields=update_fields)
    return changed


@transaction.atomic
def do_delete_article(article: KnowledgeArticle, *, actor: User) -> None:
    check_can_edit_articles(actor)
    with _audit(actor):
        article.delete()


def do_vote_article(article: KnowledgeArticle, *, actor: User, helpful: bool) -> bool:
    """One vote per person; voting again the same way changes nothing. Returns whether it changed."""
    if not article.is_visible_to(actor) or not article.is_published:
        raise PermissionDenied(_("You cannot vote on this article."))
    if not actor.can_write():
        raise PermissionDenied(_("Viewers have read-only access."))
    if not isinstance(helpful, bool):
        raise ValidationError({"helpful": _("Say true or false.")})
    return article.record_vote(actor, helpful=helpful)


# --- deflection ---------------------------------------------------------------------------
def issue_suggestion_token(user: User, query: str, article_ids: list[int]) -> str:
    """A signed note of what was suggested to whom; the beacon sends it back if they leave."""
    payload = {
        "u": user.pk,
        "a": [int(pk) for pk in article_ids],
        "q": query[:500],
        "n": secrets.token_hex(8),
    }
    return signing.dumps(payload, salt=DEFLECTION_SALT, compress=True)


def do_record_deflection(*, actor: User, token: str) -> tuple[DeflectionEvent, bool]:
    """Counts one deflection for a suggestion token; the same token again changes nothing."""
    try:
        payload = signing.loads(token or "", salt=DEFLECTION_SALT, max_age=DEFLECTION_MAX_AGE)
    except signing.SignatureExpired as error:
        raise ValidationError({"token": _("This suggestion has expired.")}) from error
    except signing.BadSignature as error:
        raise ValidationError({"token": _("This is not a suggestion token.")}) from error
    if not isinstance(payload, dict) or payload.get("u") != actor.pk:
        raise ValidationError({"token": _("This suggestion was made to someone else.")})
    article_ids = [int(pk) for pk in payload.get("a") or [] if isinstance(pk, int)]
    if not article_ids:
        raise ValidationError({"token": _("Nothing was suggested.")})
    digest = DeflectionEvent.digest(token)
    try:
        with transaction.atomic():
            event, created = DeflectionEvent.objects.get_or_create(
                token_digest=digest,
                defaults={
                    "user": actor,
                    "query": str(payload.get("q") or "")[:500],
                    "article_ids": article_ids,
                },
            )
    except IntegrityError:
        # Two beacons at once: the other one wrote the row.
        return DeflectionEvent.objects.get(token_digest=digest), False
    return event, created


def known_error_body(problem: Any) -> str:
    """The article made of a known error: its symptoms, cause and workaround (Markdown)."""
    parts = [f"Known error {problem.number}."]
    if problem.description.strip():
        parts += ["## Symptoms", problem.description.strip()]
    if problem.root_cause.strip():
        parts += ["## Cause", problem.root_cause.strip()]
    parts += ["## Workaround", problem.workaround.strip()]
    if problem.fix.strip():
        parts += ["## Permanent fix", problem.fix.strip()]
    return "\n\n".join(parts)


@transaction.atomic
def do_publish_known_error(problem: Any, *, actor: User) -> KnowledgeArticle:
    """Publish a known error as an internal article, in one step; a second call returns the
    article already published (two agents at once: the problem row lock orders them)."""
    check_can_edit_articles(actor)
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    existing = PublishedKnownError.objects.select_related("article").filter(problem=problem).first()
    if existing is not None:
        return existing.article
    if not problem.is_known_error:
        raise ValidationError({"problem": _("Only a known error with a workaround is published.")})
    article = do_create_article(
        actor=actor,
        title=f"{problem.title} ({problem.number})"[:255],
        body=known_error_body(problem),
        status=ArticleStatus.PUBLISHED,
        audience=Audience.INTERNAL,
        category=problem.category,
    )
    PublishedKnownError.objects.create(problem=problem, article=article, published_by=actor)
    return article


def do_record_reply_draft(ticket: Any, *, actor: User, kind: str, grounded: bool = False) -> ReplyDraftEvent:
    """A smart-reply draft was made for ``ticket``, or sent as its public reply (the KPIs count
    these; nothing else reads them)."""
    if kind not in DraftEventKind.values:
        raise ValidationError(_("Unknown draft event."))
    return ReplyDraftEvent.objects.create(ticket=ticket, agent=actor, kind=kind, grounded=grounded)
