"""Custodian settings, read from the environment.

CUSTODIAN_ENV     development (default) or production; production turns on the secure defaults
                  that `manage.py check --deploy` asks for and requires SECRET_KEY.
DATABASE_URL      the catalog's own database (default: a SQLite file, the embedded default).
REDIS_URL         RQ's Redis; unset, jobs run synchronously in-process.
SECRET_KEY, DEBUG, ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, CUSTODIAN_IMPORT_ROOT.
SECRET_KEY and CUSTODIAN_PEPPER are required in production. In development, each left unset is generated
once into a git-ignored file (.secret_key, .custodian_pepper, mode 0600) in CUSTODIAN_SECRETS_DIR (default:
next to manage.py) and reused on later starts, so no public key signs sessions or keys masking.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from import_export.formats.base_formats import CSV, JSON, XLSX

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def development_secret(filename: str) -> str:
    """A random secret kept in a file readable by its owner only: made on the first start, then reused.
    Written whole to a temporary file and linked into place, so a process starting at the same moment
    reads either no file or the finished one."""
    path = Path(os.environ.get("CUSTODIAN_SECRETS_DIR", BASE_DIR)) / filename
    if not path.exists():
        temporary = path.with_name(f"{filename}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as secret_file:
            secret_file.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink()
    value = path.read_text().strip()
    if not value:
        raise ImproperlyConfigured(f"{path} is empty; delete it to have a new secret generated.")
    return value


def required_secret(name: str, filename: str, purpose: str) -> str:
    """The secret from the environment; in production its absence stops the start with a clear message."""
    value = os.environ.get(name, "")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when CUSTODIAN_ENV=production ({purpose}).")
    return development_secret(filename)


CUSTODIAN_ENV = os.environ.get("CUSTODIAN_ENV", "development")
if CUSTODIAN_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"CUSTODIAN_ENV={CUSTODIAN_ENV!r}; use development or production.")
PRODUCTION = CUSTODIAN_ENV == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = required_secret("SECRET_KEY", ".secret_key", "it signs sessions and tokens")
# The pepper keys hash and token masking of personal data. It never falls back to SECRET_KEY: rotating that
# key must not change masked values, and whoever knows one secret must not be able to recompute the other.
CUSTODIAN_PEPPER = required_secret(
    "CUSTODIAN_PEPPER", ".custodian_pepper", "it keys the hashing and tokenizing of personal data"
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "import_export",
    "django_rq",
    "core",
    "catalog",
    "pipelines",
    "quality",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the acting user on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's model backend behind the sign-in lock-out (catalog/signin_throttle.py): after this many failures
# for one user name (or from one address) within the cool-off, sign-in is refused until the cool-off ends.
# The address limit is higher: an office behind one NAT address would otherwise be locked out together.
AUTHENTICATION_BACKENDS = ["catalog.signin_throttle.ThrottledModelBackend"]
CUSTODIAN_SIGNIN_FAILURE_LIMIT = int(os.environ.get("CUSTODIAN_SIGNIN_FAILURE_LIMIT", "5"))
CUSTODIAN_SIGNIN_IP_FAILURE_LIMIT = int(os.environ.get("CUSTODIAN_SIGNIN_IP_FAILURE_LIMIT", "20"))
CUSTODIAN_SIGNIN_COOLOFF_MINUTES = float(os.environ.get("CUSTODIAN_SIGNIN_COOLOFF_MINUTES", "15"))
# Behind this many trusted reverse proxies, a client's address is read from X-Forwarded-For.
CUSTODIAN_PROXY_COUNT = int(os.environ.get("CUSTODIAN_PROXY_COUNT", "0"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
CUSTODIAN_IMPORT_ROOT = Path(os.environ.get("CUSTODIAN_IMPORT_ROOT", BASE_DIR / "imports")).resolve()

# Uploads above this size are refused before they are parsed (catalog imports, source files).
CUSTODIAN_MAX_IMPORT_BYTES = int(os.environ.get("CUSTODIAN_MAX_IMPORT_BYTES", str(20 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = CUSTODIAN_MAX_IMPORT_BYTES
# An XLSX workbook is a zip: refused before parsing when it would unzip to more than this in all, or when a
# part of it is compressed beyond this ratio (a decompression bomb). Both read from the zip's directory.
CUSTODIAN_MAX_UNCOMPRESSED_BYTES = int(
    os.environ.get("CUSTODIAN_MAX_UNCOMPRESSED_BYTES", str(200 * 1024 * 1024))
)
CUSTODIAN_MAX_COMPRESSION_RATIO = int(os.environ.get("CUSTODIAN_MAX_COMPRESSION_RATIO", "100"))
# Catalog imports (CSV, XLSX, JSON) with more data rows than this are refused before they are parsed.
CUSTODIAN_MAX_IMPORT_ROWS = int(os.environ.get("CUSTODIAN_MAX_IMPORT_ROWS", "100000"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Webhooks may only reach public addresses; internal alert receivers are listed here by host name, IP
# address or network (comma-separated in the environment), e.g. "alerts.corp.example, 10.20.0.0/16".
CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = env_list("CUSTODIAN_WEBHOOK_ALLOWED_HOSTS")

# Jobs: with REDIS_URL, RQ workers do the work; without it, jobs run in-process when enqueued.
REDIS_URL = os.environ.get("REDIS_URL", "")
CUSTODIAN_JOBS_SYNC = not REDIS_URL
# `manage.py rqworker` uses this worker class: it imports the job modules below before forking each job.
RQ = {"WORKER_CLASS": "core.worker.PreloadingWorker"}
# django-rq would also mount its dashboard inside the admin (/admin/django_rq/dashboard/), guarded only by
# is_staff: the one mount is /django-rq/, for superusers (config/urls.py).
RQ_SHOW_ADMIN_LINK = False
CUSTODIAN_WORKER_PRELOAD = [
    "pipelines.runner",
    "quality.runner",
    "compliance.enforcement",
    "catalog.schema.apply",
]
RQ_QUEUES = {
    name: {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 3600}
    for name in ("etl", "quality", "default")
}

# Pipeline runs: a heartbeat every few seconds; a run silent for longer than the stale limit lost its worker.
# Retries after transient errors wait base × 3^(attempt-1) seconds.
CUSTODIAN_HEARTBEAT_SECONDS = float(os.environ.get("CUSTODIAN_HEARTBEAT_SECONDS", "5"))
CUSTODIAN_HEARTBEAT_STALE_SECONDS = float(os.environ.get("CUSTODIAN_HEARTBEAT_STALE_SECONDS", "60"))
CUSTODIAN_RETRY_BASE_SECONDS = float(os.environ.get("CUSTODIAN_RETRY_BASE_SECONDS", "10"))
# Quarantined (rejected) rows hold raw source values, personal data included: the scheduler tick deletes
# them this many days after their run finished. The run keeps its counts and reasons' summary.
CUSTODIAN_QUARANTINE_DAYS = int(os.environ.get("CUSTODIAN_QUARANTINE_DAYS", "30"))
# SQL pipeline sources run read only with a statement timeout: a run's statement (each batch fetched) stops
# after CUSTODIAN_SOURCE_TIMEOUT_SECONDS, a dry run's (started from a page) after the shorter one.
CUSTODIAN_SOURCE_TIMEOUT_SECONDS = float(os.environ.get("CUSTODIAN_SOURCE_TIMEOUT_SECONDS", "3600"))
CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS = float(os.environ.get("CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS", "30"))

# Quality checks run stewards' patterns and SQL on the data store: bounded, so none holds its CPU for long.
# Every statement of a check stops at CUSTODIAN_QUALITY_TIMEOUT_SECONDS, itself capped (with a rule's own
# timeout_seconds) by CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS; schedules fire at most every N minutes.
CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS = float(os.environ.get("CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS", "300"))
CUSTODIAN_QUALITY_TIMEOUT_SECONDS = float(os.environ.get("CUSTODIAN_QUALITY_TIMEOUT_SECONDS", "300"))
CUSTODIAN_QUALITY_MIN_SCHEDULE_MINUTES = int(os.environ.get("CUSTODIAN_QUALITY_MIN_SCHEDULE_MINUTES", "15"))

# Each app's scheduled work (<app>_tick), run by one tick job on the RQ scheduler (core/scheduler.py),
# which first fails lost runs of every kind (core.runs.runs_reap).
# Tables the apps keep inside target databases for themselves: drift and introspection pass them by.
CUSTODIAN_BOOKKEEPING_TABLES = ["custodian_pipeline_state"]
CUSTODIAN_SCHEDULED_TICKS = [
    "pipelines.services.pipelines_tick",
    "quality.services.quality_tick",
    "compliance.retention.retention_tick",
    "catalog.storage.storage_tick",
]
# When every retention policy is enforced (cron, UTC): daily at 02:00 by default.
CUSTODIAN_RETENTION_CRON = os.environ.get("CUSTODIAN_RETENTION_CRON", "0 2 * * *")

# The audit trail is append-only: no reverting from history pages, for anyone.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# django-import-export: importing needs the add permission, exporting the view permission.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_FORMATS = [CSV, XLSX, JSON]
# Off on purpose: it only strips a leading "=" and turns every cell, numbers too, into text. The catalog
# resources escape formula-leading text themselves (core.exports) and keep numbers as numbers.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

LOGIN_URL = "admin:login"

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own console handler would print every line a second time.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
