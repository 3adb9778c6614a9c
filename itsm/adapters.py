from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import clear_login
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect

from itsm.lib.networks import client_ip
from itsm.security import policy, signins
from itsm.security.models import FailureReason, SignInMethod, SignInResult
from itsm.security.signins import lockout_key


class AccountAdapter(DefaultAccountAdapter):
    """Self sign-up creates requesters (role ``user``); roles are raised by admins.

    Also the sign-in policy of ``itsm.security``: the client address behind trusted proxies, failed
    attempts counted per email whatever the host name, and refusals (agent allowlist, agents
    on single sign-on only) recorded in the sign-in log.
    """

    def is_open_for_signup(self, request):
        return settings.ACCOUNT_ALLOW_REGISTRATION

    def get_client_ip(self, request):
        return client_ip(request)

    def _get_login_attempts_cache_key(self, request, **credentials):
        # allauth keys failed attempts on host + email; one key per email lets an admin lift a
        # lockout (itsm.security.signins.lift_lockout) and stops host-name games.
        return lockout_key(credentials.get("email", credentials.get("username", "")))

    def pre_authenticate(self, request, **credentials):
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            signins.record(
                request,
                method=SignInMethod.PASSWORD,
                result=SignInResult.FAILURE,
                email=credentials.get("email", ""),
                reason=FailureReason.RATE_LIMITED,
            )
            raise

    def pre_login(self, request, user, **kwargs):
        response = super().pre_login(request, user, **kwargs)
        if response is not None:
            return response
        method = (
            SignInMethod.SSO
            if "sociallogin" in (kwargs.get("signal_kwargs") or {})
            else SignInMethod.PASSWORD
        )
        refusal = policy.sign_in_refusal(request, user, method)
        if refusal is None:
            return None
        reason, message = refusal
        signins.record(request, method=method, result=SignInResult.FAILURE, user=user, reason=reason)
        clear_login(request)
        messages.error(request, message)
        return redirect(settings.LOGIN_URL)
