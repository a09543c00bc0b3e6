"""The registry and ICE servers: a wrong entry is reported at start-up, naming the entry."""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings
from django.core import checks

from rtcstream import conf
from rtcstream.endpoints import registry
from rtcstream.session.candidates import refused_addresses_problems

# Settings that were renamed: old name -> new name.
RENAMED = {"MAX_SESSIONS_PER_CLIENT": "MAX_SOCKETS_PER_CLIENT"}


@checks.register("rtcstream")
def check_setting_names(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    given = getattr(settings, "RTCSTREAM", {})
    if not isinstance(given, dict):
        return [checks.Error("settings.RTCSTREAM must be a dict.", id="rtcstream.E007")]
    problems: list[checks.CheckMessage] = []
    for name in sorted(set(given) - set(conf.DEFAULTS)):
        if name in RENAMED:
            hint = f"It is called RTCSTREAM[{RENAMED[name]!r}] now."
        else:
            close = difflib.get_close_matches(name, conf.DEFAULTS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Known settings: {', '.join(sorted(conf.DEFAULTS))}."
        problems.append(
            checks.Error(f"RTCSTREAM[{name!r}] is not an rtcstream setting.", hint=hint, id="rtcstream.E007")
        )
    return problems


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


@checks.register("rtcstream")
def check_refused_candidate_addresses(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(problem, id="rtcstream.E005")
        for problem in refused_addresses_problems(conf.get("REFUSED_CANDIDATE_ADDRESSES"))
    ]
