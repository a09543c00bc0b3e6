// A JSON websocket with a promise for "open". A socket the server refuses is told why in a
// `refused` message (its close code) and hangs up itself: a close the server starts can be lost
// by a busy browser (rtcstream/signalling/refusal.py), and the code must reach the visitor.

/** Turn a server path into a ws:// or wss:// URL on this page's host (a full ws:// or wss:// URL is kept). */
export function socketUrl(path) {
  if (/^wss?:\/\//.test(path)) return path;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}`;
}

export class JsonSocket {
  /**
   * @param {string} path  server path, such as "/ws/rtcstream/talk/"
   * @param {(msg: object) => void} onMessage
   * @param {(event: {code: number, reason: string, wasClean: boolean}, wasOpen: boolean) => void} onClose
   *   called once, unless close() was called first; `code` is a `refused` message's, else the close's
   */
  constructor(path, onMessage, onClose) {
    this.path = path;
    this.ws = new WebSocket(socketUrl(path));
    this.ws.binaryType = "arraybuffer";
    this.onBinary = null; // (ArrayBuffer) => void: binary frames (audio over the websocket); else ignored
    this.closedByUs = false;
    this.wasOpen = false;
    this.refusedCode = null; // the close code of a `refused` message: reported as the socket's
    const closeCode = (ev) => this.refusedCode ?? ev.code;
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("close", (ev) => reject(Object.assign(new Error("socket closed"), { code: closeCode(ev) })), { once: true });
    });
    this.opened.catch(() => {}); // the caller awaits it; never an unhandled rejection
    this.ws.addEventListener("open", () => { this.wasOpen = true; }, { once: true });
    this.ws.addEventListener("message", (ev) => {
      if (typeof ev.data !== "string") {
        this.onBinary?.(ev.data);
        return;
      }
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn("rtcstream: ignored a frame that is not JSON", ev.data);
        return;
      }
      if (msg?.type === "refused") {
        this.refusedCode = Number(msg.code);
        this.ws.close(1000);
        return;
      }
      onMessage(msg);
    });
    this.ws.addEventListener("close", (ev) => {
      if (!this.closedByUs) onClose({ code: closeCode(ev), reason: ev.reason, wasClean: ev.wasClean }, this.wasOpen);
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(msg) {
    if (this.isOpen) this.ws.send(JSON.stringify(msg));
  }

  /** Send a binary frame (audio over the websocket). */
  sendBinary(data) {
    if (this.isOpen) this.ws.send(data);
  }

  /** Bytes queued on the socket and not yet sent. */
  get buffered() {
    return this.ws.bufferedAmount;
  }

  close() {
    this.closedByUs = true;
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}
