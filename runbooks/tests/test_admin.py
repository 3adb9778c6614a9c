"""The admin: a connection's credential is write-only; runbooks publish their draft."""

import pytest
from django.urls import reverse

from runbooks.models import InfrastructureConnection, VersionStatus
from runbooks.tests.conftest import HTTP_TOKEN

pytestmark = pytest.mark.django_db


def test_the_credential_is_encrypted_on_save_and_never_shown_again(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:runbooks_infrastructureconnection_add"),
        {
            "name": "api",
            "kind": "http",
            "enabled": "on",
            "port": "22",
            "ssh_auth": "key",
            "base_url": "https://api.example.com",
            "auth_header": "Authorization",
            "default_for_environments": "",
            "secret": HTTP_TOKEN,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = InfrastructureConnection.objects.get(name="api")
    assert connection.reveal_secret() == HTTP_TOKEN and HTTP_TOKEN not in connection.secret_ciphertext
    for url in (
        reverse("admin:runbooks_infrastructureconnection_change", args=[connection.pk]),
        reverse("admin:runbooks_infrastructureconnection_changelist"),
    ):
        page = client.get(url).content.decode()
        assert HTTP_TOKEN not in page and connection.secret_ciphertext not in page


def test_the_admin_action_publishes_the_draft(client, admin_user):
    from runbooks import actions

    runbook = actions.do_create_runbook(
        actor=admin_user, name="Check", version={"steps": [{"name": "Look", "type": "manual"}]}
    )
    client.force_login(admin_user)
    client.post(
        reverse("admin:runbooks_runbook_changelist"),
        {"action": "publish_draft", "_selected_action": [runbook.pk]},
    )
    assert runbook.versions.get().status == VersionStatus.PUBLISHED
    assert client.get(reverse("admin:runbooks_runbook_change", args=[runbook.pk])).status_code == 200
