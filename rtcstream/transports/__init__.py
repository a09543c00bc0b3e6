"""How a session's media travels: WebRTC, or audio on a websocket (a page's fallback, a phone call).

``table`` has a row per transport; ``base.MediaTransport`` is what the session's
lifecycle asks of each; ``websocket`` carries audio frames on a socket, with a
wire per kind of socket (``browser``, ``twilio``).
"""
