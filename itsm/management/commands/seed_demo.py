from datetime import timedelta

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from itsm import kpis
from itsm.analytics import snapshots
from itsm.models import Organisation, Role, Team, User
from itsm.signals import demo_seeded

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published demo logins

ORGANISATIONS = [
    ("Northwind Traders", "enterprise", "northwind.example"),
    ("Contoso Retail", "business", "contoso.example"),
    ("Fabrikam Labs", "standard", "fabrikam.example"),
    ("Tailspin Toys", "free", "tailspin.example"),
]

TEAMS = [
    ("Service Desk", ["general", "accounts", "access"]),
    ("Network", ["network", "vpn", "wifi"]),
    ("Applications", ["software", "email", "erp"]),
    ("Hardware", ["hardware", "laptop", "printer"]),
]

# persona -> (email, full name, role, organisation, teams, skills, seniority)
PERSONAS = {
    "admin": (
        "admin@demo.example",
        "Ada Admin",
        Role.ADMIN,
        "Northwind Traders",
        ["Service Desk"],
        [],
        "lead",
    ),
    "agent": (
        "agent@demo.example",
        "Alex Agent",
        Role.AGENT,
        "Northwind Traders",
        ["Service Desk", "Network"],
        ["network", "vpn", "accounts"],
        "senior",
    ),
    "agent2": (
        "sam@demo.example",
        "Sam Support",
        Role.AGENT,
        "Northwind Traders",
        ["Applications"],
        ["software", "email"],
        "mid",
    ),
    "agent3": (
        "hana@demo.example",
        "Hana Hardware",
        Role.AGENT,
        "Northwind Traders",
        ["Hardware"],
        ["hardware", "laptop", "printer"],
        "junior",
    ),
    "requester": ("user@demo.example", "Riley Requester", Role.USER, "Contoso Retail", [], [], "mid"),
    "requester2": ("olivia@demo.example", "Olivia Owner", Role.USER, "Northwind Traders", [], [], "mid"),
    "viewer": ("viewer@demo.example", "Victor Viewer", Role.VIEWER, "Northwind Traders", [], [], "mid"),
}

LEADS = {"Service Desk": "admin", "Network": "agent", "Applications": "agent2", "Hardware": "agent3"}


class Command(BaseCommand):
    help = "Create (or refresh) the demo organisations, teams and users of every role. Idempotent."

    def handle(self, *args, **options):
        with transaction.atomic():
            organisations = {}
            for name, tier, domain in ORGANISATIONS:
                organisations[name], _ = Organisation.objects.update_or_create(
                    name=name, defaults={"tier": tier, "domain": domain}
                )
            teams = {}
            for name, skills in TEAMS:
                teams[name], _ = Team.objects.update_or_create(name=name, defaults={"skills": skills})
            users = {}
            for persona, (
                email,
                full_name,
                role,
                organisation,
                team_names,
                skills,
                seniority,
            ) in PERSONAS.items():
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = User.objects.create_user(email=email, password=DEMO_PASSWORD)
                user.full_name = full_name
                user.role = role
                user.organisation = organisations[organisation]
                user.skills = skills
                user.seniority = seniority
                user.is_superuser = role == Role.ADMIN
                user.save()
                user.teams.set([teams[name] for name in team_names])
                # Demo logins are verified so they can sign in at once.
                EmailAddress.objects.update_or_create(
                    user=user, email=email, defaults={"verified": True, "primary": True}
                )
                users[persona] = user
            for team_name, persona in LEADS.items():
                team = teams[team_name]
                team.lead = users[persona]
                team.save(update_fields=["lead"])
            demo_seeded.send(sender=self.__class__, users=users, teams=teams, stdout=self.stdout)
            # The dashboard's trends read daily snapshots: rebuild the demo's 90 days (rows replaced).
            today = kpis.local_today()
            snapshots.rebuild(today - timedelta(days=91), today)

        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready. Sign in with (password for all: {DEMO_PASSWORD}):")
        )
        for user in users.values():
            self.stdout.write(f"  {user.role:<7} {user.email}")
