// @ts-check
// One load user's socket: sends actions in its dialect, keeps the whole transcript of what it received (the checker
// reads it at the end), and lets the driver wait for a particular event with a timeout that says what was awaited.

import WebSocket from "ws";
import { JSON_SUBPROTOCOL, decode, encode } from "./codec.mjs";

/** @typedef {import("./codec.mjs").Dialect} Dialect */
/** @typedef {import("./codec.mjs").Ev} Ev */
/** @typedef {import("./codec.mjs").Act} Act */

/**
 * Everything one socket lifetime (an "incarnation" of a user) saw. A crashed user comes back as a new record.
 * @typedef {object} ClientRecord
 * @property {number} id
 * @property {string} name
 * @property {Dialect} dialect
 * @property {{ t: number, ev: Ev }[]} recv every frame received, decoded, with performance.now() at arrival
 * @property {number[]} sessions ids of the chats this incarnation was put in, in order; the k-th `connected`
 *   event in `recv` starts sessions[k]
 * @property {number | null} crashedAt when the driver dropped its TCP connection (ws.terminate())
 * @property {{ code: number, expected: boolean } | null} closed
 */

export class WaitError extends Error {}

let nextId = 0;

export class LoadClient {
  /** @type {ClientRecord} */
  rec;
  /** @type {WebSocket | null} */
  ws = null;
  /** Events before this index have been consumed by a wait. */
  cursor = 0;
  /** @type {{ pred: (ev: Ev) => boolean, resolve: (r: { t: number, ev: Ev }) => void, reject: (e: Error) => void } | null} */
  waiter = null;
  /** Set when we close or drop the socket ourselves, so its close event is not an error. */
  closing = false;
  /** @type {string | null} why the socket is unusable, once it is */
  dead = null;

  /**
   * @param {string} url
   * @param {string} name
   * @param {Dialect} dialect
   * @param {(client: LoadClient, ev: Ev, t: number) => void} onEvent called for every frame, before any waiter
   */
  constructor(url, name, dialect, onEvent) {
    this.url = url;
    this.onEvent = onEvent;
    this.rec = { id: nextId++, name, dialect, recv: [], sessions: [], crashedAt: null, closed: null };
  }

  get name() {
    return this.rec.name;
  }

  /**
   * Opens the socket; resolves when the handshake is done.
   * @param {number} timeoutMs
   * @returns {Promise<void>}
   */
  open(timeoutMs) {
    const ws = new WebSocket(this.url, this.rec.dialect === "json" ? [JSON_SUBPROTOCOL] : [], {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    this.ws = ws;
    ws.on("message", (data) => {
      const t = performance.now();
      // A text-dialect event of several lines is one frame; it is read line by line, as a person reads it.
      const parts = this.rec.dialect === "text" ? String(data).split("\n") : [String(data)];
      for (const part of parts) {
        const ev = decode(part, this.rec.dialect);
        this.rec.recv.push({ t, ev });
        this.onEvent(this, ev, t);
        const w = this.waiter;
        if (w && w.pred(ev)) {
          this.waiter = null;
          this.cursor = this.rec.recv.length;
          w.resolve({ t, ev });
        }
      }
    });
    ws.on("close", (code) => {
      this.rec.closed = { code, expected: this.closing };
      this.fail(`socket closed (${code})`);
    });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.on("error", (err) => {
        this.fail(`socket error: ${err.message}`);
        reject(err);
      });
    });
  }

  /** @param {string} why */
  fail(why) {
    if (this.dead) return;
    this.dead = why;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(new WaitError(`${this.name}: ${why}`));
  }

  /** @param {Act} action */
  send(action) {
    if (this.dead || !this.ws) throw new WaitError(`${this.name}: cannot send ${action.type}, ${this.dead ?? "not open"}`);
    this.ws.send(encode(action, this.rec.dialect));
  }

  /**
   * The first event from the cursor on that matches; events skipped stay in the transcript for the checker.
   * @param {(ev: Ev) => boolean} pred
   * @param {number} timeoutMs
   * @param {string} what for the timeout's message
   * @returns {Promise<{ t: number, ev: Ev }>}
   */
  waitFor(pred, timeoutMs, what) {
    const recv = this.rec.recv;
    for (let i = this.cursor; i < recv.length; i++) {
      if (pred(recv[i].ev)) {
        this.cursor = i + 1;
        return Promise.resolve(recv[i]);
      }
    }
    this.cursor = recv.length;
    if (this.dead) return Promise.reject(new WaitError(`${this.name}: waiting for ${what}, but ${this.dead}`));
    if (this.waiter) return Promise.reject(new Error(`${this.name}: two waits at once (${what})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new WaitError(`${this.name}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** A crash: the TCP connection is destroyed without a close frame. */
  crash() {
    this.closing = true;
    this.rec.crashedAt = performance.now();
    this.ws?.terminate();
  }

  /**
   * `quit`, then the server's close (1000); the socket is dropped if that does not come in time.
   * @param {number} timeoutMs
   */
  async quit(timeoutMs) {
    if (this.dead || !this.ws) return;
    this.closing = true;
    const ws = this.ws;
    const closed = new Promise((resolve) => ws.once("close", resolve));
    this.send({ type: "quit" });
    const timer = setTimeout(() => ws.terminate(), timeoutMs);
    await closed;
    clearTimeout(timer);
  }

  /** Drops the socket if it is still open; used on errors and at the hard deadline. */
  destroy() {
    this.closing = true;
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}
