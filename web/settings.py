"""Settings, all from environment variables (see README "Configuration").

Values missing from the environment fall back to `var/local.env`, which `make run`
writes for the project-local services, and then to safe production defaults.
"""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GEOASSET_VAR", BASE_DIR / "var"))


def _load_local_env(path: Path) -> None:
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            os.environ.setdefault(key.strip(), value.strip())


_load_local_env(VAR_DIR / "local.env")


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set (make run writes one to var/local.env)")
    SECRET_KEY = "insecure-development-key"  # noqa: S105 - only with DEBUG on
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "gisserver",
    "spatial",
    "portfolio",
    "bim",
    "leasing",
    "finance",
    "finance.collection",
    "finance.invoicing",
    "tracking",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Tiles for users this process knows answer here, before the rest (spatial/tiles.py).
    "spatial.tiles.TileFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "web.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgis://geoasset@127.0.0.1:54329/geoasset"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Parallel test runs (several checkouts on one cluster) can each name their own test database.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
# dj-database-url maps postgis:// to GeoDjango's backend; a plain postgres:// URL needs the same.
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0")
# The broker (docs/tracking.md): MQTT_URL is the ingest workers' account (subscribe);
# MQTT_GATEWAY_URL one that may publish for every device (simulator, load generators,
# gateways); MQTT_ADMIN_URL the one that manages the devices' own accounts through
# Mosquitto's dynamic security plugin (empty: the platform leaves them to the broker's admin).
MQTT_URL = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:18830")
MQTT_GATEWAY_URL = os.environ.get("MQTT_GATEWAY_URL", MQTT_URL)
MQTT_ADMIN_URL = os.environ.get("MQTT_ADMIN_URL", "")

# Background jobs (web/celery.py): Celery with Redis as the broker.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "geoasset")
CELERY_TASK_ACKS_LATE = True  # a job lost with its worker is delivered again
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # long jobs: one at a time per worker process
CELERY_TASK_IGNORE_RESULT = True  # jobs record their own outcome in the database
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Chinese first, English second.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "web" / "locale"]
TIME_ZONE = "Asia/Shanghai"
CELERY_TIMEZONE = TIME_ZONE  # the beat schedule (web/celery.py) is in local time
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "web.storage.StaticFilesStorage"},
}

# Before `collectstatic` has run (tests, a fresh checkout) fall back to unhashed names.
WHITENOISE_MANIFEST_STRICT = False

# Uploaded documents and certificates.
DOCUMENT_MAX_BYTES = int(os.environ.get("DOCUMENT_MAX_BYTES", str(20 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = DOCUMENT_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["spatial.access.ScopedPermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "web.api.pagination.StandardPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "web.api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GeoAsset API",
    "DESCRIPTION": "Spatial asset platform: the spatial graph, the asset register and more.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": False,
}

# The web map's base layer: an XYZ tile URL on the intranet ({z}/{x}/{y}; a Tianditu mirror or
# an internal tile server) and its attribution. Empty: only our own layers, nothing leaves.
MAP_BASE_TILE_URL = os.environ.get("GEOASSET_MAP_TILE_URL", "")
MAP_BASE_ATTRIBUTION = os.environ.get("GEOASSET_MAP_TILE_ATTRIBUTION", "")

# WFS 2.0 (spatial/wfs.py): service metadata, and anonymous reads only when switched on,
# limited to the listed company codes (comma-separated; empty: nothing).
WFS_PROVIDER_NAME = os.environ.get("WFS_PROVIDER_NAME", "GeoAsset 空间资产平台")
WFS_PROVIDER_SITE = os.environ.get("WFS_PROVIDER_SITE", "")
WFS_CONTACT_PERSON = os.environ.get("WFS_CONTACT_PERSON", "")
WFS_ANONYMOUS = env_bool("WFS_ANONYMOUS", False)
WFS_ANONYMOUS_COMPANIES = env_list("WFS_ANONYMOUS_COMPANIES")

# BIM import jobs (bim/tasks.py): "thread" runs an upload in the web process after commit;
# "worker" leaves it to `manage.py run_ifc_worker` processes (any number, any machine);
# "celery" sends it to the Celery workers (web/celery.py).
BIM_IMPORT_RUNNER = os.environ.get("BIM_IMPORT_RUNNER", "thread")
BIM_IMPORT_STALE_SECONDS = int(os.environ.get("BIM_IMPORT_STALE_SECONDS", "900"))
BIM_IMPORT_MAX_BYTES = int(os.environ.get("BIM_IMPORT_MAX_BYTES", str(512 * 1024 * 1024)))

# Django's own checks: the history middleware records who made each change.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Debian 12 ships GDAL 3.6; GDAL only reads files the platform itself hands it.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
