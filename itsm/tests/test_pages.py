import pytest
from django.urls import reverse

from itsm.models import Notification

pytestmark = pytest.mark.django_db


def test_it_sets_security_headers_on_every_response(client, agent):
    for url in [reverse("account_login"), "/healthz", "/api/me/"]:
        response = client.get(url)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "default-src 'self'" in response["Content-Security-Policy"]
        assert "script-src 'self';" in response["Content-Security-Policy"]


def test_the_layout_serves_htmx_from_our_static_files_and_sends_csrf(client, agent):
    client.force_login(agent)
    html = client.get(reverse("home")).content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    # The CSP forbids inline scripts, so the page has none.
    assert "<script>" not in html


def test_the_login_page_uses_the_product_layout(client):
    html = client.get(reverse("account_login")).content.decode()
    assert 'class="topbar"' in html
    assert 'name="login"' in html


def test_it_translates_the_pages_into_french(client, agent):
    client.force_login(agent)
    response = client.post(reverse("set_language"), {"language": "fr", "next": reverse("home")})
    assert response.status_code == 302
    html = client.get(reverse("home")).content.decode()
    assert 'lang="fr"' in html
    assert "Bienvenue" in html
    assert "Déconnexion" in html


def test_the_bell_counts_unread_notifications_and_marks_them_read(client, agent):
    first = Notification.objects.create(recipient=agent, verb="assigned", title="INC-1 assigned to you")
    Notification.objects.create(recipient=agent, verb="assigned", title="INC-2 assigned to you")
    client.force_login(agent)
    bell = client.get(reverse("itsm:notification-bell")).content.decode()
    assert 'data-testid="unread-count">2<' in bell
    response = client.post(reverse("itsm:notification-read", args=[first.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "notificationsChanged" in response["HX-Trigger"]
    first.refresh_from_db()
    assert first.read_at is not None
    client.post(reverse("itsm:notification-read-all"))
    assert not Notification.objects.unread().exists()


def test_it_hides_other_peoples_notifications(client, agent, other_agent):
    theirs = Notification.objects.create(recipient=other_agent, verb="assigned", title="theirs")
    client.force_login(agent)
    assert client.post(reverse("itsm:notification-read", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert "theirs" not in client.get(reverse("itsm:notification-list")).content.decode()


def test_the_bell_refuses_get_on_mark_read(client, agent):
    note = Notification.objects.create(recipient=agent, verb="x", title="t")
    client.force_login(agent)
    assert client.get(reverse("itsm:notification-read", args=[note.pk])).status_code == 405


def test_every_page_names_its_icon_so_browsers_do_not_ask_for_favicon_ico(client):
    # Without it a browser asks /favicon.ico on every page: a 404 drawn as a whole page, which
    # also handed a browser without cookies a CSRF cookie of its own.
    from pathlib import Path

    from django.contrib.staticfiles import finders

    html = client.get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/itsm/favicon.svg" type="image/svg+xml">' in html
    icon = finders.find("itsm/favicon.svg")
    assert icon and Path(icon).read_text(encoding="utf-8").startswith("<svg")
