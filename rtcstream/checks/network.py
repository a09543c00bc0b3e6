"""TURN: a malformed ``RTCSTREAM["TURN"]`` is an error; a public site without any TURN server, a warning."""

from __future__ import annotations

from typing import Any

from django.core import checks

from rtcstream import conf
from rtcstream.relay import turn_credentials


@checks.register("rtcstream")
def check_turn(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems = turn_credentials.config_problems(conf.get("TURN"))
    if conf.get("ICE_TRANSPORT_POLICY") not in ("all", "relay"):
        problems.append('RTCSTREAM["ICE_TRANSPORT_POLICY"] must be "all" or "relay".')
    if problems:
        return [checks.Error(problem, id="rtcstream.E020") for problem in problems]
    if (
        turn_credentials.get_config() is None
        and not turn_credentials.has_turn(conf.get("ICE_SERVERS"))
        and not turn_credentials.served_from_loopback()
    ):
        return [
            checks.Warning(
                "No TURN server is configured, but ALLOWED_HOSTS names hosts other than this machine: "
                "visitors behind NAT or strict firewalls will not get media through.",
                hint='Run a TURN server (coturn) and set RTCSTREAM["TURN"] = {"urls": [...], "secret": ..., '
                '"ttl": 3600}, or list one in RTCSTREAM["ICE_SERVERS"] (or in each endpoint\'s ICE servers).',
                id="rtcstream.W020",
            )
        ]
    return []
