from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    """Self sign-up creates requesters (role ``user``); roles are raised by admins."""

    def is_open_for_signup(self, request):  # type: ignore[no-untyped-def]
        return settings.ACCOUNT_ALLOW_REGISTRATION
