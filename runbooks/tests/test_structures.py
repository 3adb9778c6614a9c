"""Parameters and steps parsed into typed structures; values rendered as data, never code."""

from __future__ import annotations

import shlex

import pytest
from django.core.exceptions import ValidationError

from runbooks.structures import (
    Check,
    parse_parameters,
    parse_steps,
    render_body,
    render_command,
    render_path,
)


def test_values_are_shell_quoted_one_word_each():
    value = "a b; rm -rf / $(id) `id` 'q' \"d\""
    command = render_command("grep -c {pattern} /var/log/{file}", {"pattern": value, "file": "syslog"})
    assert shlex.split(command) == ["grep", "-c", value, "/var/log/syslog"]


def test_other_braces_are_left_alone():
    [step] = parse_steps(
        [{"name": "n", "type": "ssh", "command": "awk '{print $1}' {file}"}],
        parse_parameters([{"name": "file"}]),
    )
    assert render_command(step.action.command, {"file": "x y"}) == "awk '{print $1}' 'x y'"


def test_paths_and_bodies():
    assert render_path("/users/{name}/sync", {"name": "a/b c"}) == "/users/a%2Fb%20c/sync"
    assert render_body(
        {"n": "{count}", "text": "hi {name}", "list": ["{name}"]}, {"count": 3, "name": "x"}
    ) == {
        "n": 3,
        "text": "hi x",
        "list": ["x"],
    }


@pytest.mark.parametrize(
    "raw, value, message",
    [
        ({"name": "n", "type": "integer", "max": 5}, "9", "At most 5"),
        ({"name": "n", "type": "integer"}, True, "whole number"),
        ({"name": "n", "type": "choice", "choices": ["a"]}, "b", "Use one of"),
        ({"name": "n", "type": "hostname"}, "web01;id", "host name"),
        ({"name": "n"}, "a\nb", "Line breaks"),
        ({"name": "n", "pattern": "[a-z]+"}, "ABC", "pattern"),
    ],
)
def test_typed_parameters_refuse_bad_values(raw, value, message):
    [parameter] = parse_parameters([raw])
    with pytest.raises(ValidationError, match=message):
        parameter.clean(value)


def test_good_values_come_back_typed():
    integer, boolean, host = parse_parameters(
        [
            {"name": "n", "type": "integer"},
            {"name": "b", "type": "boolean"},
            {"name": "h", "type": "hostname"},
        ]
    )
    assert integer.clean("4") == 4 and boolean.clean("yes") is True
    assert (
        host.clean("2001:db8::1") == "2001:db8::1" and host.clean("web01.example.com") == "web01.example.com"
    )


def test_checks():
    assert Check().failure(exit_code=1, status=None, output="") == "exit code 1, expected 0"
    assert Check(exit_code=None).failure(exit_code=1, status=None, output="") == ""
    assert Check(statuses=(204,)).failure(exit_code=None, status=200, output="") == "HTTP 200, expected 204"
    assert Check(contains="active").failure(exit_code=0, status=None, output="inactive") == ""
    assert "lacks" in Check(contains="ok").failure(exit_code=0, status=None, output="nope")
    assert "contains" in Check(not_contains="ERROR").failure(exit_code=0, status=None, output="ERROR x")
