import logging

from django.apps import AppConfig


class RtcstreamConfig(AppConfig):
    name = "rtcstream"
    verbose_name = "Real-time streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rtcstream import checks  # noqa: F401  (registers the system checks)
        from rtcstream.checks import startup

        startup.install()

        # aioice logs every connectivity check at INFO; keep it quiet unless asked.
        ice = logging.getLogger("aioice")
        if ice.level == logging.NOTSET:
            ice.setLevel(logging.WARNING)
