"""What serving rtcstream needs besides the app: a channel layer, daphne, and its websocket routes.

Each of these, when missing, used to show only "check your connection" on the
page; here each is a check that says what to add.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from rtcstream.endpoints.install_hints import install_hint

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
LAYER_SNIPPET = (
    'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}  '
    "# one process; for several: channels_redis.core.RedisChannelLayer"
)
ROUTES_SNIPPET = (
    'application = ProtocolTypeRouter({"http": ..., "websocket": HostValidator(AllowedHostsOriginValidator('
    "AuthMiddlewareStack(ClientLimits(URLRouter([*websocket_urlpatterns, catch_all])))))}) "
    "(rtcstream.signalling.middleware and rtcstream.signalling.routing; the README's asgi.py)"
)


@checks.register("rtcstream")
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    default = layers.get("default") if isinstance(layers, dict) else None
    if not isinstance(default, dict) or not default.get("BACKEND"):
        return [
            checks.Error(
                "No channel layer: rtcstream's sockets need settings.CHANNEL_LAYERS['default'] "
                "(without it no stream can start).",
                hint=f"Add to settings.py: {LAYER_SNIPPET}",
                id="rtcstream.E010",
            )
        ]
    backend = default["BACKEND"]
    try:
        import_string(backend)
    except ImportError as exc:
        return [
            checks.Error(
                f"The channel layer {backend!r} cannot be imported: {exc}",
                hint=install_hint(exc) or f"Fix CHANNEL_LAYERS['default']['BACKEND'], or use: {LAYER_SNIPPET}",
                id="rtcstream.E011",
            )
        ]
    if backend == IN_MEMORY_LAYER and not settings.DEBUG:
        return [
            checks.Warning(
                "The channel layer is InMemoryChannelLayer, which serves one process only: with several "
                "daphne processes, a page's outputs socket may reach another process than its stream, and "
                "the admin cannot stop sessions in other processes.",
                hint="Serving one process? Add 'rtcstream.W010' to SILENCED_SYSTEM_CHECKS. Several? Use "
                'channels_redis (pip install "rtcstream[redis]"): '
                '{"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://..."]}}.',
                id="rtcstream.W010",
            )
        ]
    return []


@checks.register("rtcstream")
def check_daphne_installed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    labels = [config.label for config in apps.get_app_configs()]
    if "daphne" not in labels:
        return [
            checks.Warning(
                "'daphne' is not in INSTALLED_APPS, so `manage.py runserver` serves WSGI, which has no websockets: "
                "rtcstream's pages cannot start a stream under it.",
                hint='Put "daphne" first in INSTALLED_APPS (or serve with an ASGI server: daphne mysite.asgi:application).',
                id="rtcstream.W012",
            )
        ]
    if "staticfiles" in labels and labels.index("staticfiles") < labels.index("daphne"):
        return [
            checks.Error(
                "'daphne' comes after 'django.contrib.staticfiles' in INSTALLED_APPS, so staticfiles' `runserver` "
                "(WSGI, no websockets) wins over daphne's: rtcstream's pages cannot start a stream under it.",
                hint='Put "daphne" first in INSTALLED_APPS.',
                id="rtcstream.E012",
            )
        ]
    return []


def _children(app: Any, protocol: str) -> Iterator[Any]:
    """The applications ``app`` routes ``protocol`` to or wraps: Channels' routers and middleware, and most others."""
    mapping = getattr(app, "application_mapping", None)  # ProtocolTypeRouter
    if isinstance(mapping, dict):
        yield mapping.get(protocol)
        return
    for route in getattr(app, "routes", None) or ():  # URLRouter
        yield getattr(route, "callback", None)
    for attribute in ("application", "inner", "app"):  # middleware (Channels', Django's static handler, ...)
        yield getattr(app, attribute, None)


def reachable(app: Any, protocol: str, depth: int = 0, seen: set[int] | None = None) -> list[Any]:
    """Every application an ASGI application reaches for ``protocol``, itself included."""
    seen = set() if seen is None else seen
    if app is None or id(app) in seen or depth > 32:
        return []
    seen.add(id(app))
    found = [app]
    for child in _children(app, protocol):
        found += reachable(child, protocol, depth + 1, seen)
    return found


def consumer_classes(app: Any) -> set[type]:
    """The consumer classes an ASGI application reaches through websocket routes."""
    # What Consumer.as_asgi() returns carries its class.
    classes = (getattr(each, "consumer_class", None) for each in reachable(app, "websocket"))
    return {cls for cls in classes if isinstance(cls, type)}


def serves_static_files(app: Any) -> bool:
    """Whether the application's HTTP side serves static files itself (Django's handler, or WhiteNoise)."""
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    if any("whitenoise" in middleware.lower() for middleware in getattr(settings, "MIDDLEWARE", [])):
        return True
    return any(isinstance(each, ASGIStaticFilesHandler) for each in reachable(app, "http"))


@checks.register("rtcstream")
def check_websocket_routes(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from rtcstream.signalling.consumers import OutputsConsumer, SignallingConsumer

    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return [
            checks.Error(
                "settings.ASGI_APPLICATION is not set: daphne's runserver does not know the application that "
                "holds rtcstream's websocket routes.",
                hint='Add to settings.py: ASGI_APPLICATION = "mysite.asgi.application" (your project\'s asgi.py).',
                id="rtcstream.E013",
            )
        ]
    try:
        application = import_string(path)
    except ImportError as exc:
        return [checks.Error(f"ASGI_APPLICATION {path!r} cannot be imported: {exc}", id="rtcstream.E013")]
    problems: list[checks.CheckMessage] = []
    module, _, attribute = path.rpartition(".")
    if settings.DEBUG and apps.is_installed("django.contrib.staticfiles") and not serves_static_files(application):
        problems.append(
            checks.Warning(
                f"The ASGI application {path!r} serves no static files, so under `daphne {module}:{attribute}` "
                "the widget's JS and CSS do not load and it stays inert "
                "(`manage.py runserver` serves them itself).",
                hint='Wrap its HTTP side: "http": StaticFilesHandler(django_asgi_app) '
                "(from rtcstream.static_files), or use WhiteNoise, or serve STATIC_ROOT from a web server.",
                id="rtcstream.W015",
            )
        )
    found = consumer_classes(application)
    missing = [
        consumer.__name__
        for consumer in (SignallingConsumer, OutputsConsumer)
        if not any(issubclass(cls, consumer) for cls in found)
    ]
    if missing:
        problems.append(
            checks.Error(
                f"The ASGI application {path!r} has no websocket route to rtcstream's {' and '.join(missing)}: "
                "pages can show the widget but no stream can start.",
                hint=f"Mount rtcstream.signalling.routing.websocket_urlpatterns in your asgi.py: {ROUTES_SNIPPET}",
                id="rtcstream.E014",
            )
        )
    else:
        problems += _guard_problems(path, reachable(application, "websocket"))
    return problems


def _guard_problems(path: str, chain: list[Any]) -> list[checks.CheckMessage]:
    """Whether rtcstream's websockets pass its HostValidator and ClientLimits, the latter inside Channels' auth."""
    from channels.auth import AuthMiddleware

    from rtcstream.signalling.middleware import ClientLimits, HostValidator

    def first(kind: type) -> int | None:
        return next((i for i, app in enumerate(chain) if isinstance(app, kind)), None)

    missing = [kind.__name__ for kind in (HostValidator, ClientLimits) if first(kind) is None]
    if missing:
        return [
            checks.Warning(
                f"The websocket side of {path!r} does not pass through {' and '.join(missing)}: "
                "without them any Host is served and a visitor may open any number of sockets.",
                hint=f"Compose them in asgi.py: {ROUTES_SNIPPET}",
                id="rtcstream.W016",
            )
        ]
    auth, limits = first(AuthMiddleware), first(ClientLimits)
    if auth is None or limits is None or limits < auth:
        return [
            checks.Warning(
                f"In {path!r}, ClientLimits is not inside AuthMiddlewareStack: logged-in users are counted by "
                "address, so staff behind one NAT share one cap.",
                hint=f"Put ClientLimits inside AuthMiddlewareStack: {ROUTES_SNIPPET}",
                id="rtcstream.W017",
            )
        ]
    return []
