"""Stored files in an S3-compatible object store (moto's server mode, a real HTTP server):
uploads land in the bucket, downloads still pass the permission check, a missing object is a
logged 404, and a store that is down refuses uploads with nothing half-written."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from itsm.storage import s3_options
from tests.object_store import ObjectStore, free_port, start_object_store
from tickets import actions
from tickets.actions import exports as export_actions
from tickets.models import Attachment, Comment

BUCKET = "itsm-files"


@pytest.fixture(scope="session")
def object_store() -> ObjectStore:
    store = start_object_store()
    store.client().create_bucket(Bucket=BUCKET)
    yield store
    store.stop()


@pytest.fixture
def s3(object_store, settings):
    """The default storage is the bucket, under a prefix of this test's own."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.STORAGES = object_store.storages(BUCKET, prefix)
    return prefix


@pytest.fixture
def s3_down(object_store, settings):
    """The default storage is an S3 endpoint where nothing answers."""
    settings.STORAGES = object_store.storages(BUCKET, "down", endpoint_url=f"http://127.0.0.1:{free_port()}")


def upload(name: str = "trace.txt", content: bytes = b"stack trace") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def test_it_stores_an_attachment_in_the_bucket_and_serves_it_to_who_may_see_it(
    s3, object_store, client, agent, requester, other_requester, make_ticket
):
    ticket = make_ticket(requester=requester)
    client.force_login(agent)
    response = client.post(
        reverse("tickets:ticket-comment", args=[ticket.pk]),
        {"body": "Log attached", "attachments": [upload()]},
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert object_store.keys(BUCKET, s3) == [f"{s3}/{attachment.file.name}"]

    client.force_login(requester)
    response = client.get(reverse("tickets:attachment-download", args=[attachment.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"stack trace"

    # The bucket is private and the permission check still stands before the file.
    client.force_login(other_requester)
    assert client.get(reverse("tickets:attachment-download", args=[attachment.pk])).status_code == 404
    assert object_store.client().get_bucket_acl(Bucket=BUCKET)["Grants"][0]["Permission"] == "FULL_CONTROL"


def test_it_keeps_internal_note_attachments_from_requesters(s3, client, agent, requester, make_ticket):
    ticket = make_ticket(requester=requester)
    actions.do_add_comment(ticket, actor=agent, body="Internal", internal=True, attachments=[upload()])
    attachment = Attachment.objects.get()
    client.force_login(requester)
    assert client.get(reverse("tickets:attachment-download", args=[attachment.pk])).status_code == 404
    client.force_login(agent)
    assert client.get(reverse("tickets:attachment-download", args=[attachment.pk])).status_code == 200


def test_a_missing_object_is_a_logged_404(s3, object_store, client, agent, make_ticket, caplog):
    ticket = make_ticket()
    actions.do_add_comment(ticket, actor=agent, body="Log", attachments=[upload()])
    attachment = Attachment.objects.get()
    object_store.client().delete_object(Bucket=BUCKET, Key=f"{s3}/{attachment.file.name}")
    client.force_login(agent)

    with caplog.at_level(logging.WARNING, logger="itsm.storage"):
        response = client.get(reverse("tickets:attachment-download", args=[attachment.pk]))

    assert response.status_code == 404
    assert f"attachment {attachment.pk}: stored file {attachment.file.name} is missing" in caplog.text


def test_a_store_that_is_down_refuses_the_upload_and_nothing_is_written(
    s3_down, client, api_for, agent, make_ticket
):
    ticket = make_ticket()
    client.force_login(agent)
    response = client.post(
        reverse("tickets:ticket-comment", args=[ticket.pk]),
        {"body": "Log attached", "attachments": [upload()]},
    )
    assert response.status_code == 400
    assert "The file store is unavailable; the file was not saved." in response.content.decode()

    response = api_for(agent).post(
        f"/api/tickets/{ticket.pk}/comments/", {"body": "Log", "attachments": [upload()]}, format="multipart"
    )
    assert response.status_code == 503
    assert "file store is unavailable" in response.json()["detail"]
    assert not Comment.objects.filter(ticket=ticket).exists()
    assert not Attachment.objects.exists()


def test_a_store_that_is_down_on_download_is_a_503(s3, object_store, settings, client, agent, make_ticket):
    ticket = make_ticket()
    actions.do_add_comment(ticket, actor=agent, body="Log", attachments=[upload()])
    attachment = Attachment.objects.get()
    settings.STORAGES = object_store.storages(BUCKET, s3, endpoint_url=f"http://127.0.0.1:{free_port()}")
    client.force_login(agent)
    response = client.get(reverse("tickets:attachment-download", args=[attachment.pk]))
    assert response.status_code == 503
    assert b"file store is unavailable" in response.content


def test_an_export_file_goes_to_the_bucket_and_back_through_the_api(
    s3, object_store, api_for, agent, other_agent, make_ticket
):
    make_ticket("Printer jammed")
    job = actions.do_request_export(actor=agent, format="csv")
    job = export_actions.do_build_export(job.pk)
    assert object_store.keys(BUCKET, s3) == [f"{s3}/{job.file.name}"]

    response = api_for(agent).get(f"/api/exports/{job.pk}/download/")
    assert response.status_code == 200
    assert "Printer jammed" in b"".join(response.streaming_content).decode()
    assert api_for(other_agent).get(f"/api/exports/{job.pk}/download/").status_code == 404

    object_store.client().delete_object(Bucket=BUCKET, Key=f"{s3}/{job.file.name}")
    response = api_for(agent).get(f"/api/exports/{job.pk}/download/")
    assert response.status_code == 404
    assert "missing from the store" in response.json()["detail"]


def test_it_reads_the_store_from_storage_url():
    options = s3_options("s3://desk-files/itsm/prod?endpoint_url=https://s3.example.net&region=eu-west-1")
    assert options["bucket_name"] == "desk-files"
    assert options["location"] == "itsm/prod"
    assert options["endpoint_url"] == "https://s3.example.net"
    assert options["region_name"] == "eu-west-1"
    assert options["default_acl"] is None and options["file_overwrite"] is False
    assert s3_options() == {}


@pytest.mark.parametrize("url", ["https://desk-files/", "s3:///no-bucket", "s3://desk-files?colour=blue"])
def test_it_refuses_a_storage_url_it_cannot_use(url):
    with pytest.raises(ImproperlyConfigured):
        s3_options(url)
