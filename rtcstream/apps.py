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

        from django.db.models.signals import post_delete

        from rtcstream.models import Recording
        from rtcstream.recording.storage import delete_file

        # However a recording's row goes (retention, the admin, a session deleted), its file goes too.
        post_delete.connect(delete_file, sender=Recording, dispatch_uid="rtcstream.recording.delete_file")

        # aioice logs every connectivity check at INFO; keep it quiet unless asked.
        ice = logging.getLogger("aioice")
        if ice.level == logging.NOTSET:
            ice.setLevel(logging.WARNING)
