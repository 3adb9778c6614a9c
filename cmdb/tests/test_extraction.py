"""Reading a ticket's text for items: what counts as a name, a host, an address, and what not."""

import pytest

from cmdb.extraction import extract, find_mentions, is_plausible_fqdn, ticket_fields
from cmdb.models import MatchKind


def keys(text: str) -> set[str]:
    return set(find_mentions({"description": text}).keys)


def hosts(text: str) -> set[str]:
    return set(find_mentions({"description": text}).hosts)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("ping 10.0.0.1 fails", "10.0.0.1"),
        ("connect to 10.0.2.21:5432 refused", "10.0.2.21"),
        ("subnet 10.0.1.0/24 is down", "10.0.1.0"),
        ("reach [2001:db8::10]:443", "2001:db8::10"),
        ("ping6 fe80::1%eth0 works", "fe80::1"),
        ("address 2001:0DB8:0000:0000:0000:0000:0000:0010 is the gateway", "2001:db8::10"),
    ],
)
def test_it_reads_ipv4_and_ipv6_addresses(text, address):
    mention = find_mentions({"description": text}).keys[address]
    assert mention.kind == MatchKind.IP_ADDRESS


@pytest.mark.parametrize(
    "text",
    [
        "upgrade to version 10.0.1.11 failed",
        "release 10.2.3 is out",
        "v1.2.3.4 of the client",
        "build 4.18.0.305 panics",
        "10.0.1.256 is not an address",
        "call 01.23.45.67.89 tomorrow",
        "meeting at 10:30:45",
        "MAC 00:1a:2b:3c:4d:5e renews its lease",
        "std::vector and Foo::Bar",
    ],
)
def test_versions_times_and_mac_addresses_are_not_addresses(text):
    found = find_mentions({"description": text})
    assert not [m for m in found.keys.values() if m.kind == MatchKind.IP_ADDRESS]


@pytest.mark.parametrize(
    "text",
    [
        "see foo.txt and error.log",
        "README.md says node.js 18",
        "run backup.sh then setup.py",
        "e.g. the i.e. cases in the U.S. office",
        "os.path.join is wrong",
        "payments.settings module missing",
        "systemctl restart nginx.service",
        "built with asp.net",
        "release 10.2.3",
    ],
)
def test_file_names_abbreviations_and_modules_are_not_unknown_hosts(text):
    assert hosts(text) == set()


@pytest.mark.parametrize(
    ("host", "plausible"),
    [
        ("backup02.acme.example", True),
        ("www.example.com", True),
        ("srv.corp.local", True),
        ("mail.example.fr", True),
        ("foo.txt", False),
        ("error.log", False),
        ("u.s", False),
        ("config.yaml", False),
        ("main.rs", False),
        ("os.path.join", False),
    ],
)
def test_only_real_looking_domains_are_suggested(host, plausible):
    assert is_plausible_fqdn(host) is plausible


def test_words_and_phrases_are_compared_whole_and_case_insensitively():
    found = keys("The Customer Portal and WEB01 are slow; web012 is fine")
    assert {"customer portal", "web01", "web012"} <= found
    assert "web0" not in found


def test_a_trailing_dot_or_comma_is_not_part_of_a_host():
    assert "web01.prod.acme.example" in keys(
        "Record web01.prod.acme.example. is missing, web01.prod.acme.example, too"
    )


def test_service_at_host_names_both_and_an_email_domain_is_not_a_host():
    found = find_mentions(
        {"description": "nginx@web02 fails; mail john.doe@acme.example or bob@partner.example"}
    )
    assert found.keys["nginx"].kind == MatchKind.SERVICE_AT_HOST
    assert found.keys["web02"].kind == MatchKind.SERVICE_AT_HOST
    assert "acme.example" not in found.hosts and "partner.example" not in found.hosts


def test_a_host_named_after_a_word_like_server_is_a_host():
    assert hosts("Please check server app07; hostname: db-9") == {"app07", "db-9"}
    assert hosts("the server is slow") == set()


def test_ticket_fields_read_title_description_service_and_metadata_ci():
    class FakeTicket:
        title = "Down"
        description = "desc"
        service = "Payroll"
        metadata = {"ci": ["web01", "web02"], "other": "x"}

    assert ticket_fields(FakeTicket()) == {
        "title": "Down",
        "description": "desc",
        "service": "Payroll",
        "metadata": "web01\nweb02",
    }


@pytest.mark.django_db
def test_it_matches_items_once_with_the_best_evidence(make_item):
    web01 = make_item("web01", hostnames=["web01.prod.acme.example"], ip_addresses=["10.0.1.11"])
    found = extract(
        {"title": "web01 down", "description": "ping 10.0.1.11 fails from web01.prod.acme.example"}
    )
    [match] = found.items
    assert match.item == web01 and match.kind == MatchKind.IP_ADDRESS and match.unambiguous
    assert (match.text, match.field) == ("10.0.1.11", "description")


@pytest.mark.django_db
def test_retired_items_are_not_matched_and_their_hosts_not_suggested(make_item):
    make_item("oldweb", status="retired", hostnames=["oldweb.acme.example"])
    found = extract({"description": "oldweb.acme.example still answers"})
    assert found.items == [] and found.unknown_hosts == []


@pytest.mark.django_db
def test_an_alias_two_items_share_is_ambiguous(make_item):
    make_item("Payroll DB", "database", aliases=["payroll"])
    make_item("Payroll app", "application", aliases=["payroll"])
    found = extract({"description": "payroll is down"})
    assert len(found.items) == 2 and not any(match.unambiguous for match in found.items)


@pytest.mark.django_db
def test_hyphenated_names_are_found_written_apart(make_item):
    relay = make_item("mail-relay")
    assert [match.item for match in extract({"description": "the mail relay queues"}).items] == [relay]


@pytest.mark.django_db
def test_hosts_numbered_like_known_items_are_suggested(make_item):
    make_item("k8s-node-3")
    found = extract({"description": "k8s-node-3 and k8s-node-4 are NotReady; k8s is fine"})
    assert [match.item.name for match in found.items] == ["k8s-node-3"]
    assert found.host_names() == {"k8s-node-4"}


@pytest.mark.django_db
def test_unknown_hostnames_are_kept_and_known_ones_are_not(make_item):
    make_item("Grafana", "application", hostnames=["grafana.acme.example"])
    found = extract({"description": "grafana.acme.example and backup02.acme.example alert"})
    assert [match.item.name for match in found.items] == ["Grafana"]
    assert found.host_names() == {"backup02.acme.example"}
