"""Admin: policies, chains and calendars are refused when they make no sense; nothing is saved."""

from __future__ import annotations

import pytest

from sla.models import Calendar, EscalationStep, SLAPolicy

pytestmark = pytest.mark.django_db


def inline(prefix: str, rows: list[dict[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {
        f"{prefix}-TOTAL_FORMS": len(rows),
        f"{prefix}-INITIAL_FORMS": 0,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def policy_form(calendar: Calendar, steps: list[dict[str, object]] | None = None, **fields: object) -> dict:
    data = {
        "name": "Network critical",
        "priority": "critical",
        "ticket_type": "incident",
        "category": "",
        "organisation": "",
        "response_minutes": 10,
        "resolution_minutes": 60,
        "calendar": calendar.pk,
        "warning_threshold_percent": 15,
        "is_active": "on",
    }
    data.update(fields)
    data.update(inline("escalation_steps", steps or []))
    return data


@pytest.fixture
def admin_client_for(client, admin_user):
    client.force_login(admin_user)
    return client


def test_an_admin_adds_a_policy_with_a_chain(admin_client_for, calendar_24x7, policies):
    steps = [
        {"position": 1, "after_minutes": 0, "metric": "any", "action": "notify_team_lead"},
        {
            "position": 2,
            "after_minutes": 15,
            "metric": "resolution",
            "action": "notify_role",
            "role": "admin",
        },
    ]
    response = admin_client_for.post("/admin/sla/slapolicy/add/", policy_form(calendar_24x7, steps))
    assert response.status_code == 302
    policy = SLAPolicy.objects.get(name="Network critical")
    assert list(policy.escalation_steps.values_list("position", "action")) == [
        (1, "notify_team_lead"),
        (2, "notify_role"),
    ]


@pytest.mark.parametrize(
    ("fields", "steps", "message"),
    [
        (
            {"resolution_minutes": 5},
            [],
            "The resolution target cannot be shorter than the first response target.",
        ),
        ({"response_minutes": 0}, [], "Ensure this value is greater than or equal to 1."),
        ({"warning_threshold_percent": 0}, [], "Ensure this value is greater than or equal to 1."),
        ({"ticket_type": ""}, [], "already matches the same tickets"),
        (
            {},
            [{"position": 1, "after_minutes": 0, "metric": "any", "action": "reassign_team"}],
            "Choose the team.",
        ),
        (
            {},
            [
                {"position": 1, "after_minutes": 60, "metric": "any", "action": "notify_team_lead"},
                {"position": 2, "after_minutes": 5, "metric": "any", "action": "raise_priority"},
            ],
            "order the steps by their delay",
        ),
    ],
)
def test_bad_policy_input_is_refused_in_the_admin(
    admin_client_for, calendar_24x7, policies, fields, steps, message
):
    before = (SLAPolicy.objects.count(), EscalationStep.objects.count())
    response = admin_client_for.post("/admin/sla/slapolicy/add/", policy_form(calendar_24x7, steps, **fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert (SLAPolicy.objects.count(), EscalationStep.objects.count()) == before


def calendar_form(periods: list[dict[str, object]], **fields: object) -> dict:
    data = {"name": "Paris office", "time_zone": "Europe/Paris"}
    data.update(fields)
    data.update(inline("periods", periods))
    data.update(inline("holidays", []))
    return data


def test_an_admin_adds_a_business_hours_calendar(admin_client_for):
    periods = [{"weekday": day, "start": "09:00", "end": "17:00"} for day in range(5)]
    response = admin_client_for.post("/admin/sla/calendar/add/", calendar_form(periods))
    assert response.status_code == 302
    assert Calendar.objects.get(name="Paris office").periods.count() == 5


@pytest.mark.parametrize(
    ("periods", "fields", "message"),
    [
        (
            [{"weekday": 0, "start": "09:00", "end": "17:00"}],
            {"time_zone": "Mars/Olympus"},
            "is not a known time zone",
        ),
        ([], {}, "at least one working period"),
        ([{"weekday": 0, "start": "17:00", "end": "09:00"}], {}, "must end after it starts"),
        (
            [
                {"weekday": 0, "start": "09:00", "end": "13:00"},
                {"weekday": 0, "start": "12:00", "end": "17:00"},
            ],
            {},
            "overlap",
        ),
    ],
)
def test_bad_calendars_are_refused(admin_client_for, periods, fields, message):
    response = admin_client_for.post("/admin/sla/calendar/add/", calendar_form(periods, **fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Calendar.objects.filter(name="Paris office").exists()


def test_the_builtin_calendar_cannot_be_deleted(admin_client_for, calendar_24x7):
    response = admin_client_for.post(f"/admin/sla/calendar/{calendar_24x7.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Calendar.objects.filter(pk=calendar_24x7.pk).exists()


def test_the_retarget_action_applies_an_edited_policy(admin_client_for, make_ticket, policies):
    from sla.models import TicketSLA

    ticket = make_ticket()
    SLAPolicy.objects.filter(pk=policies["medium"].pk).update(resolution_minutes=600)
    response = admin_client_for.post(
        "/admin/sla/slapolicy/",
        {"action": "retarget_running_clocks", "_selected_action": [policies["medium"].pk]},
    )
    assert response.status_code == 302
    assert TicketSLA.objects.get(ticket=ticket, metric="resolution").target_seconds == 600 * 60


def test_agents_cannot_open_the_sla_admin(client, agent):
    client.force_login(agent)
    assert client.get("/admin/sla/slapolicy/").status_code == 302
