from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from itsm.models import Role, TokenScope, User
from itsm.security.actions import do_create_api_token
from itsm.security.audit import acting_as


def parse_expiry(value: str | None) -> datetime | None:
    """``90`` or ``90d`` (days from now), ``2027-01-31`` (end of that day, UTC), or ``never``."""
    if value is None or value.lower() == "never":
        return None
    text = value.lower().removesuffix("d")
    if text.isdigit():
        days = int(text)
        if days < 1:
            raise CommandError("--expires needs at least 1 day.")
        return timezone.now() + timedelta(days=days)
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--expires {value!r}: give days (90), a date (2027-01-31) or 'never'.") from error
    return datetime.combine(day, time.max, tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Create an API token for EMAIL (creating the user with --role if missing). Prints the key last. "
        "Without --scope the token gets the widest scope the role can use."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", default=None, help=f"one of {', '.join(Role.values)}")
        parser.add_argument("--name", default="api", help="a label for the token")
        parser.add_argument("--scope", default=None, help=f"one of {', '.join(TokenScope.values)}")
        parser.add_argument(
            "--expires", default=None, help="days (90), a date (2027-01-31) or 'never' (default)"
        )
        parser.add_argument(
            "--allowed-networks", default="", help="comma-separated ranges the token may be used from"
        )

    def handle(
        self,
        *args,
        email: str,
        role: str | None,
        name: str,
        scope: str | None,
        expires: str | None,
        allowed_networks: str,
        **options,
    ):
        if role is not None and role not in Role.values:
            raise CommandError(f"Unknown role {role!r}: valid roles are {', '.join(Role.values)}.")
        if scope is not None and scope not in TokenScope.values:
            raise CommandError(f"Unknown scope {scope!r}: valid scopes are {', '.join(TokenScope.values)}.")
        try:
            validate_email(email)
        except ValidationError as error:
            raise CommandError(f"Invalid email address {email!r}.") from error
        expires_at = parse_expiry(expires)
        networks = "\n".join(part.strip() for part in allowed_networks.split(",") if part.strip())
        with acting_as(label="system:command"), transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                user = User.objects.create_user(email=email, role=role or Role.USER)
                self.stdout.write(f"Created user {user.email} with role {user.role}.")
            elif role is not None and user.role != role:
                user.role = role
                user.save(update_fields=["role", "is_staff"])
                self.stdout.write(f"Set the role of {user.email} to {role}.")
            try:
                token, key = do_create_api_token(
                    user,
                    name=name,
                    scope=scope or TokenScope.offered_to(user)[-1],
                    expires_at=expires_at,
                    allowed_networks=networks,
                    actor=None,
                )
            except ValidationError as error:
                problems = "; ".join(
                    f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
                )
                raise CommandError(f"Token refused: {problems}") from error
        expiry = f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
        self.stdout.write(f"Token {token.hint}… scope {token.scope}{expiry}.")
        self.stdout.write(key)
