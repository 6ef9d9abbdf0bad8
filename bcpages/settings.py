"""Settings of the bcpages project.

Configured from the environment, with working defaults (the embedded default):

    DATABASE_URL   unset: a SQLite file in the project (db.sqlite3)
    REDIS_URL      unset: the in-memory channel layer and a worker inside Daphne;
                   set: channels_redis' RedisChannelLayer, workers run with
                   ``manage.py runworker bcpages.tasks``
    SECRET_KEY, DEBUG, ALLOWED_HOSTS
"""

import os
import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent



def env_int(name, default, minimum=1):
    """The whole number in environment variable ``name``, or ``default`` when unset.

    A value that is not a whole number of at least ``minimum`` stops start-up with
    a sentence naming the variable and the value (not a bare ``int()`` traceback).
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ImproperlyConfigured(
            f"Environment variable {name} is {raw!r}; it must be a whole number of at least {minimum} "
            f"(unset it for the default, {default})."
        )
    return value


SECRET_KEY = os.environ.get("SECRET_KEY", "bcpages-insecure-development-key")
DEBUG = os.environ.get("DEBUG", "true").lower() in ("1", "true", "yes")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "daphne",  # its runserver serves ASGI (websockets) and must come first
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tasks",  # before channels: its runworker replaces Channels' own
    "channels",
    "bcpages",
    "bcpages.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from Daphne itself (runserver serves them only in development).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bcpages.urls"
ASGI_APPLICATION = "bcpages.asgi.application"

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
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Child sessions read the database from other threads and processes while the
    # parent writes: WAL lets readers and one writer work side by side.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
    # Tests need a file too: child sessions open their own connections.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
TASK_CHANNEL = "bcpages.tasks"
if REDIS_URL:
    # Scaled out (docs/deployment.md): channels_redis between any number of Daphne
    # processes and any number of ``manage.py runworker bcpages.tasks`` processes.
    # The embedded worker is off (tasks.conf.embedded_worker_enabled).
    import socket as _socket

    from redis.asyncio.retry import Retry as _Retry
    from redis.backoff import ExponentialBackoff as _ExponentialBackoff
    from redis.exceptions import ConnectionError as _RedisConnectionError

    def _redis_host(url):
        host = {
            "address": url,
            # redis-py 8 defaults socket_timeout to 5 s, the same as the layer's
            # blocking pop: an idle receive() then raises TimeoutError and kills
            # workers and consumers (channels_redis issue 422). A blocking pop
            # needs none ...
            "socket_timeout": None,
            "socket_connect_timeout": env_int("REDIS_CONNECT_TIMEOUT", 5),
            # ... and TCP keepalive finds a Redis host that vanished without
            # closing its connections (a blocking pop would wait forever).
            "socket_keepalive": True,
            # The pool's default of 100 raises MaxConnectionsError once 100 layer
            # operations are in flight (every open page holds one blocking receive).
            "max_connections": env_int("REDIS_MAX_CONNECTIONS", 5000),
            # After a Redis restart the pool still holds connections to the old
            # server: a command on one fails once, then goes through on a new
            # connection. Retrying is safe here: the layer's writes are idempotent
            # (ZADD of the same serialised message), and a blocking pop that
            # fails lost nothing. An outage still surfaces within about a second.
            "retry": _Retry(_ExponentialBackoff(cap=0.5, base=0.1), 3),
            "retry_on_error": [_RedisConnectionError],
        }
        if hasattr(_socket, "TCP_KEEPIDLE"):
            host["socket_keepalive_options"] = {_socket.TCP_KEEPIDLE: 10, _socket.TCP_KEEPINTVL: 5, _socket.TCP_KEEPCNT: 3}
        return host

    CHANNEL_LAYERS = {
        "default": {
            # Never the Pub/Sub layer: it would deliver every task to every worker.
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Several URLs, separated by commas: channels_redis shards over them.
                "hosts": [_redis_host(url.strip()) for url in REDIS_URL.split(",") if url.strip()],
                # Keys start with this (several deployments can share one Redis).
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
                # Seconds a message waits unread before the layer drops it; a
                # parent declares a task lost when no worker took it by then.
                "expiry": env_int("CHANNEL_LAYER_EXPIRY", 60),
                # Seconds a group membership lasts (workers rejoin bcpages.workers
                # well within it).
                "group_expiry": env_int("CHANNEL_LAYER_GROUP_EXPIRY", 86400),
                # Messages one channel holds before send() raises ChannelFull ...
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
                # ... except the task channel, which holds the whole backlog.
                "channel_capacity": {
                    TASK_CHANNEL: env_int("CHANNEL_LAYER_TASK_CAPACITY", 100000),
                },
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "tasks.layers.InMemoryChannelLayer",
            "CONFIG": {"expiry": 60, "capacity": 1000, "channel_capacity": {TASK_CHANNEL: 100_000}},
        }
    }

BCPAGES = {
    "TASK_CHANNEL": TASK_CHANNEL,
    "CHILD_SESSIONS": env_int("BCPAGES_CHILD_SESSIONS", 4),
    "PLAYGROUND": os.environ.get("BCPAGES_PLAYGROUND", "on"),
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
# Serve straight from the app and project folders, so that a plain Daphne (the
# scaled-out deployment) needs no collectstatic step; `manage.py collectstatic`
# and WhiteNoise's compressed storage remain available for production.
WHITENOISE_USE_FINDERS = True
# Until the first collectstatic, STATIC_ROOT does not exist and WhiteNoise would
# warn about it at every start; the finders above serve everything meanwhile.
warnings.filterwarnings("ignore", r"No directory at: .*var/static", UserWarning)

LOGIN_URL = "/admin/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "bcpages": {"handlers": ["console"], "level": os.environ.get("BCPAGES_LOG_LEVEL", "INFO")},
        "tasks": {"handlers": ["console"], "level": os.environ.get("BCPAGES_LOG_LEVEL", "INFO")},
    },
}
