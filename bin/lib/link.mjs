// @ts-check
// The WebSocket to the server in the JSON dialect: one JSON object per frame each way, plus the heartbeat.

import WebSocket from "ws";

import { JSON_SUBPROTOCOL, PING, PONG, parseEvent } from "../../public/wire/protocol.js";

/** @typedef {import("../../public/wire/protocol.js").ClientAction} Action */
/** @typedef {import("../../public/wire/protocol.js").ServerEvent} ServerEvent */

export const HEARTBEAT = {
  /** Until `welcome` gives the server's heartbeat timeout (see heartbeatEvery): the default timeout is 45 s. */
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

  /** @param {number} everyMs */
  const beat = (everyMs) => {
    clearInterval(pinger);
    pinger = setInterval(() => {
      const silent = Date.now() - heardAt;
      if (silent > heartbeat.silenceMs) {
        end({ kind: "silent", ms: silent });
        ws.terminate();
        return;
      }
      sendRaw(PING);
    }, everyMs);
  };

  ws.on("open", () => {
    opened = true;
    heardAt = Date.now();
    beat(heartbeat.intervalMs);
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
    isOpen: () => ws.readyState === WebSocket.OPEN,
    /**
     * Heartbeat as the server's limits ask (they come with `welcome`).
     * @param {import("../../public/wire/protocol.js").Limits} limits
     */
    useLimits: (limits) => {
      if (!ended) beat(heartbeatEvery(limits));
    },
  };
}

/**
 * How often to ping for these limits: well inside the heartbeat timeout (a third of it, so two pings may be lost),
 * and at most every 20 s.
 * @param {import("../../public/wire/protocol.js").Limits} limits
 */
export function heartbeatEvery(limits) {
  return Math.max(1000, Math.min(20_000, Math.floor(limits.heartbeatTimeoutMs / 3)));
}
