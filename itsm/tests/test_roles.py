import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("persona", "may_enter_admin"),
    [("admin_user", True), ("agent", False), ("requester", False), ("viewer", False)],
)
def test_it_opens_the_admin_only_to_admins(client, request, persona, may_enter_admin):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("admin:index"))
    assert (response.status_code == 200) is may_enter_admin


def test_it_shows_the_landing_page_to_every_role(client, admin_user, agent, requester, viewer):
    for user in (admin_user, agent, requester, viewer):
        client.force_login(user)
        response = client.get(reverse("home"))
        assert response.status_code == 200
        assert user.email in response.content.decode()


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_role_predicates(admin_user, agent, requester, viewer):
    assert admin_user.is_admin and admin_user.is_agent and admin_user.is_staff
    assert agent.is_agent and not agent.is_admin and agent.can_write()
    assert requester.is_requester and not requester.is_agent and requester.can_write()
    assert viewer.is_viewer and not viewer.can_write() and not viewer.is_agent


def test_it_makes_admins_staff_so_they_can_use_the_admin(admin_user):
    from itsm.models import Role

    admin_user.role = Role.AGENT
    admin_user.is_staff = False
    admin_user.save()
    admin_user.role = Role.ADMIN
    admin_user.save()
    admin_user.refresh_from_db()
    assert admin_user.is_staff


def test_the_admin_manages_users_teams_and_organisations(client, admin_user, agent, team, organisation):
    client.force_login(admin_user)
    for name in ["itsm_user", "itsm_team", "itsm_organisation", "itsm_apitoken"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:itsm_user_change", args=[agent.pk])).status_code == 200
    response = client.post(
        reverse("admin:itsm_team_add"),
        {
            "name": "Field Services",
            "description": "",
            "email": "",
            "skills": "onsite,hardware",
            "members": [agent.pk],
        },
    )
    assert response.status_code == 302
    from itsm.models import Team

    created = Team.objects.get(name="Field Services")
    assert created.skills == ["onsite", "hardware"]
    assert list(created.members.all()) == [agent]
