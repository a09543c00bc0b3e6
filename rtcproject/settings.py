"""Settings for the rtcstream demo site."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rtcstream",
    "rtcproject",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rtcproject.urls"

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

ASGI_APPLICATION = "rtcproject.asgi.application"
LOGIN_REDIRECT_URL = "/"

if os.environ.get("DATABASE_URL"):
    # e.g. postgres://user:password@db-host:5432/rtcstream: the database every worker shares.
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJANGO_DB_PATH", BASE_DIR / "db.sqlite3"),
            # IMMEDIATE makes each transaction take the write lock up front, so
            # admission (count, then insert) is atomic across processes.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }

# e.g. redis://redis-host:6379/0: the channel layer (outputs, admin control) and the
# per-client socket counts of every worker. Without it: one process only.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times out socket reads after 5 s by default, which breaks
            # channels_redis's blocking receive (a 5 s BZPOPMIN): every idle
            # consumer crashes (channels_redis issue 422). Wait longer than that.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

AUTH_PASSWORD_VALIDATORS = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Files: recordings (an endpoint's "record") get a storage of their own, outside any
# public URL: the admin plays them to staff (docs/guide.md, "Recordings and transcripts").
MEDIA_ROOT = BASE_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "recordings": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ.get("RTCSTREAM_RECORDINGS", str(BASE_DIR / "recordings"))},
    },
}

RTCSTREAM = {
    # The registry: every handler the site may expose, by name.
    "HANDLERS": {
        "talk-echo": {"handler": "rtcproject.demos.audio.reply_echo", "time_limit": 90, "label": "Reply on pause"},
        "echo": {"handler": "rtcproject.demos.audio.EchoHandler", "time_limit": 60, "label": "Stream handler echo"},
        "generate": {"handler": "rtcproject.demos.audio.generate", "mode": "receive", "modality": "audio"},
        "edges": {"handler": "rtcproject.demos.video.edges", "time_limit": 120, "label": "Edge detection"},
        "clip": {"handler": "rtcproject.demos.video.clip", "mode": "receive", "modality": "video"},
        "transcript": {"handler": "rtcproject.demos.transcript.transcribe", "mode": "send", "label": "Transcript"},
        "assistant": {"handler": "rtcproject.demos.assistant.talk", "time_limit": 300, "label": "Voice assistant"},
        "wake-word": {"handler": "rtcproject.demos.wake.talk", "time_limit": 300, "label": "Wake word"},
        "chat": {"handler": "rtcproject.demos.chat.chat", "text": True, "time_limit": 300, "label": "Text and voice"},
        # A FastRTC app module moved with import changes only: its Stream(...) named by dotted path.
        "fastrtc-app": "rtcproject.demos.fastrtc_app.stream",
        "call": {
            "handler": "rtcproject.demos.call.ToneCall",
            "modality": "audio-video",
            "time_limit": 120,
            "label": "Video call",
        },
        "greet": {"handler": "rtcproject.demos.who.greet", "time_limit": 120, "label": "Who is listening"},
        "quota": {"handler": "rtcproject.demos.audio.EchoHandler", "time_limit": 600, "label": "Minutes a day"},
        "waiting-room": {
            "handler": "rtcproject.demos.audio.EchoHandler",
            "time_limit": 60,
            "concurrency_limit": 1,
            "when_full": "wait",
            "queue_length": 10,
            "max_wait": 300,
            "label": "One seat",
        },
        # The assistant again, recorded (both directions and the transcript) once the visitor agrees.
        "recorded": {
            "handler": "rtcproject.demos.assistant.talk",
            "time_limit": 120,
            "label": "Recorded assistant",
            "record": True,
        },
    },
    "ICE_SERVERS": [],
    "DEFAULT_CONCURRENCY_LIMIT": 8,
    "RECORDING_STORAGE": "recordings",
    # Per-client socket caps counted in Redis when there is one, so they hold across workers.
    **(
        {"CLIENT_COUNTER": "rtcstream.admission.socket_counts.RedisClientCounter", "REDIS_URL": REDIS_URL}
        if REDIS_URL
        else {}
    ),
    # Addresses of the reverse proxies in front of the workers (deploy/nginx.conf), comma-separated.
    "TRUSTED_PROXIES": [p for p in os.environ.get("RTCSTREAM_TRUSTED_PROXIES", "").split(",") if p],
    # Phone calls: a Twilio number's "A call comes in" webhook is https://<host>/rtcstream/twilio/talk-echo/.
    "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN"),
    # On SIGTERM, live sessions run on this long at most while new ones go to other workers (docs/deploy.md).
    "DRAIN_SECONDS": float(os.environ.get("RTCSTREAM_DRAIN_SECONDS", "30")),
    # /metrics/ answers loopback clients, and anyone sending "Authorization: Bearer <this>" if set.
    "METRICS_TOKEN": os.environ.get("RTCSTREAM_METRICS_TOKEN") or None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # One handler, on the root logger: daphne's command line gives the root a handler
    # of its own (logging.basicConfig), which this replaces. A handler on "rtcstream"
    # as well would print each of its lines twice.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "rtcstream": {"level": "INFO"},
        "daphne": {"level": "INFO"},
        "aioice": {"level": "WARNING"},
        "aiortc": {"level": "WARNING"},
    },
}
