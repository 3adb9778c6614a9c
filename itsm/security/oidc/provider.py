"""allauth's OpenID Connect provider, made strict.

allauth's own provider trusts an ID token received straight from the token endpoint without
checking its signature (the specification allows it over TLS) and sends no nonce. Here every ID
token's signature is checked against the provider's JWKS, every authorization request carries a
nonce (checked when the sign-in completes, see ``adapter``) and PKCE (S256) is always on.
Configured as ``SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]``.
"""

from __future__ import annotations

from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.utils import generate_code_challenge
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.utils.crypto import get_random_string
from requests import RequestException

from itsm.security.oidc.claims import ClaimMapping

NONCE_STATE_KEY = "nonce"


class StrictOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    def complete_login(self, request, app, token, **kwargs):
        try:
            return super().complete_login(request, app, token, **kwargs)
        except (KeyError, ValueError, TypeError) as error:
            # A token or userinfo answer without the expected claims (no "sub"…): a refused
            # sign-in, not a server error.
            raise OAuth2Error(f"Unusable identity provider answer: {error!r}") from error

    def _decode_id_token(self, app, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class StrictOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = StrictOAuth2Adapter
    # Our urls (itsm.security.oidc.urls) route to views that use the strict adapter.
    package = "itsm.security.oidc"

    def get_pkce_params(self) -> dict:
        return generate_code_challenge()

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = get_random_string(32)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        auth_params = {**auth_params, "nonce": nonce}
        try:
            # The nonce is kept in allauth's per-sign-in state; the adapter compares it with the token's.
            return super().redirect(
                request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
            )
        except (RequestException, ValueError) as error:
            # The provider's discovery document could not be read: a failed sign-in, not a 500.
            return render_authentication_error(request, self, exception=error)

    def mapping(self) -> ClaimMapping:
        return ClaimMapping.parse(self.app.settings)

    def extract_email_addresses(self, data):
        addresses = super().extract_email_addresses(data)
        if self.mapping().trust_email:
            # The provider owns the domain (Entra ID sends no email_verified claim).
            for address in addresses:
                address.verified = True
        else:
            for address in addresses:
                address.verified = address.verified is True
        return addresses
