"""A socket's last word: the server says why the socket ends, and the client hangs up.

Every rtcstream socket that ends on the server's side ends with a message that
says why: a refusal's ``refused`` (its close code), a session's ``closed`` (its
reason), an outputs socket's ``end``. The server then leaves the client to hang
up (the widget and ``rtcstream.client`` do as soon as they read it), drops what
the client sends meanwhile, and closes the socket itself only if the client has
not hung up after ``GRACE`` seconds.

Why not close at once after the last word: daphne's websocket library aborts the
TCP connection (a reset) when the client has not answered a server's close within
its fixed 1 s close-handshake timeout. A busy client (a loaded browser; a script
whose reader shares a loop with its sender) answers late, and loses with the
reset whatever it had not read yet: the last word itself, the reason the visitor
should be told (a browser reports 1006; Firefox logs the aborted connection as an
error). A close the client starts itself cannot be lost that way.
"""

from __future__ import annotations

GRACE = 5.0  # seconds a socket waits, after its last word, for its client to hang up; then the server closes it
