"""Importing items from CSV and JSON: upsert by name and type, all or nothing, relations."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from cmdb import importer
from cmdb.models import ConfigurationItem, ItemRelation

pytestmark = pytest.mark.django_db

CSV = """name,type,environment,owner_team,aliases,hostnames,ip_addresses,attributes,maintenance_windows,depends_on,runs_on
web01,server,prod,Service Desk,frontend-1,web01.prod.acme.example,10.0.1.11,"{""os"": ""Debian 12"", ""cpu_cores"": 4}",sun 02:00-04:00,,
Payroll DB,database,prod,,payroll-db;PAYDB,,,,,,server:db-prod-01
db-prod-01,server,prod,,,db-prod-01.acme.example,10.0.2.21,,sat 22:00-02:00,,
Customer Portal,application,prod,Service Desk,custportal,portal.acme.example,,,,Payroll DB;nginx,web01
"""


def run(data, format="csv", **options):
    return importer.do_import_items(data, format=format, actor=None, **options)


def test_a_csv_creates_items_and_their_relations(team, make_item):
    make_item("nginx", "service")  # a relation may name an item already in the database
    report = run(CSV)
    assert (report.rows, report.created, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.relations_created == 4
    web01 = ConfigurationItem.objects.get(name="web01")
    assert web01.owner_team == team and web01.typed_attributes().os == "Debian 12"
    assert [str(window) for window in web01.windows()] == ["sun 02:00-04:00"]
    portal = ConfigurationItem.objects.get(name="Customer Portal")
    assert {(r.kind, r.target.name) for r in portal.relations_out.all()} == {
        ("depends_on", "Payroll DB"),
        ("depends_on", "nginx"),
        ("runs_on", "web01"),
    }
    assert ConfigurationItem.objects.get(name="Payroll DB").aliases == ["payroll-db", "PAYDB"]


def test_importing_the_same_file_twice_changes_nothing(team, make_item):
    make_item("nginx", "service")
    run(CSV)
    events = apps.get_model("cmdb", "ConfigurationItemEvent").objects.count()
    report = run(CSV)
    assert (report.created, report.updated, report.unchanged, report.relations_created) == (0, 0, 4, 0)
    assert apps.get_model("cmdb", "ConfigurationItemEvent").objects.count() == events
    assert ItemRelation.objects.count() == 4


def test_a_known_name_and_type_is_updated_whatever_the_case(make_item):
    item = make_item("WEB01", hostnames=["old.acme.example"])
    report = run("name,type,hostnames\nweb01,server,web01.acme.example\n")
    assert (report.created, report.updated) == (0, 1)
    item.refresh_from_db()
    assert item.name == "web01" and item.hostnames == ["web01.acme.example"]


def test_absent_columns_are_left_alone_and_empty_cells_clear(make_item):
    item = make_item("web01", aliases=["w1"], ip_addresses=["10.0.0.5"])
    run("name,type,aliases\nweb01,server,\n")
    item.refresh_from_db()
    assert item.aliases == [] and item.ip_addresses == ["10.0.0.5"]


def test_every_problem_is_listed_by_row_and_nothing_is_written(make_item):
    data = (
        "name,type,ip_addresses,depends_on\n"
        "web01,server,10.0.0.1,\n"
        "web02,sever,10.0.0.2,\n"  # line 3: bad type
        "web03,server,10.0.0.300,\n"  # line 4: bad address
        "web04,server,,ghost\n"  # line 5: unknown relation target
        "WEB01,server,,\n"  # line 6: repeats line 2
        ",server,,\n"  # line 7: no name
    )
    with pytest.raises(importer.ImportFailed) as failed:
        run(data)
    problems = [(error.row, error.field) for error in failed.value.errors]
    assert problems == [(3, "type"), (4, "ip_addresses"), (5, "depends_on"), (6, "name"), (7, "name")]
    assert "row 4: ip_addresses: '10.0.0.300' is not an IPv4 or IPv6 address." in str(failed.value)
    assert not ConfigurationItem.objects.exists()


def test_an_ambiguous_reference_asks_for_the_type(make_item):
    make_item("payroll", "database")
    make_item("payroll", "application")
    with pytest.raises(importer.ImportFailed) as failed:
        run("name,type,depends_on\nportal,application,payroll\n")
    assert "write application:payroll or database:payroll" in failed.value.errors[0].message
    report = run("name,type,depends_on\nportal,application,database:payroll\n")
    assert report.relations_created == 1


def test_a_json_file_imports_the_same(make_item):
    items = [
        {
            "name": "web01",
            "type": "server",
            "hostnames": ["web01.acme.example"],
            "attributes": {"os": "Debian"},
        },
        {
            "name": "nginx",
            "type": "service",
            "runs_on": ["web01"],
            "maintenance_windows": [{"day": "sun", "start": "01:00", "end": "02:00"}],
        },
    ]
    report = run(json.dumps({"items": items}), "json")
    assert (report.created, report.relations_created) == (2, 1)
    assert run(json.dumps(items), "json").unchanged == 2


@pytest.mark.parametrize(
    ("data", "format", "message"),
    [
        ("{not json", "json", "Invalid JSON"),
        ('{"items": 3}', "json", "Expected a list"),
        ("[1, 2]", "json", "Each item is a JSON object"),
        ("name,kind\nweb01,server\n", "csv", "This column is required"),
        ("name,type,colour\nweb01,server,red\n", "csv", "Unknown column"),
        ("name,type\n", "csv", "no items"),
        (b"name,type\n\xff\xfe,server\n", "csv", "not UTF-8"),
        ("name,type\nweb01,server,extra\n", "csv", "more cells than the header"),
    ],
)
def test_unreadable_files_are_refused_clearly(data, format, message):
    with pytest.raises(importer.ImportFailed) as failed:
        run(data, format)
    assert message in str(failed.value)


def test_too_many_rows_or_bytes_are_refused(settings):
    settings.CMDB_IMPORT_MAX_ROWS = 2
    with pytest.raises(importer.ImportFailed, match="At most 2 items"):
        run("name,type\na1,server\na2,server\na3,server\n")
    settings.CMDB_IMPORT_MAX_BYTES = 10
    with pytest.raises(importer.ImportFailed, match="larger than 10 bytes"):
        run(b"name,type\na1,server\n")


def test_a_dry_run_counts_and_changes_nothing():
    report = run("name,type,runs_on\nweb01,server,\nnginx,service,web01\n", dry_run=True)
    assert (report.created, report.relations_created, report.dry_run) == (2, 1, True)
    assert not ConfigurationItem.objects.exists()


def test_a_requester_cannot_import(requester):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        importer.do_import_items("name,type\nweb01,server\n", format="csv", actor=requester)


# --- the command ------------------------------------------------------------------------------------
def test_the_command_imports_and_reports(tmp_path, capsys, team, make_item, agent):
    make_item("nginx", "service")
    path = tmp_path / "items.csv"
    path.write_text(CSV)
    call_command("cmdb_import", str(path), "--actor", agent.email)
    assert "4 items: 4 created, 0 updated, 0 unchanged; 4 relations added." in capsys.readouterr().out
    item = ConfigurationItem.objects.get(name="web01")
    assert item.events.get().pgh_context["actor"] == agent.email
    call_command("cmdb_import", str(path), "--dry-run")
    assert (
        "Dry run, nothing changed: would have 4 items: 0 created, 0 updated, 4 unchanged"
        in capsys.readouterr().out
    )


def test_the_command_lists_the_errors_and_fails(tmp_path, capsys):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"name": "web01", "type": "sever"}]))
    with pytest.raises(CommandError, match="Nothing was imported: 1 problem"):
        call_command("cmdb_import", str(path))
    assert "row 1: type: 'sever' is not one of" in capsys.readouterr().err
    with pytest.raises(CommandError, match="--format"):
        call_command("cmdb_import", str(tmp_path / "items.txt"))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("cmdb_import", str(tmp_path / "missing.csv"))
    assert not ConfigurationItem.objects.exists()
