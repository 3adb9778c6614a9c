import pytest

from ai.tests.fixtures import fake_openai, llm, minilm  # noqa: F401 - shared fixtures


@pytest.fixture
def make_article(agent, minilm):  # noqa: F811
    """``make_article(title, body, …)``: an article written through the action and indexed."""
    from ai.knowledge.actions import do_create_article
    from ai.knowledge.indexing import do_index_source
    from ai.knowledge.models import ArticleStatus, Audience, SourceType

    def make(
        title, body, *, status=ArticleStatus.PUBLISHED, audience=Audience.PUBLIC, actor=None, index=True
    ):
        article = do_create_article(
            actor=actor or agent, title=title, body=body, status=status, audience=audience
        )
        if index:
            do_index_source(SourceType.ARTICLE, article.pk)
        return article

    return make


@pytest.fixture
def resolved_ticket(make_ticket, agent, minilm):  # noqa: F811
    """``resolved_ticket(title, description, resolution, …)``: resolved through the actions and indexed."""
    from ai.knowledge.indexing import do_index_source
    from ai.knowledge.models import SourceType
    from tickets.actions import do_transition_ticket

    def make(title, description, resolution, *, index=True, **fields):
        ticket = make_ticket(title, description=description, actor=fields.pop("actor", agent), **fields)
        do_transition_ticket(ticket, "resolved", actor=agent, resolution=resolution)
        ticket.refresh_from_db()
        if index:
            do_index_source(SourceType.TICKET, ticket.pk)
        return ticket

    return make
