"""Credentials at rest: Fernet with keys from the environment, rotation by command, masking."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from runbooks import crypto
from runbooks.models import InfrastructureConnection

pytestmark = pytest.mark.django_db

PLAIN = "s3cret-token-of-the-api"  # pragma: allowlist secret


def test_the_ciphertext_holds_no_trace_of_the_secret(settings):
    settings.RUNBOOKS_SECRET_KEYS = [Fernet.generate_key().decode()]
    token = crypto.encrypt(PLAIN)
    assert PLAIN not in token and crypto.decrypt(token) == PLAIN


def test_production_without_keys_fails_loudly(settings):
    settings.RUNBOOKS_SECRET_KEYS = []
    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="RUNBOOKS_SECRET_KEYS"):
        crypto.encrypt(PLAIN)


def test_a_malformed_key_is_named_without_being_printed(settings):
    settings.RUNBOOKS_SECRET_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured) as error:
        crypto.encrypt(PLAIN)
    assert "not-a-key" not in str(error.value)


def test_rotation_reencrypts_with_the_new_key_and_the_old_one_can_go(settings, http_connection):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.RUNBOOKS_SECRET_KEYS = [old]
    http_connection.set_secret(PLAIN)
    http_connection.save()
    settings.RUNBOOKS_SECRET_KEYS = [new, old]
    out = StringIO()
    call_command("runbooks_rotate_key", stdout=out)
    assert "1 credential(s) re-encrypted" in out.getvalue() and PLAIN not in out.getvalue()
    settings.RUNBOOKS_SECRET_KEYS = [new]
    connection = InfrastructureConnection.objects.get(pk=http_connection.pk)
    assert connection.reveal_secret() == PLAIN
    settings.RUNBOOKS_SECRET_KEYS = [old]
    with pytest.raises(crypto.SecretUnreadable):
        connection.reveal_secret()


def test_rotation_changes_nothing_when_a_secret_cannot_be_read(settings, http_connection):
    settings.RUNBOOKS_SECRET_KEYS = [Fernet.generate_key().decode()]
    before = InfrastructureConnection.objects.get(pk=http_connection.pk).secret_ciphertext
    with pytest.raises(CommandError, match="api"):
        call_command("runbooks_rotate_key", stdout=StringIO())
    assert InfrastructureConnection.objects.get(pk=http_connection.pk).secret_ciphertext == before


def test_mask_hides_the_secret_and_each_line_of_a_key():
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----\n"
    text = f"echo {PLAIN}; cat id: AAAABBBBCCCCDDDD and EEEEFFFFGGGG"
    masked = crypto.mask(text, [PLAIN, key])
    assert PLAIN not in masked and "AAAABBBBCCCCDDDD" not in masked and "EEEEFFFFGGGG" not in masked
    assert masked.count(crypto.MASK) == 3


def test_the_deploy_check_names_a_missing_or_malformed_key(settings):
    from runbooks.checks import check_credential_keys

    settings.RUNBOOKS_SECRET_KEYS = []
    settings.PRODUCTION = True
    assert [error.id for error in check_credential_keys()] == ["runbooks.E001"]
    settings.RUNBOOKS_SECRET_KEYS = [Fernet.generate_key().decode(), "short"]
    [error] = check_credential_keys()
    assert error.id == "runbooks.E002" and "Key 2" in error.msg and "short" not in error.msg
    settings.RUNBOOKS_SECRET_KEYS = [Fernet.generate_key().decode()]
    assert check_credential_keys() == []
