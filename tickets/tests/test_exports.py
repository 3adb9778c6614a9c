"""Exports: requested through the API, built by the worker, downloaded by their requester only."""

import csv
import io
import json

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from tickets import actions
from tickets.actions import exports as export_actions
from tickets.models import ExportJob, SensitiveAccess


def download(client, job_id):
    response = client.get(f"/api/exports/{job_id}/download/")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_it_builds_an_export_in_the_worker_and_serves_it(api_for, agent, make_ticket, run_worker, media):
    make_ticket("Printer jammed", impact="high", urgency="high")
    make_ticket("Mailbox full")
    client = api_for(agent)
    response = client.post(
        "/api/exports/", {"format": "csv", "filters": {"priority": ["critical"]}}, format="json"
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert response.json()["status"] == "pending"
    assert client.get(f"/api/exports/{job_id}/download/").status_code == 409
    run_worker(queues=["exports"])
    body = client.get(f"/api/exports/{job_id}/").json()
    assert (body["status"], body["row_count"]) == ("ready", 1)
    assert body["download_url"] == f"/api/exports/{job_id}/download/"
    rows = list(csv.DictReader(io.StringIO(download(client, job_id))))
    assert [(row["title"], row["priority"], row["requester"]) for row in rows] == [
        ("Printer jammed", "critical", "dave.user@example.com")
    ]


pytestmark = pytest.mark.django_db


def test_it_exports_json(agent, make_ticket, media):
    make_ticket("Printer jammed", tags=["printer", "floor3"])
    job = actions.do_request_export(actor=agent, format="json", filters={})
    actions.do_build_export(job.pk)
    job.refresh_from_db()
    rows = json.loads(job.file.read())
    assert len(rows) == 1
    assert {"title": "Printer jammed", "tags": ["printer", "floor3"], "assignee": None}.items() <= rows[
        0
    ].items()


def test_it_streams_in_chunks(agent, make_ticket, media, monkeypatch):
    monkeypatch.setattr(export_actions, "EXPORT_CHUNK_SIZE", 2)
    for index in range(5):
        make_ticket(f"Ticket {index}")
    job = actions.do_request_export(actor=agent, format="csv", filters={"sort": ["created"]})
    actions.do_build_export(job.pk)
    job.refresh_from_db()
    rows = list(csv.DictReader(io.StringIO(job.file.read().decode())))
    assert [row["title"] for row in rows] == [f"Ticket {index}" for index in range(5)]
    assert job.row_count == 5


def test_it_neutralises_spreadsheet_formulas(agent, make_ticket, media):
    make_ticket('=HYPERLINK("http://evil")')
    job = actions.do_request_export(actor=agent, format="csv", filters={})
    actions.do_build_export(job.pk)
    job.refresh_from_db()
    row = next(csv.DictReader(io.StringIO(job.file.read().decode())))
    assert row["title"].startswith("'=")


def test_it_exports_only_what_the_requester_may_see(requester, make_ticket, other_requester, media):
    make_ticket("mine")
    make_ticket("theirs", requester=other_requester)
    job = actions.do_request_export(actor=requester, format="json", filters={})
    actions.do_build_export(job.pk)
    job.refresh_from_db()
    assert [row["title"] for row in json.loads(job.file.read())] == ["mine"]


def test_it_records_sensitive_tickets_seen_in_an_export(agent, make_ticket, team, media):
    ticket = make_ticket("HR case", sensitive=True, team=team)
    make_ticket("plain")
    job = actions.do_request_export(actor=agent, format="csv", filters={})
    actions.do_build_export(job.pk)
    assert list(SensitiveAccess.objects.values_list("ticket", "channel")) == [(ticket.pk, "export")]


def test_it_builds_an_export_once(agent, make_ticket, media):
    make_ticket()
    job = actions.do_request_export(actor=agent, format="csv", filters={})
    assert actions.do_build_export(job.pk) is not None
    job.refresh_from_db()
    first_file = job.file.name
    assert actions.do_build_export(job.pk) is None
    job.refresh_from_db()
    assert job.file.name == first_file
    assert len(list((media / "exports").iterdir())) == 1


def test_it_rebuilds_an_export_whose_worker_died(agent, make_ticket, media):
    make_ticket()
    job = actions.do_request_export(actor=agent, format="csv", filters={})
    ExportJob.objects.filter(pk=job.pk).update(status="running")
    assert actions.do_build_export(job.pk).status == "ready"


def test_it_marks_an_export_with_bad_stored_filters_failed(agent, media):
    job = ExportJob.objects.create(requested_by=agent, format="csv", filters={"status": ["nope"]})
    with pytest.raises(Exception, match="Bad filters"):
        actions.do_build_export(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "status" in job.error


def test_it_queues_the_build_in_the_same_transaction(agent):
    def queued(job_id):
        return ProcrastinateJob.objects.filter(
            task_name="tickets.tasks.build_export", args={"export_id": job_id}
        )

    with pytest.raises(RuntimeError), transaction.atomic():
        job = actions.do_request_export(actor=agent, format="csv", filters={})
        assert queued(job.pk).count() == 1
        raise RuntimeError("rolled back")
    assert not ExportJob.objects.exists()
    assert not queued(job.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"filters": {"status": ["done"]}}, "filters"),
        ({"filters": {"colour": "red"}}, "filters"),
        ({"filters": {"sort": "colour"}}, "filters"),
        ({"filters": "status=open"}, "filters"),
        ({"filters": {"status": [{"a": 1}]}}, "filters"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_it_refuses_bad_export_requests(api_for, agent, payload, field):
    response = api_for(agent).post("/api/exports/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ExportJob.objects.exists()


def test_it_refuses_exports_to_viewers(api_for, viewer):
    assert api_for(viewer).post("/api/exports/", {"format": "csv"}, format="json").status_code == 403
    assert not ExportJob.objects.exists()


def test_it_shows_an_export_to_its_requester_only(api_for, agent, other_agent, make_ticket, media):
    make_ticket()
    job = actions.do_request_export(actor=agent, format="csv", filters={})
    actions.do_build_export(job.pk)
    other = api_for(other_agent)
    assert other.get(f"/api/exports/{job.pk}/").status_code == 404
    assert other.get(f"/api/exports/{job.pk}/download/").status_code == 404
    assert other.get("/api/exports/").json()["count"] == 0
    mine = api_for(agent)
    assert mine.get("/api/exports/").json()["results"][0]["id"] == job.pk
    assert "number,type,title" in download(mine, job.pk)
