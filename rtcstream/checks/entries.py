"""The registry and ICE servers: a wrong entry is reported at start-up, naming the entry."""

from __future__ import annotations

from typing import Any

from django.core import checks

from rtcstream import conf
from rtcstream.endpoints import registry


@checks.register("rtcstream")
def check_registry(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    handlers = conf.get("HANDLERS")
    if not isinstance(handlers, dict):
        return [checks.Error("RTCSTREAM['HANDLERS'] must be a dict of name -> dotted path.", id="rtcstream.E001")]
    return [checks.Error(str(exc), hint=exc.hint, id="rtcstream.E002") for exc in registry.validate_all()]


@checks.register("rtcstream")
def check_ice_servers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    servers = conf.get("ICE_SERVERS")
    if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
        return [
            checks.Error(
                "RTCSTREAM['ICE_SERVERS'] must be a list of {'urls': ..., 'username': ..., 'credential': ...}.",
                id="rtcstream.E003",
            )
        ]
    return []
