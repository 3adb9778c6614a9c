from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from itsm.models import ApiToken, Role, User


class Command(BaseCommand):
    help = "Create an API token for EMAIL (creating the user with --role if missing). Prints the key last."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("email")
        parser.add_argument("--role", default=None, help=f"one of {', '.join(Role.values)}")
        parser.add_argument("--name", default="api", help="a label for the token")

    def handle(self, *args, email: str, role: str | None, name: str, **options):  # type: ignore[no-untyped-def]
        if role is not None and role not in Role.values:
            raise CommandError(f"Unknown role {role!r}: valid roles are {', '.join(Role.values)}.")
        try:
            validate_email(email)
        except ValidationError as error:
            raise CommandError(f"Invalid email address {email!r}.") from error
        with transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                user = User.objects.create_user(email=email, role=role or Role.USER)
                self.stdout.write(f"Created user {user.email} with role {user.role}.")
            elif role is not None and user.role != role:
                user.role = role
                user.save(update_fields=["role", "is_staff"])
                self.stdout.write(f"Set the role of {user.email} to {role}.")
            _token, key = ApiToken.issue(user, name=name)
        self.stdout.write(key)
