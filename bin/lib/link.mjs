// @ts-check
// The WebSocket to the server in the JSON dialect: one JSON object per frame each way, plus the heartbeat.

import WebSocket from "ws";

/** @typedef {import("../../src/protocol.ts").Action} Action */
/** @typedef {import("../../src/protocol.ts").ServerEvent} ServerEvent */

// Named in src/protocol.ts (JSON_SUBPROTOCOL, PING, PONG); plain node cannot import .ts, so they are repeated here.
export const JSON_SUBPROTOCOL = "parley.v1.json";
const PING = "ping";
const PONG = "pong";

export const HEARTBEAT = {
  /** The server closes a socket that once pinged and then stays silent for 45 s (HEARTBEAT_TIMEOUT_MS). */
  intervalMs: 20_000,
  /** Nothing at all from the server for this long, pongs included: the connection is dead without a close. */
  silenceMs: 50_000,
};

/**
 * How the link ended: the socket closed (by either side, or dropped), it never opened, or the server went silent.
 * @typedef {{ kind: "closed", code: number, reason: string }
 *   | { kind: "failed", message: string }
 *   | { kind: "silent", ms: number }} LinkEnd
 */

/**
 * @typedef {object} LinkHandlers
 * @property {() => void} onOpen
 * @property {(event: ServerEvent) => void} onEvent
 * @property {(frame: string) => void} onUnreadable a frame that is not a JSON event
 * @property {(end: LinkEnd) => void} onEnd called once
 */

/**
 * @param {string} url
 * @param {LinkHandlers} handlers
 * @param {typeof HEARTBEAT} heartbeat
 */
export function openLink(url, handlers, heartbeat = HEARTBEAT) {
  const ws = new WebSocket(url, [JSON_SUBPROTOCOL], { perMessageDeflate: false, handshakeTimeout: 15_000 });
  let opened = false;
  let ended = false;
  let heardAt = Date.now();
  /** @type {string | null} */
  let lastError = null;
  /** @type {NodeJS.Timeout | undefined} */
  let pinger;

  /** @param {LinkEnd} end */
  const end = (end) => {
    clearInterval(pinger);
    if (ended) return;
    ended = true;
    handlers.onEnd(end);
  };

  ws.on("open", () => {
    opened = true;
    heardAt = Date.now();
    pinger = setInterval(() => {
      const silent = Date.now() - heardAt;
      if (silent > heartbeat.silenceMs) {
        end({ kind: "silent", ms: silent });
        ws.terminate();
        return;
      }
      sendRaw(PING);
    }, heartbeat.intervalMs);
    handlers.onOpen();
  });

  ws.on("message", (data, isBinary) => {
    heardAt = Date.now();
    const text = isBinary ? null : data.toString();
    if (text === PONG) return;
    const event = text === null ? null : parseEvent(text);
    // Proof that this client reads what it is sent (see src/unread.ts): echo the check's token at once.
    if (event?.type === "check") sendRaw(JSON.stringify({ type: "checked", token: event.token }));
    else if (event) handlers.onEvent(event);
    else handlers.onUnreadable(text ?? "<binary frame>");
  });

  ws.on("error", (err) => {
    lastError = err.message;
  });

  ws.on("close", (code, reason) => {
    if (!opened) end({ kind: "failed", message: lastError ?? `closed during the handshake (${code})` });
    else end({ kind: "closed", code, reason: reason.toString() || (code === 1006 && lastError ? lastError : "") });
  });

  /** @param {string} frame */
  function sendRaw(frame) {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(frame);
    return true;
  }

  return {
    /**
     * @param {Action} action
     * @returns {boolean} false when the socket is not open
     */
    send: (action) => sendRaw(JSON.stringify(action)),
    /**
     * @param {number} code
     * @param {string} reason
     */
    close(code, reason) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
    },
    /** Drop the connection without a close handshake. */
    terminate: () => ws.terminate(),
  };
}

/**
 * @param {string} frame
 * @returns {ServerEvent | null}
 */
export function parseEvent(frame) {
  try {
    const value = JSON.parse(frame);
    return typeof value === "object" && value !== null && typeof value.type === "string" ? value : null;
  } catch {
    return null;
  }
}
