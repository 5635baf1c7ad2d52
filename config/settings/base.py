"""Harness settings.

Every value comes from the environment. With nothing set this is the embedded default:
SQLite, the in-memory channel layer, an in-process Celery worker and the offline LLM.
`DATABASE_URL` and `REDIS_URL` switch to team mode (PostgreSQL, Redis, separate workers).
"""

from datetime import timedelta
from pathlib import Path

from config.env import database_from_url, env_bool, env_int, env_list, env_str, sqlite_database

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY") or "django-insecure-embedded-mode-only-never-in-production"
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Origins (scheme://host[:port]) whose pages may open a websocket with the session cookie; empty means the
# server's own origin only. Token-header clients (the CLI) send no Origin and need none.
HARNESS_ALLOWED_ORIGINS = env_list("HARNESS_ALLOWED_ORIGINS", [])
# Every live stream (websocket, SSE) re-checks its user, token, membership and share this often, traffic or not.
HARNESS_ACCESS_CHECK_SECONDS = float(env_str("HARNESS_ACCESS_CHECK_SECONDS", "2") or 2)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files
    "axes",
    "guardian",
    "channels",
    "sessions_app",
    "agents_app",
    "artifacts_app",
    "analytics_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # CONTENT_SECURITY_POLICY below
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its response
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
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL) if DATABASE_URL else sqlite_database(str(BASE_DIR / "db.sqlite3"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username/address before any check
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/development/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Login brute force (django-axes; the policy is sessions_app/login_lockout.py) ----------------
# Failures in the cool-off window are counted per username+address, per username and per address, each with
# its own limit: the small one stops one guesser (or a typing person) quickly without locking the account
# for everyone; the wider two stop a guesser with many addresses and an address spraying usernames, while a
# stranger needs many failures to lock someone out. The lock lasts the cool-off after the last failure.
AXES_HANDLER = "sessions_app.login_lockout.LoginLockoutHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("HARNESS_LOGIN_FAILURE_LIMIT", 5)  # one username from one address
HARNESS_LOGIN_USERNAME_FAILURE_LIMIT = env_int("HARNESS_LOGIN_USERNAME_FAILURE_LIMIT", 10)  # from all addresses
HARNESS_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("HARNESS_LOGIN_ADDRESS_FAILURE_LIMIT", 20)  # over all usernames
AXES_COOLOFF_TIME = timedelta(minutes=env_int("HARNESS_LOGIN_COOLOFF_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True  # only that username from that address (LoginLockoutHandler)
AXES_CLIENT_IP_CALLABLE = "sessions_app.login_lockout.client_address"  # = DRF's throttle key (HARNESS_NUM_PROXIES)
AXES_USERNAME_CALLABLE = "sessions_app.login_lockout.login_username"  # cut to the column: no 500 on a long one
AXES_LOCKOUT_CALLABLE = "sessions_app.login_lockout.lockout_response"  # the 429 page, with Retry-After
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = None  # embedded mode serves from the finders; production collects into staticfiles/
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # embedded mode serves static files without collectstatic
MEDIA_ROOT = Path(env_str("HARNESS_MEDIA_ROOT") or BASE_DIR / "media")
MEDIA_URL = "media/"

# --- Redis: channel layer, Celery broker, cache ---------------------------------------
REDIS_URL = env_str("REDIS_URL")
TEAM_MODE = bool(REDIS_URL)

CHANNEL_REDIS_URL = env_str("HARNESS_CHANNEL_REDIS_URL") or REDIS_URL  # a separate Redis for live delivery, if wanted

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, which channels-redis's 5 s BZPOPMIN meets:
                # every consumer idle for 5 s crashed ("Timeout reading"). 15 s: above the BZPOPMIN, still
                # catching a dead Redis.
                "hosts": [{"address": CHANNEL_REDIS_URL, "socket_timeout": 15}],
                "capacity": env_int("HARNESS_CHANNEL_CAPACITY", 1000),
                "expiry": 60,
                "prefix": env_str("HARNESS_CHANNEL_PREFIX", "harness"),
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task runs a bounded slice of an agent (continuations), so its limits only catch a hung worker:
# the slice, plus one model request in flight, plus room for the step's tools.
HARNESS_AGENT_SLICE_STEPS = env_int("HARNESS_AGENT_SLICE_STEPS", 20)
HARNESS_AGENT_SLICE_SECONDS = env_int("HARNESS_AGENT_SLICE_SECONDS", 300)
HARNESS_LLM_TIMEOUT_SECONDS = float(env_str("HARNESS_LLM_TIMEOUT_SECONDS", "120") or 120)
CELERY_TASK_SOFT_TIME_LIMIT = int(HARNESS_AGENT_SLICE_SECONDS + HARNESS_LLM_TIMEOUT_SECONDS + 180)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600} if REDIS_URL else {"polling_interval": 0.005}
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "requeue-lost-work": {
        "task": "agents_app.tasks.requeue_lost_work",
        "schedule": env_int("HARNESS_REAPER_INTERVAL_SECONDS", 15),
    },
}
# Checks of generated code run on their own queue, so a `verifier` worker bounds how many sandboxes run at
# once (the Procfile's `verifier`); the embedded and test workers consume both queues.
HARNESS_VERIFICATION_QUEUE = env_str("HARNESS_VERIFICATION_QUEUE", "verification")
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"agents_app.tasks.run_verification": {"queue": HARNESS_VERIFICATION_QUEUE}}
HARNESS_WORKER_QUEUES = ["celery", HARNESS_VERIFICATION_QUEUE]
# The in-process worker runs inside the web server when there is no Redis broker.
HARNESS_EMBEDDED_WORKER = env_bool("HARNESS_EMBEDDED_WORKER", not REDIS_URL)

# --- REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "sessions_app.api.schema.ErrorAutoSchema",  # every operation lists its errors
    "DEFAULT_PAGINATION_CLASS": "sessions_app.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "sessions_app.api.errors.exception_handler",
    # JSON with a nesting limit and multipart checked to its closing boundary: unreadable bodies are 400s.
    "DEFAULT_PARSER_CLASSES": [
        "sessions_app.api.parsers.LimitedJSONParser",
        "sessions_app.api.parsers.FormParser",
        "sessions_app.api.parsers.CheckedMultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"token": "30/minute"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Proxies in front of Harness that append to X-Forwarded-For; 0 ignores the header, so a client cannot
    # pick its own throttle key.
    "NUM_PROXIES": env_int("HARNESS_NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Harness API",
    "DESCRIPTION": "Persistent, collaborative, multi-agent development sessions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the API's shape is public; its data is not
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: pinned with the package, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Content-Security-Policy (django-csp 4): everything from our own origin, no inline script anywhere (templates
# load static files; json_script blocks are data, not code). style-src 'self' without 'unsafe-inline': our
# templates and the admin's carry no style attributes, and scripts set styles through the CSSOM, which CSP
# allows. connect-src 'self' covers fetch and, in CSP level 3 browsers, the same host's ws:/wss:.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],  # blob: the new-session form's previews of chosen screenshots
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Harness -------------------------------------------------------------------------------
HARNESS_MAX_SCREENSHOT_BYTES = env_int("HARNESS_MAX_SCREENSHOT_BYTES", 10 * 1024 * 1024)
# Every upload is decoded in full once (Pillow holds up to 4 bytes a pixel): 25 M pixels is ≤ 100 MB per upload and
# still takes a 6K display (6016×3384 = 20.4 M) or a 1600×15,000 full-page capture.
HARNESS_MAX_SCREENSHOT_PIXELS = env_int("HARNESS_MAX_SCREENSHOT_PIXELS", 25_000_000)
HARNESS_MAX_SCREENSHOTS_PER_SESSION = env_int("HARNESS_MAX_SCREENSHOTS_PER_SESSION", 10)
HARNESS_MAX_KNOWLEDGE_BYTES = env_int("HARNESS_MAX_KNOWLEDGE_BYTES", 1024 * 1024)
HARNESS_PUBLIC_URL = env_str("HARNESS_PUBLIC_URL", "")
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL")
HARNESS_LLM = env_str("HARNESS_LLM") or ("anthropic" if ANTHROPIC_API_KEY else "offline")
HARNESS_LLM_MODEL = env_str("HARNESS_LLM_MODEL", "claude-sonnet-5-5")
HARNESS_HEARTBEAT_STALE_SECONDS = env_int("HARNESS_HEARTBEAT_STALE_SECONDS", 60)
# HARNESS_LLM_TIMEOUT_SECONDS (above): one model request may take this long; the SDK does not retry —
# the engine does, with an event per retry and a budget.
# Model faults in a row (429, 529, 5xx, timeouts, connection errors, unreadable answers) retried before a run fails.
HARNESS_LLM_MAX_RETRIES = env_int("HARNESS_LLM_MAX_RETRIES", 5)
# A `retry-after` longer than this is cut to it; backoff without one is jittered exponential up to it.
HARNESS_LLM_MAX_RETRY_AFTER_SECONDS = float(env_str("HARNESS_LLM_MAX_RETRY_AFTER_SECONDS", "60") or 60)

DATA_UPLOAD_MAX_MEMORY_SIZE = HARNESS_MAX_SCREENSHOT_BYTES * 2
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("HARNESS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "celery": {"level": "WARNING"},
        "kombu": {"level": "ERROR"},
    },
}
HARNESS_AGENT_MAX_STEPS = env_int("HARNESS_AGENT_MAX_STEPS", 60)
# Output limit of one agent step (thinking included); an answer cut off here is told to go on in smaller pieces.
HARNESS_AGENT_MAX_TOKENS = env_int("HARNESS_AGENT_MAX_TOKENS", 16000)
# Simulated model latency for the offline provider (seconds per step): demos and crash tests.
HARNESS_OFFLINE_STEP_SECONDS = float(env_str("HARNESS_OFFLINE_STEP_SECONDS", "0") or 0)
# Checks of generated code in a bubblewrap sandbox (agents_app/verification): limits per sandboxed command.
HARNESS_BWRAP = env_str("HARNESS_BWRAP", "bwrap")
HARNESS_CHECKS_TOOLCHAIN = env_str("HARNESS_CHECKS_TOOLCHAIN") or str(BASE_DIR / ".toolchain")  # `make toolchain`
HARNESS_CHECKS_TIMEOUT_SECONDS = float(env_str("HARNESS_CHECKS_TIMEOUT_SECONDS", "60") or 60)
HARNESS_CHECKS_MEMORY_MB = env_int("HARNESS_CHECKS_MEMORY_MB", 1024)
HARNESS_CHECKS_CPU_SECONDS = env_int("HARNESS_CHECKS_CPU_SECONDS", 60)
HARNESS_CHECKS_MAX_PROCESSES = env_int("HARNESS_CHECKS_MAX_PROCESSES", 256)
HARNESS_CHECKS_MAX_FILE_MB = env_int("HARNESS_CHECKS_MAX_FILE_MB", 64)
