"""The admin setting of Jira knowledge projects: who may change it, what it accepts, its actions."""

import pytest

from ai.knowledge.models import JiraAudience, JiraKnowledgeProject
from itsm.models import Role, User

pytestmark = pytest.mark.django_db

LIST = "/admin/knowledge/jiraknowledgeproject/"
ADD = f"{LIST}add/"


def form(**values):
    return {"key": "HIST", "audience": "internal", "organisation": "", "enabled": "on", **values}


def test_admins_add_an_internal_project_and_one_shared_with_an_organisation(client, admin_user, organisation):
    client.force_login(admin_user)
    assert client.get(LIST).status_code == 200
    assert client.post(ADD, form(key="hist")).status_code == 302
    response = client.post(ADD, form(key="SHARED", audience="organisation", organisation=organisation.pk))
    assert response.status_code == 302
    assert list(JiraKnowledgeProject.objects.values_list("key", "audience", "organisation")) == [
        ("HIST", JiraAudience.INTERNAL, None),
        ("SHARED", JiraAudience.ORGANISATION, organisation.pk),
    ]
    assert client.get(LIST).status_code == 200
    assert client.get("/admin/knowledge/jiraissue/").status_code == 200


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (
            {"audience": "organisation"},
            "organisation",
            "Choose the organisation whose requesters may read it.",
        ),
        ({"organisation": "ORG"}, "organisation", "An internal project is for agents only"),
        ({"key": "my project"}, "key", "A Jira project key"),
        ({"key": ""}, "key", "This field is required."),
    ],
)
def test_bad_settings_are_refused_beside_the_field_and_nothing_is_saved(
    client, admin_user, organisation, values, field, message
):
    if values.get("organisation") == "ORG":
        values["organisation"] = organisation.pk
    client.force_login(admin_user)
    response = client.post(ADD, form(**values))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field])
    assert not JiraKnowledgeProject.objects.exists()


def test_a_duplicate_key_is_refused(client, admin_user):
    JiraKnowledgeProject.objects.create(key="HIST")
    client.force_login(admin_user)
    response = client.post(ADD, form(key="hist"))
    assert response.status_code == 200 and "key" in response.context["adminform"].form.errors
    assert JiraKnowledgeProject.objects.count() == 1


@pytest.mark.parametrize("persona", ["agent", "requester", "viewer", "staff_agent"])
def test_only_admins_change_the_setting(client, request, persona):
    if persona == "staff_agent":
        # An agent allowed into the admin for something else still may not touch this setting.
        user = User.objects.create_user(
            email="staff@example.com", password="x", role=Role.AGENT, is_staff=True
        )
    else:
        user = request.getfixturevalue(persona)
    client.force_login(user)
    for url in (LIST, ADD):
        response = client.get(url)
        assert response.status_code in (302, 403)
        if response.status_code == 302:
            assert "/admin/login/" in response["Location"]
    assert client.post(ADD, form()).status_code in (302, 403)
    assert not JiraKnowledgeProject.objects.exists()


def test_load_from_jira_queues_one_backfill_per_project(client, admin_user, new_jobs):
    hist = JiraKnowledgeProject.objects.create(key="HIST")
    JiraKnowledgeProject.objects.create(key="OFF", enabled=False)
    client.force_login(admin_user)
    selected = list(JiraKnowledgeProject.objects.values_list("pk", flat=True))
    answers = [
        client.post(
            LIST, {"action": "load_from_jira", "_selected_action": selected}, follow=True
        ).content.decode()
        for _ in range(2)
    ]
    assert f"Queued: {hist.key}." in answers[0]
    assert "Nothing queued." in answers[1]  # one backfill waits already
    assert new_jobs("ai.knowledge.tasks.backfill_jira_project") == 1  # HIST once; OFF is disabled
