"""A small OpenID Connect provider on 127.0.0.1 that behaves as the specifications say.

- ``GET /.well-known/openid-configuration``: the discovery document (OpenID Connect Discovery 1.0).
- ``GET /authorize``: the authorization endpoint (RFC 6749 §4.1.1 with PKCE, RFC 7636): checks the
  client and redirect URI, requires an S256 ``code_challenge``, and answers 302 to the redirect
  URI with a one-time ``code`` and the ``state``, as if the person in ``signed_in`` had signed in.
  A bad client or redirect URI answers 400 (never a redirect, as §4.1.2.1 requires).
- ``POST /token``: the token endpoint (RFC 6749 §4.1.3, §5.2): client authentication by
  ``client_secret_post`` or ``client_secret_basic`` (401 ``invalid_client``), the code once only
  and for the same redirect URI, the PKCE verifier (400 ``invalid_grant``); answers an access
  token and an RS256 ID token (``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nonce`` + claims).
- ``GET /userinfo``: the claims, for a ``Bearer`` access token (401 otherwise).
- ``GET /jwks``: the public RSA key (RFC 7517).

Tests bend the answers with ``id_token_changes`` (a wrong ``aud``, a past ``exp``, another
``nonce``) or ``sign_with_wrong_key`` (a signature the JWKS does not verify).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "itsm-desk"
CLIENT_SECRET = "fake-oidc-client-secret"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    claims: dict[str, Any]


@dataclass
class FakeOIDCProvider:
    signed_in: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-1001",
            "email": "nina.sso@example.com",
            "email_verified": True,
            "name": "Nina Single",
            "groups": [],
        }
    )
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    sign_with_wrong_key: bool = False
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = _new_key()
        self.other_key = _new_key()
        self.kid = "fake-key-1"
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeOIDCProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- What the endpoints answer ---

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != CLIENT_ID:
            return 400, {}, {"error": "invalid_request", "error_description": "unknown client_id"}
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return 400, {}, {"error": "invalid_request", "error_description": "bad redirect_uri"}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return (
                302,
                {
                    "Location": _with(
                        redirect_uri, error="unsupported_response_type", state=query.get("state", "")
                    )
                },
                None,
            )
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return (
                302,
                {"Location": _with(redirect_uri, error="invalid_request", state=query.get("state", ""))},
                None,
            )
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.grants[code] = Grant(
                client_id=CLIENT_ID,
                redirect_uri=redirect_uri,
                code_challenge=query["code_challenge"],
                nonce=query.get("nonce"),
                claims=dict(self.signed_in),
            )
        return 302, {"Location": _with(redirect_uri, code=code, state=query.get("state", ""))}, None

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, str], Any]:
        self.token_requests.append(dict(form))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _sep, client_secret = decoded.partition(":")
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return 401, {"WWW-Authenticate": "Basic"}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return 400, {}, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or challenge != grant.code_challenge:
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        access_token = secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens[access_token] = grant.claims
        return (
            200,
            {"Cache-Control": "no-store"},
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self.id_token(grant),
            },
        )

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **grant.claims,
            **self.id_token_changes,
        }
        key = self.other_key if self.sign_with_wrong_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def userinfo(self, authorization: str) -> tuple[int, dict[str, str], Any]:
        claims = self.access_tokens.get(authorization.removeprefix("Bearer ").strip())
        if not authorization.startswith("Bearer ") or claims is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {"error": "invalid_token"}
        return 200, {}, claims

    # --- HTTP ---

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._answer(200, {}, provider.discovery())
                elif url.path == "/jwks":
                    self._answer(200, {}, provider.jwks())
                elif url.path == "/authorize":
                    self._answer(*provider.authorize(query))
                elif url.path == "/userinfo":
                    self._answer(*provider.userinfo(self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {}, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                if urlparse(self.path).path == "/token":
                    self._answer(*provider.token(form, self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {}, {"error": "not_found"})

        return Handler


def _with(url: str, **params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
