"""rtcstream's system checks, run by ``manage.py check``, ``runserver``, and on the first request or websocket under daphne.

- ``entries``: the registry (``RTCSTREAM["HANDLERS"]``) and ICE servers;
- ``signatures``: each handler can take what its mode passes it;
- ``network``: the TURN setting, and a public site without TURN;
- ``hooks``: the private parts of aiortc and CPython rtcstream relies on are still there;
- ``serving``: the channel layer, daphne's place in ``INSTALLED_APPS``, the websocket routes in the ASGI app;
- ``startup``: runs all of the above once in servers that do not run checks (daphne, uvicorn) and logs them.
"""

from rtcstream.checks import entries, hooks, network, serving, signatures  # noqa: F401  (importing registers the checks)
