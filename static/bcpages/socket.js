// The websocket to the parent session: connect, queue frames until open, and
// reconnect with jittered exponential backoff after an abnormal close only.
//
// Events (a Socket is an EventTarget):
//   "open"   the connection is open; listeners run BEFORE queued frames are sent,
//            so the page can send "page.open" first on every (re)connection;
//   "frame"  event.detail is one parsed server frame;
//   "close"  event.detail = {code, reconnecting}.
// <body data-connected="true|false"> follows the connection.
(function (bcpages) {
  "use strict";

  const FIRST_DELAY_MS = 500;
  const MAX_DELAY_MS = 15000;

  // 1000 is a close someone asked for; 4000-4999 are codes the server chooses on
  // purpose (4400: too many bad frames). Reconnecting would only repeat them.
  // Anything else (1006 dropped, 1001 server going away, 1011/1012 server error
  // or restart) is worth another try.
  function isAbnormal(code) {
    return code !== 1000 && !(code >= 4000 && code <= 4999);
  }

  function defaultUrl() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${window.location.host}${bcpages.protocol.PATH}`;
  }

  class Socket extends EventTarget {
    constructor(url = defaultUrl()) {
      super();
      this.url = url;
      this.ws = null;
      this.queue = [];
      this.attempt = 0; // failed attempts since the last open: drives the backoff
      this.reconnectTimer = null;
      this.closing = false; // close() was called: never reconnect
    }

    get connected() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    get reconnecting() {
      return this.reconnectTimer !== null;
    }

    connect() {
      this.closing = false;
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.addEventListener("open", () => {
        this.attempt = 0;
        document.body.dataset.connected = "true";
        this.dispatchEvent(new Event("open"));
        this.flush();
      });
      ws.addEventListener("message", (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          console.warn("bcpages: ignoring a frame that is not JSON", event.data);
          return;
        }
        this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
      });
      ws.addEventListener("close", (event) => {
        if (this.ws !== ws) return; // an old socket, already replaced
        this.ws = null;
        document.body.dataset.connected = "false";
        if (!this.closing && isAbnormal(event.code)) this.scheduleReconnect();
        this.dispatchEvent(
          new CustomEvent("close", { detail: { code: event.code, reconnecting: this.reconnecting } })
        );
      });
    }

    // Send a frame now, or as soon as the connection is open.
    send(frame) {
      if (this.connected) {
        this.ws.send(JSON.stringify(frame));
      } else {
        this.queue.push(frame);
      }
    }

    flush() {
      while (this.queue.length && this.connected) {
        this.ws.send(JSON.stringify(this.queue.shift()));
      }
    }

    // Close for good (no reconnect).
    close() {
      this.closing = true;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      if (this.ws !== null) this.ws.close(1000);
    }

    scheduleReconnect() {
      // Full exponential growth, then a random half of it off: many tabs that lost
      // the same server do not all come back in the same millisecond.
      const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
      const delay = ceiling / 2 + Math.random() * (ceiling / 2);
      this.attempt += 1;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        this.connect();
      }, delay);
    }
  }

  bcpages.Socket = Socket;
})((window.bcpages = window.bcpages || {}));
