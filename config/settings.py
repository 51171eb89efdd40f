"""Settings for Leadmatrix, read from the environment.

The embedded default (no variables set) is a development setup on a SQLite file under var/ with
background work run inline. Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL;
start-up is refused without them. Every variable is listed in docs/configuration.md.
"""

import os
import sys
from pathlib import Path

from django.utils.csp import CSP

from config.env import SettingsError, database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LEADMATRIX_VAR_DIR", str(BASE_DIR / "var")))
TESTING = "pytest" in sys.modules or env_bool("LEADMATRIX_TESTING", False)

DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise SettingsError(
            "SECRET_KEY must be set when DEBUG is off (or set SECRET_KEY_FILE to a file holding it)."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-leadmatrix-0000"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise SettingsError("ALLOWED_HOSTS must be set when DEBUG is off, e.g. ALLOWED_HOSTS=leads.example.com.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "django_tasks_db",
    "ninja",  # its docs page then uses the vendored Swagger UI files, not a CDN
    "config",
    "config.audit",
    "config.accounts",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "scoring",
    "leads",
    "leads.integrations",
    "feedback",
    "leads.imports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session limits, then the two-factor step: once the user and messages are there.
    "config.accounts.middleware.SessionPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lock-out raised during sign-in into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.roles.context",
                "feedback.context.badges",  # the bell and the Proposals count, in one query
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'leadmatrix.sqlite3'}"
DATABASES = {"default": database_from_url(DATABASE_URL, pool=env_bool("DATABASE_POOL", not TESTING))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out account or address before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs collectstatic; DEBUG and tests serve the files as they are.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Without collectstatic (development, tests) whitenoise serves files straight from the finders.
WHITENOISE_USE_FINDERS = DEBUG or TESTING
MEDIA_ROOT = VAR_DIR / "media"
# Uploaded import files wait here between upload and import (deleted when the import finishes).
# Web and worker processes must share it when they run on different machines.
IMPORTS_DIR = Path(env_str("LEADMATRIX_IMPORTS_DIR", str(MEDIA_ROOT / "imports")))

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Background work: inline for the embedded default and tests, the database queue in production.
TASKS_BACKEND = env_str("TASKS_BACKEND", "immediate" if DEBUG or TESTING else "database")
if TASKS_BACKEND not in {"immediate", "database"}:
    raise SettingsError(f"TASKS_BACKEND must be 'immediate' or 'database'; got {TASKS_BACKEND!r}.")
TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend"
        if TASKS_BACKEND == "immediate"
        else "django_tasks_db.DatabaseBackend",
    }
}

# Development prints mail to the console; production sends it over SMTP (EMAIL_HOST etc.) unless told otherwise.
MAILERS = {
    "default": {
        "BACKEND": env_str(
            "EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend"
            if DEBUG
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": {}
        if DEBUG
        else {
            "host": env_str("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 25, minimum=1),
            "username": env_str("EMAIL_HOST_USER", ""),
            "password": env_str("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
        },
    }
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "leadmatrix@localhost")

# Security headers. The CSP allows only our own files; scripts and styles need the nonce.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# A session ends after SESSION_COOKIE_AGE seconds however busy (absolute), or after SESSION_IDLE_SECONDS
# without a request (idle; config/accounts/middleware.py). Signing in always starts a new session key.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 10, minimum=60)
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 60 * 60, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)

# Brute-force protection (django-axes): after LOGIN_FAILURE_LIMIT failed sign-ins an account is locked
# (from every address), and so is an address (for every account), for LOGIN_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "config.accounts.client_ip.client_ip"
# How many reverse proxies in front of gunicorn append to X-Forwarded-For (0: use the socket address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_VERBOSE = False

# Two-factor authentication (django-otp, TOTP). Whether it is required is the admin's SecurityPolicy.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Leadmatrix")
# Admins reset devices; they never see another person's secret or QR code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes reports each failure and lock-out as a warning; its INFO lines are housekeeping.
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}

# Leadmatrix's own knobs.
LEADMATRIX = {
    # How often the decay refresh may run, and the page size of lists.
    "QUEUE_PAGE_SIZE": env_int("QUEUE_PAGE_SIZE", 50, minimum=5),
    "RESCORE_BATCH_SIZE": env_int("RESCORE_BATCH_SIZE", 20000, minimum=100),
    # Batches a full rescore runs side by side on PostgreSQL, each on its own connection.
    "RESCORE_WORKERS": env_int("RESCORE_WORKERS", 2, minimum=1),
    # CSV imports: the largest file accepted, and how long a file not imported is kept.
    "IMPORT_MAX_MB": env_int("IMPORT_MAX_MB", 50, minimum=1),
    "IMPORT_RETENTION_HOURS": env_int("IMPORT_RETENTION_HOURS", 24, minimum=1),
    # Serves /bench/bare/, the baseline page of the queue benchmark; off unless asked for.
    "BENCH_ROUTES": env_bool("LEADMATRIX_BENCH_ROUTES", False),
    # The largest ingest API body: a batch of 1,000 activities with modest properties fits.
    "API_MAX_BODY_BYTES": env_int("API_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024),
}

os.makedirs(VAR_DIR, exist_ok=True)

if TESTING:
    # Hashing is deliberately slow; tests sign many people in.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
