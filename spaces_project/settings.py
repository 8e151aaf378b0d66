"""Settings, from environment variables only.

Two shapes (docs/architecture.md): with nothing set, the embedded default (SQLite, in-memory
channel layer, Celery tasks run in-process, local-memory cache). With DATABASE_URL and
REDIS_URL set, the distributed shape (PostgreSQL through a psycopg 3 pool, channels-redis, Redis
cache, Celery on Redis). Every variable has a safe embedded default; production values are in
the README.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# --- Core ---------------------------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The fallback key is only good for the embedded shape on a laptop; `check --deploy` flags it.
SECRET_KEY = env(
    "DJANGO_SECRET_KEY", default="django-insecure-embedded-default-do-not-use-in-production"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Who the client is. Behind proxies every connection comes from the nearest proxy, and
# X-Forwarded-For is written by whoever sends the request, so only the entries our own
# proxies appended can be believed: with N trusted proxies the client is the N-th address
# from the right (the one the outermost proxy saw). 0 (the default): X-Forwarded-For is
# ignored. One number for every rule that keys on an address: allauth's login and signup
# limits, the API's throttle for anonymous clients, and `manage.py serve`, which then starts
# Daphne with --proxy-headers (X-Forwarded-Proto, logged addresses). DJANGO_BEHIND_PROXY=true
# means one proxy.
SPACES_TRUSTED_PROXIES = env.int(
    "SPACES_TRUSTED_PROXIES", default=1 if env.bool("DJANGO_BEHIND_PROXY", default=False) else 0
)
ALLAUTH_TRUSTED_PROXY_COUNT = SPACES_TRUSTED_PROXIES

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.headless",
    "accounts",
    "spaces",
    "scheduling",
    "ticketing",
    "replays",
    "alerts",
    "webpush",
    "media",
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics, before anything checks the Host or redirects to HTTPS
    # (spaces_project/health.py); then django-prometheus's request counters around the rest.
    "spaces_project.health.HealthMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "spaces_project.headers.SecurityHeadersMiddleware",  # after CSP: adds to its policy
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.TimeZoneMiddleware",  # the viewer's zone (after auth)
    # The viewer's language (after auth): their setting, else the `django_language` cookie, else
    # Accept-Language. In place of Django's LocaleMiddleware, which runs before auth.
    "accounts.middleware.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "spaces_project.urls"
ASGI_APPLICATION = "spaces_project.asgi.application"
WSGI_APPLICATION = "spaces_project.wsgi.application"

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
                "accounts.context_processors.nav",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
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

LANGUAGE_CODE = "en-us"
# What the site is translated into (`make messages`): the project catalog in locale/ (templates and
# JavaScript), each app's own locale/ (its Python strings). The default stays English: tests and
# e-mails to people without a setting read in it.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
# Recordings and clips (spaces_project/storage.py): never public files, every read goes through
# a view that checks who may hear them. S3-compatible storage when a bucket is named.
SPACES_RECORDINGS_ROOT = Path(env("SPACES_RECORDINGS_ROOT", default=str(MEDIA_ROOT / "recordings")))
SPACES_RECORDINGS_S3_BUCKET = env("SPACES_RECORDINGS_S3_BUCKET", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
    "recordings": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": SPACES_RECORDINGS_ROOT, "base_url": None},
    },
}
if SPACES_RECORDINGS_S3_BUCKET:
    STORAGES["recordings"] = {
        "BACKEND": "spaces_project.s3.RecordingsS3Storage",
        "OPTIONS": {
            "bucket_name": SPACES_RECORDINGS_S3_BUCKET,
            "endpoint_url": env("SPACES_RECORDINGS_S3_ENDPOINT_URL", default=None),
            "region_name": env("SPACES_RECORDINGS_S3_REGION", default=None),
            "location": env("SPACES_RECORDINGS_S3_PREFIX", default="recordings"),
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
# In the embedded shape files are served straight from the app folders, no collectstatic needed.
SERVESTATIC_AUTOREFRESH = DEBUG

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Database -----------------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    # Under ASGI each request may run on another thread: persistent connections leak there,
    # so connections come from psycopg 3's pool instead (docs/architecture.md section 9).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
else:
    # SQLite: take the write lock at BEGIN so concurrent writers queue instead of failing
    # with "database is locked" half-way through a transaction; WAL lets readers go on.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Query counts, durations and errors for /metrics (django-prometheus): its backends are Django's
# own with the cursor class wrapped, so psycopg 3's pool above works unchanged (its connection
# counter then counts checkouts from the pool, not new connections).
DATABASES["default"]["ENGINE"] = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])

# --- Redis: channel layer, cache, Celery --------------------------------------------------------

REDIS_URL = env("REDIS_URL", default="")

# Channel layer (docs/realtime.md, bench/RESULTS.md "Room events"). Each server process joins a
# Space's group once and fans out to its own sockets (spaces/realtime/hub.py), so a group send costs
# O(processes). In the distributed shape the pub/sub layer is the default: one PUBLISH per event
# whatever the number of processes, no per-member Lua writes; SPACES_CHANNEL_LAYER=core selects
# RedisChannelLayer. Capacity is raised for both in-memory and core layers: one hub channel
# carries every Space of its process (and RedisChannelLayer counts all of a process's channels
# in one queue), and a full channel drops messages with only an INFO log.
SPACES_CHANNEL_LAYER = env("SPACES_CHANNEL_LAYER", default="pubsub")
_LAYER_CAPACITY = env.int("SPACES_WS_LAYER_CAPACITY", default=10000)
# One name per deployment on a shared Redis: the cache's key prefix, and from it the channel
# layer's. Redis pub/sub ignores database numbers, so two deployments on /5 and /9 with the
# same channel prefix would receive each other's room events (and media mixes, whose Redis
# names start with the channel prefix: spaces/audio/placement.py).
SPACES_CACHE_PREFIX = env("SPACES_CACHE_PREFIX", default="spaces")
if REDIS_URL:
    _prefix = env("SPACES_CHANNEL_PREFIX", default=f"{SPACES_CACHE_PREFIX}:asgi")
    # redis-py 8 reads with a 5 s socket timeout by default, exactly RedisChannelLayer's
    # blocking-pop time: an idle socket's receive then fails with TimeoutError (close 1011).
    _hosts = [{"address": REDIS_URL, "socket_timeout": 30}]
    if SPACES_CHANNEL_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": _hosts, "prefix": _prefix, "capacity": _LAYER_CAPACITY},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "spaces_project.layers.SpacesPubSubChannelLayer",
                "CONFIG": {"hosts": _hosts, "prefix": _prefix},
            }
        }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": _LAYER_CAPACITY},
        }
    }
# Sockets: per-connection message rate (token bucket), reaction windows, hub upkeep, feed.
SPACES_WS_RATE = env.float("SPACES_WS_RATE", default=10.0)
SPACES_WS_DB_THREADS = env.int("SPACES_WS_DB_THREADS", default=-1)  # -1: 8 on PostgreSQL, else 0
SPACES_WS_BURST = env.int("SPACES_WS_BURST", default=20)
# Per user, over all their sockets and server processes (spaces/realtime/limits.py).
SPACES_WS_USER_RATE = env.float("SPACES_WS_USER_RATE", default=SPACES_WS_RATE)
SPACES_WS_USER_BURST = env.int("SPACES_WS_USER_BURST", default=SPACES_WS_BURST)
SPACES_MAX_SOCKETS_PER_USER = env.int("SPACES_MAX_SOCKETS_PER_USER", default=5)
# Guests (no account) on the Space socket, issue 20 (spaces/realtime/guests.py): open sockets per
# client address per Space, new guest sockets per address per minute (0: no limit), and the
# window in which every process counts its guests (a new guest shows in the count within one or
# two windows).
SPACES_GUEST_SOCKETS_PER_ADDRESS = env.int("SPACES_GUEST_SOCKETS_PER_ADDRESS", default=20)
SPACES_GUEST_CONNECTS_PER_MINUTE = env.int("SPACES_GUEST_CONNECTS_PER_MINUTE", default=30)
SPACES_GUEST_COUNT_SECONDS = env.float("SPACES_GUEST_COUNT_SECONDS", default=10.0)
SPACES_REACTIONS_WINDOW_MS = env.int("SPACES_REACTIONS_WINDOW_MS", default=250)
SPACES_WS_REORDER_MS = env.int("SPACES_WS_REORDER_MS", default=100)
SPACES_WS_GROUP_REFRESH_SECONDS = env.int("SPACES_WS_GROUP_REFRESH_SECONDS", default=30)
# Under Daphne, room events are written to each socket as one frame built once
# (spaces/realtime/wsframes.py).
SPACES_WS_DIRECT_FRAMES = env.bool("SPACES_WS_DIRECT_FRAMES", default=True)
# Freeze settled sockets' objects out of full GC walks (media/gcpolicy.py; bench/RESULTS.md).
SPACES_WS_GC_FREEZE = env.bool("SPACES_WS_GC_FREEZE", default=True)
# `manage.py serve`: Daphne processes sharing the port (more than 1: distributed shape only).
SPACES_WEB_PROCESSES = env.int("SPACES_WEB_PROCESSES", default=1)
# `manage.py serve`: child i also listens on SPACES_WEB_ADMIN_PORT + i (0: not at all) on
# SPACES_WEB_ADMIN_BIND, where Prometheus scrapes it and the command probes its /healthz every
# SPACES_WEB_HEALTH_INTERVAL seconds (after SPACES_WEB_HEALTH_GRACE from its start); three
# failures in a row and it is killed and restarted (docs/operations.md).
SPACES_WEB_ADMIN_PORT = env.int("SPACES_WEB_ADMIN_PORT", default=0)
SPACES_WEB_ADMIN_BIND = env("SPACES_WEB_ADMIN_BIND", default="127.0.0.1")
SPACES_WEB_HEALTH_INTERVAL = env.float("SPACES_WEB_HEALTH_INTERVAL", default=5.0)
SPACES_WEB_HEALTH_GRACE = env.float("SPACES_WEB_HEALTH_GRACE", default=30.0)
SPACES_FEED_MAX_FOLLOWED = env.int("SPACES_FEED_MAX_FOLLOWED", default=500)
SPACES_FEED_DEBOUNCE_MS = env.int("SPACES_FEED_DEBOUNCE_MS", default=300)
SPACES_FEED_REFRESH_SECONDS = env.int("SPACES_FEED_REFRESH_SECONDS", default=60)

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's, with one redis-py client per pool, not one per operation
            # (spaces_project/cache.py).
            "BACKEND": "spaces_project.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Every process of one deployment must share it: the per-Space event `seq`
            # counters live here (spaces_project/bus.py).
            "KEY_PREFIX": SPACES_CACHE_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run in the calling process (embedded shape).
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged after it ran, so a crashed worker's task is redelivered; every task is
# written to be idempotent (STYLE.md, habit 7).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# The in-process stand-in for beat (embedded shape only); tests drive the sweeps themselves.
SPACES_TICKER = env.bool("SPACES_TICKER", default=True)
# Presence (spaces/realtime/presence.py): participants not seen for SPACES_PRESENCE_TIMEOUT seconds
# are marked gone by a sweep every SPACES_PRESENCE_SWEEP_SECONDS; open sockets refresh their users
# every SPACES_PRESENCE_TOUCH_SECONDS (keep it well under the timeout).
SPACES_PRESENCE_TIMEOUT = env.int("SPACES_PRESENCE_TIMEOUT", default=45)
SPACES_PRESENCE_SWEEP_SECONDS = env.int("SPACES_PRESENCE_SWEEP_SECONDS", default=15)
SPACES_PRESENCE_TOUCH_SECONDS = env.int("SPACES_PRESENCE_TOUCH_SECONDS", default=15)
# Host handover (spaces/realtime/presence.py host_sweep): a host not seen for
# SPACES_HOST_GRACE_SECONDS (plus one touch interval) is replaced by a connected co-host, or the
# Space ends; checked every SPACES_HOST_SWEEP_SECONDS.
SPACES_HOST_SWEEP_SECONDS = env.int("SPACES_HOST_SWEEP_SECONDS", default=5)
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "spaces-presence-sweep": {
        "task": "spaces.tasks.presence_sweep",
        "schedule": SPACES_PRESENCE_SWEEP_SECONDS,
    },
    "spaces-host-sweep": {
        "task": "spaces.tasks.host_sweep",
        "schedule": SPACES_HOST_SWEEP_SECONDS,
    },
}
# Scheduled Spaces (scheduling/services/): one sweep claims due reminders in batches and
# expires Spaces not started SPACES_SCHEDULED_EXPIRE_HOURS after their time. Each run does at
# most SPACES_SCHEDULING_MAX_BATCHES batches; the next run goes on where it stopped.
SPACES_SCHEDULE_MIN_LEAD_MINUTES = env.int("SPACES_SCHEDULE_MIN_LEAD_MINUTES", default=15)
SPACES_SCHEDULE_MAX_DAYS = env.int("SPACES_SCHEDULE_MAX_DAYS", default=14)
SPACES_MAX_UPCOMING_PER_HOST = env.int("SPACES_MAX_UPCOMING_PER_HOST", default=10)
SPACES_SCHEDULED_EXPIRE_HOURS = env.int("SPACES_SCHEDULED_EXPIRE_HOURS", default=4)
SPACES_SCHEDULING_SWEEP_SECONDS = env.float("SPACES_SCHEDULING_SWEEP_SECONDS", default=10.0)
SPACES_SCHEDULING_BATCH_SIZE = env.int("SPACES_SCHEDULING_BATCH_SIZE", default=500)
SPACES_SCHEDULING_MAX_BATCHES = env.int("SPACES_SCHEDULING_MAX_BATCHES", default=20)
SPACES_SCHEDULING_MAX_ATTEMPTS = env.int("SPACES_SCHEDULING_MAX_ATTEMPTS", default=5)
# Tests only: seconds each batch waits before it commits, so a test can kill a worker mid-batch.
SPACES_SCHEDULING_TEST_BATCH_DELAY = env.float("SPACES_SCHEDULING_TEST_BATCH_DELAY", default=0.0)
# Replays (replays/services.py): a recording whose origin died is finalized this long after the
# end; replays and clips older than SPACES_RECORDING_RETENTION_DAYS are deleted (0 keeps them).
SPACES_RECORDING_RETENTION_DAYS = env.int("SPACES_RECORDING_RETENTION_DAYS", default=30)
SPACES_RECORDING_SWEEP_SECONDS = env.float("SPACES_RECORDING_SWEEP_SECONDS", default=30.0)
# Live HLS (media/live.py, spaces/services/listening.py): while a Space is live its origin writes
# the listeners' mix as 1 s segments to live/<space>-<token>/ in the `recordings` storage; a static
# server or CDN in front of that folder serves it at SPACES_HLS_URL (a path or an absolute URL;
# the default path is served by Django itself, for the embedded shape). Past
# SPACES_WEBRTC_LISTENERS_MAX real-time listeners in a Space, new listeners get HLS.
SPACES_HLS_ENABLED = env.bool("SPACES_HLS_ENABLED", default=True)
SPACES_HLS_URL = env("SPACES_HLS_URL", default="/live/")
SPACES_WEBRTC_LISTENERS_MAX = env.int("SPACES_WEBRTC_LISTENERS_MAX", default=2000)
CELERY_BEAT_SCHEDULE["spaces-live-sweep"] = {
    "task": "spaces.tasks.live_sweep",
    "schedule": SPACES_RECORDING_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["replays-sweep"] = {
    "task": "replays.tasks.recording_sweep",
    "schedule": SPACES_RECORDING_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["scheduling-sweep"] = {
    "task": "scheduling.tasks.scheduling_sweep",
    "schedule": SPACES_SCHEDULING_SWEEP_SECONDS,
}
# Go-live alerts (alerts/services.py): a Space going live tells its host's followers, a chunk of
# SPACES_GOLIVE_CHUNK followers per transaction, a task writing chunks for at most
# SPACES_GOLIVE_STEP_SECONDS before it queues the next. A host live again within
# SPACES_GOLIVE_REPEAT_SECONDS of their last Space (a restart) alerts nobody; at most
# SPACES_GOLIVE_ALERTS_PER_HOUR alerts per host. The sweep resumes a fan-out not moved for
# SPACES_GOLIVE_STALL_SECONDS; a chunk's push or e-mail claimed SPACES_GOLIVE_SEND_LEASE_SECONDS
# ago and never finished is marked lost (never sent twice).
SPACES_GOLIVE_CHUNK = env.int("SPACES_GOLIVE_CHUNK", default=10000)
SPACES_GOLIVE_STEP_SECONDS = env.float("SPACES_GOLIVE_STEP_SECONDS", default=5.0)
SPACES_GOLIVE_REPEAT_SECONDS = env.int("SPACES_GOLIVE_REPEAT_SECONDS", default=600)
SPACES_GOLIVE_ALERTS_PER_HOUR = env.int("SPACES_GOLIVE_ALERTS_PER_HOUR", default=4)
SPACES_GOLIVE_PUSH_BATCH = env.int("SPACES_GOLIVE_PUSH_BATCH", default=500)
SPACES_GOLIVE_SWEEP_SECONDS = env.float("SPACES_GOLIVE_SWEEP_SECONDS", default=10.0)
SPACES_GOLIVE_STALL_SECONDS = env.float("SPACES_GOLIVE_STALL_SECONDS", default=30.0)
SPACES_GOLIVE_SEND_LEASE_SECONDS = env.float("SPACES_GOLIVE_SEND_LEASE_SECONDS", default=600.0)
# Tests only: seconds each chunk waits before it commits, so a test can kill a worker mid-chunk.
SPACES_GOLIVE_TEST_CHUNK_DELAY = env.float("SPACES_GOLIVE_TEST_CHUNK_DELAY", default=0.0)
# The site's own address ("https://spaces.example"), put before the paths in e-mailed links;
# blank: the e-mails carry the paths alone.
SPACES_SITE_URL = env("SPACES_SITE_URL", default="").rstrip("/")
CELERY_BEAT_SCHEDULE["alerts-golive-sweep"] = {
    "task": "alerts.tasks.golive_sweep",
    "schedule": SPACES_GOLIVE_SWEEP_SECONDS,
}

# --- Accounts (django-allauth) ------------------------------------------------------------------

ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="none")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USERNAME_MIN_LENGTH = 3
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_USER_DISPLAY = "accounts.models.user_display"
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_ONLY = False
# The headless API's own OpenAPI document at /_allauth/openapi.json (and .yaml), linked from
# /api/docs/. No HTML page: allauth's loads Redoc from a CDN.
HEADLESS_SERVE_SPECIFICATION = True
HEADLESS_SPECIFICATION_TEMPLATE_NAME = None

EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="Spaces <noreply@localhost>")

# --- API (DRF) ----------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "spaces_project.drf.SessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["spaces_project.drf.SafeJSONParser"],
    "DEFAULT_METADATA_CLASS": "spaces_project.drf.PlainMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "spaces_project.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["spaces_project.drf.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "write": env("SPACES_WRITE_RATE", default="120/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # DRF's default (None) believes any X-Forwarded-For: anonymous clients keyed as allauth does.
    "NUM_PROXIES": SPACES_TRUSTED_PROXIES,
}
# A JSON body larger than this is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)

SPECTACULAR_SETTINGS = {
    "TITLE": "Spaces API",
    # Space.State is used by several list items (Space, EndedSpace, ScheduledSpace): one name.
    "ENUM_NAME_OVERRIDES": {
        "SpaceStateEnum": "spaces.models.Space.State",
        "ListenModeEnum": "spaces.models.ListenMode",
    },
    # Row ids in paths (spaces_project/converters.py): at most 18 digits.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}
    },
    "DESCRIPTION": (
        "Live audio rooms. Authenticate with the `X-Session-Token` header from the headless "
        "auth API under `/_allauth/app/v1/` (or with the site session and CSRF token). "
        'Every 4xx answer has the shape `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI is served from our own static files: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Product rules ------------------------------------------------------------------------------

SPACES_HOST_MIN_FOLLOWERS = env.int("SPACES_HOST_MIN_FOLLOWERS", default=600)
SPACES_TICKETED_MIN_FOLLOWERS = env.int("SPACES_TICKETED_MIN_FOLLOWERS", default=1000)
SPACES_MAX_SPEAKERS = env.int("SPACES_MAX_SPEAKERS", default=10)
SPACES_MAX_COHOSTS = env.int("SPACES_MAX_COHOSTS", default=2)
SPACES_HOST_GRACE_SECONDS = env.int("SPACES_HOST_GRACE_SECONDS", default=30)
# Reactions: how often one user may tap (per Space), and how often taps are written to the DB.
SPACES_REACTION_RATE = env("SPACES_REACTION_RATE", default="10/sec")
# Comments (spaces/services/comments.py): per person per Space, over every socket and process,
# besides the slow mode a host may set.
SPACES_COMMENT_RATE = env("SPACES_COMMENT_RATE", default="10/min")

STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Ticketed Spaces (ticketing/): money in integer minor units of TICKET_CURRENCY.
TICKET_CURRENCY = env("TICKET_CURRENCY", default="usd")
TICKET_PRICE_MIN = env.int("TICKET_PRICE_MIN", default=100)
TICKET_PRICE_MAX = env.int("TICKET_PRICE_MAX", default=99900)
TICKET_CAPACITY_MAX = env.int("TICKET_CAPACITY_MAX", default=100000)
TICKET_RESERVATION_MINUTES = env.int("TICKET_RESERVATION_MINUTES", default=15)
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)  # 10 %
# Enabled payment providers (ticketing/providers/). `offline` hands out a paid ticket for no
# money, so it is on by default only under DEBUG; a deployment that wants it (a demo) names it,
# and `check --deploy` warns (ticketing.W001, ticketing/checks.py).
PAYMENT_PROVIDERS = env.list(
    "PAYMENT_PROVIDERS", default=["offline", "stripe"] if DEBUG else ["stripe"]
)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["ticketing-reservations-expire"] = {
    "task": "ticketing.tasks.reservations_expire",
    "schedule": 60.0,
}
TURN_URL = env("TURN_URL", default="")
TURN_SECRET = env("TURN_SECRET", default="")
MEDIA_WORKER_ID = env("MEDIA_WORKER_ID", default="embedded")
# This process answers WebRTC offers with its own media worker (the embedded shape). Addresses
# the worker offers as ICE candidates (default: every local one); TURN credentials' lifetime.
MEDIA_EMBEDDED = env.bool("MEDIA_EMBEDDED", default=True)
MEDIA_HOST_ADDRESSES = env.list("MEDIA_HOST_ADDRESSES", default=[])
# Loss protection (media/config.py, bench/RESULTS.md "Networks"): in-band FEC in what the worker
# sends, as strong as its listeners' reported loss; speakers' packets decoded by the worker at
# the mix clock, a lost one recovered from the FEC of the next; DTX in silence (not measured yet,
# so off).
MEDIA_OPUS_FEC = env.bool("MEDIA_OPUS_FEC", default=True)
MEDIA_SPEAKER_FEC = env.bool("MEDIA_SPEAKER_FEC", default=True)
MEDIA_OPUS_DTX = env.bool("MEDIA_OPUS_DTX", default=False)
# What the worker encodes (bench/opus_generations.py: PESQ through two Opus generations and the
# CPU of one encode for each setting). 48000 lifts quality about as much as complexity 10 does
# again, for half as much more bandwidth per listener.
MEDIA_OPUS_BITRATE = env.int("MEDIA_OPUS_BITRATE", default=32_000)
MEDIA_OPUS_COMPLEXITY = env.int("MEDIA_OPUS_COMPLEXITY", default=10)
# RED (RFC 2198) to peers that negotiate it and report loss: earlier frames repeated per packet;
# and from speakers whose own packets are lost (a `reoffer`), unless that fills their uplink.
MEDIA_RED_DISTANCE = env.int("MEDIA_RED_DISTANCE", default=2)
MEDIA_RED_FROM_SPEAKERS = env.bool("MEDIA_RED_FROM_SPEAKERS", default=True)
# The Opus bit rate asked of a speaker whose packets are lost (with RED), for their FEC; 0: never.
MEDIA_LOSSY_SPEAKER_BITRATE = env.int("MEDIA_LOSSY_SPEAKER_BITRATE", default=48_000)
TURN_TTL_SECONDS = env.int("TURN_TTL_SECONDS", default=86400)
# Distributed media (spaces/audio/process.py): with MEDIA_EMBEDDED=0 and REDIS_URL set, the ASGI
# processes relay `signal` to `manage.py media_worker` processes (each with its own
# MEDIA_WORKER_ID and MEDIA_HOST_ADDRESSES). A worker renews its Redis registration every
# HEARTBEAT seconds; TTL after its last renewal a dead worker is gone and its Spaces are placed
# again on the next offer. An offer not answered within MEDIA_SIGNAL_TIMEOUT_SECONDS is retried
# once on the Space's new worker if its own died meanwhile (keep the timeout above the TTL), else
# refused with `media_unavailable`, as is an offer made while no worker is live.
MEDIA_WORKER_HEARTBEAT_SECONDS = env.float("MEDIA_WORKER_HEARTBEAT_SECONDS", default=2.0)
MEDIA_WORKER_TTL_SECONDS = env.float("MEDIA_WORKER_TTL_SECONDS", default=6.0)
MEDIA_SIGNAL_TIMEOUT_SECONDS = env.float("MEDIA_SIGNAL_TIMEOUT_SECONDS", default=10.0)
# Listeners a worker serves itself for a Space it mixes; further listeners go to edge workers
# that relay the encoded mix from Redis pub/sub (media/edge.py). 0: no limit, no edges.
MEDIA_WORKER_MAX_LISTENERS = env.int("MEDIA_WORKER_MAX_LISTENERS", default=300)

# --- Watching a deployment (docs/operations.md) -------------------------------------------------
# /metrics of a web process answers these addresses or networks (the address Daphne reports), or
# anyone sending `Authorization: Bearer <METRICS_BEARER_TOKEN>` when it is set; else 403.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_BEARER_TOKEN = env("METRICS_BEARER_TOKEN", default="")
# Gauges read from the database (live Spaces, listeners by mode, backlogs) are read at most this
# often per process, however often it is scraped.
METRICS_SAMPLE_SECONDS = env.float("METRICS_SAMPLE_SECONDS", default=5.0)
# `manage.py media_worker` serves /metrics, /healthz and /readyz on this port (0: not at all),
# and a Celery worker on CELERY_METRICS_PORT; both on the *_BIND address (loopback by default:
# set the host's private address for a Prometheus on another host).
MEDIA_METRICS_PORT = env.int("MEDIA_METRICS_PORT", default=0)
MEDIA_METRICS_BIND = env("MEDIA_METRICS_BIND", default="127.0.0.1")
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
CELERY_METRICS_BIND = env("CELERY_METRICS_BIND", default="127.0.0.1")

# Web Push (webpush/): the VAPID key pair that signs every push, as base64url (the 32-byte raw
# private key, or its DER; or a PEM), e.g. from `manage.py webpush_keys`; the public key is
# derived from the private one and, when also set, must match it. SUBJECT is the contact the
# push services see (mailto: or https:). Without a private key, the embedded shape generates
# a pair once into WEBPUSH_VAPID_KEY_FILE, beside the SQLite database (and gone with it, as its
# subscriptions are); the distributed shape has no default file (each host would make its own
# key), so push is off there until the keys are set, and `check --deploy` says so
# (webpush/checks.py).
WEBPUSH_VAPID_PRIVATE_KEY = env("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_VAPID_PUBLIC_KEY = env("WEBPUSH_VAPID_PUBLIC_KEY", default="")
WEBPUSH_VAPID_SUBJECT = env("WEBPUSH_VAPID_SUBJECT", default="mailto:admin@localhost")
WEBPUSH_VAPID_KEY_FILE = env(
    "WEBPUSH_VAPID_KEY_FILE",
    default="" if IS_POSTGRES else f"{DATABASES['default']['NAME']}-vapid.pem",
)
# The server POSTs to the endpoint a browser gave it: only to these push services' hosts (an
# entry starting with a dot matches its subdomains; "*" any https host, for a self-hosted push
# service), so a subscription cannot aim the server at another host. http://127.0.0.1
# endpoints (a loopback push service in tests) only when WEBPUSH_ALLOW_LOOPBACK, which
# defaults to DEBUG.
WEBPUSH_ENDPOINT_HOSTS = env.list(
    "WEBPUSH_ENDPOINT_HOSTS",
    default=[
        "fcm.googleapis.com",
        "android.googleapis.com",
        "updates.push.services.mozilla.com",
        ".push.apple.com",
        ".notify.windows.com",
    ],
)
WEBPUSH_ALLOW_LOOPBACK = env.bool("WEBPUSH_ALLOW_LOOPBACK", default=DEBUG)
# Pushes in flight at once per sending task (one pooled HTTP connection each): a push service
# ~30 ms away takes ~25 pushes/s one at a time, ~640/s with 32 (bench/webpush_send.py).
WEBPUSH_SEND_CONCURRENCY = env.int("WEBPUSH_SEND_CONCURRENCY", default=32)
# Devices one user may have subscribed; past it the oldest is dropped.
WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = env.int("WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER", default=20)

# --- Production hardening -----------------------------------------------------------------------

# Behind TLS (DJANGO_HTTPS=true) every cookie is secure and browsers are told to stay on HTTPS.
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if SPACES_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "aioice": {"level": "WARNING"},
        "aiortc": {"level": "WARNING"},
    },
}

# --- Content-Security-Policy and Permissions-Policy (issue #16, item 5) -------------------------
# One block, kept together: django-csp writes the CSP header (csp.middleware.CSPMiddleware);
# spaces_project/headers.py adds Permissions-Policy and the page's own ws(s):// origin to
# connect-src. No inline script anywhere (the page's JSON snapshot is a
# <script type="application/json"> data block, never executed); Swagger UI at /api/docs/ adds
# its one inline <style> for itself only (spaces_project/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Style attributes only (no <style> blocks): each avatar's hue and the hosting progress
        # bar are data-driven `style="--h:7"`/`width:40%`. An attribute cannot run script.
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        # The Web Push service worker, /sw.js (webpush/views.py).
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        # Buying a ticket posts to the site, which redirects to Stripe Checkout: Chromium checks
        # form-action on that redirect too.
        "form-action": ["'self'", "https://checkout.stripe.com"],
    },
}
# Live HLS from another origin (a CDN, or nginx on another port): hls.js fetches it (connect-src)
# and Safari plays it natively (media-src).
_HLS_ORIGIN = urlsplit(SPACES_HLS_URL)
if _HLS_ORIGIN.scheme in ("http", "https") and _HLS_ORIGIN.netloc:
    for _directive in ("connect-src", "media-src"):
        CONTENT_SECURITY_POLICY["DIRECTIVES"][_directive].append(
            f"{_HLS_ORIGIN.scheme}://{_HLS_ORIGIN.netloc}"
        )
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "microphone": ["self"],  # speakers talk from the Space page
    "camera": [],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "serial": [],
    "bluetooth": [],
    "midi": [],
    "display-capture": [],
    "accelerometer": [],
    "gyroscope": [],
    "magnetometer": [],
    "browsing-topics": [],
}
# --- end of the Content-Security-Policy block -----------------------------------------------------
