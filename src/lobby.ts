// The Lobby Durable Object: the adapter between the runtime (hibernatable sockets, attachments, SQLite, one alarm)
// and Parley's pure modules. It reads a frame, asks them what it means, sends what they say and writes what
// changed. Who is logged in where lives in the sockets' attachments; links (requests and chats) and users who are
// away in SQLite (store.ts);
// both are read back in the constructor, which runs again every time the object wakes.

import { DurableObject } from "cloudflare:workers";
import { Admission, addressKey } from "./admission";
import { type Config, readConfig } from "./config";
import type { Env } from "./env";
import { Presence } from "./presence";
import { fullBucket, type Bucket } from "./rate-limit";
import { type Route, relayedFrame } from "./relay";
import {
  type Input,
  type SavedSession,
  type State,
  type StepResult,
  awayRow,
  chatRoute,
  engaged,
  inputMode,
  linkRow,
  nextDeadline,
  rebuild,
  savedSession,
  statusOf,
  step,
} from "./rules";
import { TYPING_LIMIT, screen } from "./screen";
import { closeQuietly } from "./sockets";
import { Store } from "./store";
import { QUIET_MS, nextAlarm, silence } from "./timers";
import { type Unread, answered, checkSent, checkToken, counted, noneUnread } from "./unread";
import { CloseCode, type Dialect, JSON_SUBPROTOCOL, PING, PONG, type ServerEvent, parseAction, validCloseCode } from "../public/wire/protocol.js";
import { checkName, nameKey } from "../public/wire/names.js";
import { type Sentence, parseText, render, say } from "../public/wire/text.js";

/** What a socket carries through hibernation (serializeAttachment, at most 16 KiB; this is ~200 bytes). */
export interface Attachment extends SavedSession {
  dialect: Dialect;
  /** Last time the client sent a frame, refreshed at most every few seconds (see `heard`). */
  heardAt: number;
  /** The client has sent a heartbeat that the Lobby answered itself (the runtime keeps its own timestamp). */
  pinged?: true;
  /** The client's address (CF-Connecting-IP), for the caps; null where none is known. */
  ip: string | null;
  /** The socket has left: it never comes back as a user, however long its client ignores our close. */
  gone?: true;
}

/** One accepted socket, from accept to its close event. Bucket, unread count and route are memory only. */
interface Conn {
  ws: WebSocket;
  att: Attachment;
  addr: string | null;
  buckets: { main: Bucket; typing: Bucket };
  unread: Unread;
  /** Where this socket's chat lines go, as of step `routeAt` (a route changes only when a step changes something). */
  route?: Route<Conn> | null;
  routeAt?: number;
}

export class Lobby extends DurableObject<Env> {
  private readonly config: Config;
  private readonly store: Store;
  private readonly admission: Admission;
  private readonly presence: Presence<Conn>;
  private readonly conns = new Map<string, Conn>();
  private readonly byWs = new WeakMap<WebSocket, Conn>();
  private state: State;
  private steps = 0;
  private alarmAt: number | null = null;
  /** Sockets to close once the current delivery is done (a send failed, or a reader fell too far behind). */
  private readonly doomed: [Conn, number, string][] = [];
  /** The runtime answers `ping` only while the lobby is quiet (see QUIET_MS); when a frame last arrived. */
  private runtimePongs = true;
  private lastFrameAt = 0;
  /** No socket can go idle before this (a lower bound, moved by the sweep). */
  private idleDue: number | null = null;
  /** Live JSON sockets: presence is collected only while there is someone to push it to. */
  private jsonConns = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env as unknown as Record<string, unknown>);
    this.admission = new Admission(this.config);
    this.presence = new Presence(this.config.presenceIntervalMs);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.store = new Store(ctx.storage.sql);
    const now = Date.now();
    for (const ws of ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att) this.track(ws, att);
    }
    const { links, aways } = this.store.load();
    const live = [...this.conns.values()].filter((c) => !c.att.gone).map((c) => c.att);
    const { state, result } = rebuild(live, links, aways, now, this.config);
    this.state = state;
    if (this.conns.size > 0) console.log(`Lobby woke: ${live.length} sockets, ${state.users.size} users, ${state.requests.size} pending requests`);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      this.apply(result, now);
      this.schedule(now);
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const ip = request.headers.get("CF-Connecting-IP");
    // Refused before it is accepted: an accepted socket costs memory until its client lets it go. A browser's
    // WebSocket cannot read why, so the page asks at /ws/admission.
    const refusal = this.admission.refusal(addressKey(ip));
    if (new URL(request.url).pathname.endsWith("/admission")) return Response.json(refusal ? { ok: false, ...refusal } : { ok: true });
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return new Response("Parley speaks WebSocket here: try `wscat -c ws://<host>/ws`\n", { status: 426 });
    if (refusal) return new Response(`${refusal.reason}\n`, { status: refusal.status, headers: { "Retry-After": "60" } });
    const json = (request.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").some((p) => p.trim() === JSON_SUBPROTOCOL);
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    const att: Attachment = { sid: crypto.randomUUID(), dialect: json ? "json" : "text", key: null, awaitingTarget: false, heardAt: now, ip };
    this.track(server, att);
    // A JSON client may resume its session after a drop; a text one leaves when its socket does (RULES.md, R12).
    this.run({ type: "open", sid: att.sid, resumable: json && this.config.resumeGraceMs > 0 }, now); // writes the attachment
    this.schedule(now);
    return new Response(null, { status: 101, webSocket: client, headers: json ? { "Sec-WebSocket-Protocol": JSON_SUBPROTOCOL } : {} });
  }

  override async webSocketMessage(ws: WebSocket, frame: string | ArrayBuffer): Promise<void> {
    const conn = this.connOf(ws);
    if (!conn || conn.att.gone) return;
    const now = Date.now();
    try {
      const verdict = screen(frame, conn.att.dialect === "json", conn.buckets, now, this.config);
      if (verdict !== "flooding" && verdict !== "slow_down") this.heard(conn, now, verdict === "ping");
      switch (verdict) {
        case "flooding":
          return this.close(conn, CloseCode.policy, "flooding", now);
        case "slow_down":
          return this.reply(conn, "rate_limited", "rate_limited", now);
        case "ping":
          return this.deliver(conn, PONG, now);
        case "typing": {
          const route = this.routeOf(conn);
          if (route?.toDialect === "json") this.deliver(route.to, render({ type: "typing", from: route.from }, "json"), now);
          return;
        }
        case "binary":
          return this.reply(conn, "binary_frame", "binary_frame", now);
        case "far_too_big":
          return this.close(conn, CloseCode.tooBig, "message too big", now);
        case "too_big":
          return this.reply(conn, "too_big", "too_big", now, { max: this.config.maxMessageBytes });
      }
      const text = frame as string;
      const route = this.routeOf(conn);
      const out = route ? relayedFrame(text, conn.att.dialect, route) : null;
      if (route && out !== null) return this.deliver(route.to, out, now);
      const action = conn.att.dialect === "json" ? parseAction(text) : parseText(text, inputMode(this.state, conn.att.sid, now));
      if (action.type === "checked") return this.checked(conn, action.token, now);
      if (action.type === "login" && !conn.att.key && !this.admission.mayLogin(conn.addr, now)) return this.reply(conn, "too_many_logins", "too_many_logins", now);
      // A silent socket holding the name wanted, or the person asked for, goes now (workerd#1187).
      const wanted = action.type === "login" ? action.name : action.type === "connect" ? action.to : undefined;
      if (wanted) this.reapHolderOf(wanted, now);
      const fresh = action.type === "login" || action.type === "resume" ? resumeToken() : undefined;
      this.run({ type: "action", sid: conn.att.sid, action, fresh }, now);
    } catch (err) {
      console.error("webSocketMessage failed", { sid: conn.att.sid, err });
      this.reply(conn, "bad_action", "server_error", now);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    this.closed(ws);
    // Finish the handshake, or the socket stays half open for as long as the client likes: echo a code a client may
    // send, answer one it may not with 1002. Unclean is a connection that ended without a close frame: nothing
    // left to answer. 1005 is how the runtime reports a close frame with no code (valid, answered with none; a
    // literal 1005 or a one-byte payload look the same to us).
    if (!wasClean) return;
    if (code === 1005) closeQuietly(ws);
    else if (validCloseCode(code)) closeQuietly(ws, code, reason);
    else closeQuietly(ws, CloseCode.protocolError, "invalid close code");
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn("webSocketError", { sid: this.connOf(ws)?.att.sid, error: String(error) });
    this.closed(ws);
    closeQuietly(ws, CloseCode.socketError, "socket error");
  }

  override async alarm(): Promise<void> {
    this.runTimers(Date.now());
  }

  /** Expire due requests, push presence, close silent sockets, and set the next alarm. Public so tests can move the clock. */
  runTimers(now: number): void {
    this.run({ type: "tick" }, now);
    this.pushPresence(now);
    this.idleDue = null;
    for (const conn of [...this.conns.values()]) if (!conn.att.gone) this.reapIfSilent(conn, now);
    if (!this.runtimePongs && now - this.lastFrameAt >= QUIET_MS) {
      this.runtimePongs = true;
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    }
    this.schedule(now, true);
  }

  private track(ws: WebSocket, att: Attachment): void {
    const buckets = { main: fullBucket(this.config, att.heardAt), typing: fullBucket(TYPING_LIMIT, att.heardAt) };
    const conn: Conn = { ws, att, addr: addressKey(att.ip), buckets, unread: noneUnread() };
    this.conns.set(att.sid, conn);
    this.byWs.set(ws, conn);
    this.admission.opened(conn.addr);
    if (!att.gone && att.dialect === "json") this.jsonConns++;
    if (!att.gone) this.idleDue = Math.min(this.idleDue ?? Infinity, att.heardAt + this.config.idleTimeoutMs);
  }

  private connOf(ws: WebSocket): Conn | undefined {
    return this.byWs.get(ws) ?? this.conns.get((ws.deserializeAttachment() as Attachment | null)?.sid ?? "");
  }

  /** The socket's close (or error) event: it leaves, and only now does it stop counting toward the caps. */
  private closed(ws: WebSocket): void {
    const conn = this.connOf(ws);
    if (!conn || this.conns.get(conn.att.sid) !== conn) return;
    // However it ended (a close frame, a drop, an error), its user may come back and resume.
    this.run({ type: "gone", sid: conn.att.sid, resumable: true }, Date.now());
    this.conns.delete(conn.att.sid);
    this.admission.closed(conn.addr);
  }

  /**
   * Close a socket from our side and treat it as gone at once; its close event later only frees its slot. Only a
   * socket closed for its network's sake (a send that failed, a heartbeat that stopped) may be resumed; one closed
   * for what its client did (a flood, not reading, idle) may not.
   */
  private close(conn: Conn, code: number, reason: string, now: number): void {
    closeQuietly(conn.ws, code, reason);
    const resumable = code === CloseCode.heartbeatTimeout || code === CloseCode.socketError;
    this.run({ type: "gone", sid: conn.att.sid, resumable }, now);
  }

  /** The client spoke. Written to the attachment at most every quarter of the heartbeat timeout, or on a first ping. */
  private heard(conn: Conn, now: number, ping: boolean): void {
    this.lastFrameAt = now;
    if (this.runtimePongs) {
      // Someone is talking: pings come here, under the rate limit, until the lobby is quiet again.
      this.runtimePongs = false;
      this.ctx.setWebSocketAutoResponse();
      this.schedule(now);
    }
    if ((!ping || conn.att.pinged) && now - conn.att.heardAt < this.config.heartbeatTimeoutMs / 4) return;
    conn.att.heardAt = now;
    if (ping) conn.att.pinged = true;
    this.save(conn);
  }

  /** Close a socket gone silent (timers.ts: silence); Chrome can leave a closed tab's socket open with no event. */
  private reapIfSilent(conn: Conn, now: number): void {
    const pingedAt = this.ctx.getWebSocketAutoResponseTimestamp(conn.ws)?.getTime() ?? (conn.att.pinged ? conn.att.heardAt : null);
    const why = silence(pingedAt, conn.att.heardAt, now, this.config);
    if (why) return this.close(conn, why === "idle" ? CloseCode.idle : CloseCode.heartbeatTimeout, why === "idle" ? "idle" : "heartbeat timeout", now);
    this.idleDue = Math.min(this.idleDue ?? Infinity, Math.max(pingedAt ?? 0, conn.att.heardAt) + this.config.idleTimeoutMs);
  }

  private reapHolderOf(name: string, now: number): void {
    const check = checkName(name);
    const conn = check.ok ? this.conns.get(this.state.users.get(check.key)?.sid ?? "") : undefined;
    if (conn) this.reapIfSilent(conn, now);
  }

  private checked(conn: Conn, token: string, now: number): void {
    const result = answered(conn.unread, token);
    if (result === "over") this.close(conn, CloseCode.notReading, "not reading", now);
    else if (result !== "ok") this.reply(conn, "bad_check", result === "wrong" ? "wrong_code" : "no_check", now);
  }

  /**
   * The one way a frame leaves: guarded (a throw means the socket is gone) and counted (unread.ts). A socket that
   * fails is closed once the current delivery is done, so no caller sees the state change under it.
   */
  private sendFrame(conn: Conn, frame: string): void {
    if (frame === "" || conn.att.gone) return;
    try {
      conn.ws.send(frame);
    } catch {
      this.doomed.push([conn, CloseCode.socketError, "send failed"]);
      return;
    }
    const verdict = counted(conn.unread, frame.length, this.config.maxUnreadBytes);
    if (verdict === "over") this.doomed.push([conn, CloseCode.notReading, "not reading"]);
    else if (verdict === "check") {
      const token = checkToken(conn.att.dialect);
      checkSent(conn.unread, token);
      this.sendFrame(conn, render({ type: "check", token, unread: conn.unread.sent }, conn.att.dialect));
    }
  }

  /** One frame to one socket, then `settle`. */
  private deliver(conn: Conn, frame: string, now: number): void {
    this.sendFrame(conn, frame);
    this.settle(now);
  }

  /** Close what a delivery doomed; each close is a departure, which may send and doom more. */
  private settle(now: number): void {
    for (let d = this.doomed.shift(); d; d = this.doomed.shift()) if (!d[0].att.gone) this.close(d[0], d[1], d[2], now);
  }

  private reply(conn: Conn, code: Extract<ServerEvent, { type: "error" }>["code"], sentence: Sentence, now: number, fields?: Record<string, number>): void {
    this.deliver(conn, render({ type: "error", code, message: say(sentence, fields) }, conn.att.dialect), now);
  }

  private routeOf(conn: Conn): Route<Conn> | null {
    if (conn.routeAt === this.steps) return conn.route ?? null;
    const route = chatRoute(this.state, conn.att.sid);
    const to = route ? this.conns.get(route.to) : undefined;
    conn.route = route && to ? { to, toDialect: to.att.dialect, from: route.from } : null;
    conn.routeAt = this.steps;
    return conn.route;
  }

  private save(conn: Conn): void {
    try {
      conn.ws.serializeAttachment(conn.att);
    } catch {
      // The socket is closing; its close event will follow.
    }
  }

  private run(input: Input, now: number): void {
    this.apply(step(this.state, input, now, this.config), now);
  }

  /** Send the effects, write what changed (attachments, rows), and note status changes for presence. */
  private apply({ effects, dirty, touched }: StepResult, now: number): void {
    const stored = dirty.links.size > 0 || dirty.away.size > 0;
    if (stored || dirty.users.size > 0 || dirty.sessions.size > 0) this.steps++;
    for (const e of effects) {
      const conn = this.conns.get(e.sid);
      if (!conn) continue;
      if (e.type === "close") closeQuietly(conn.ws, e.code, e.reason);
      else {
        this.sendFrame(conn, render(e.event, conn.att.dialect));
        if (e.event.type === "users" && conn.att.dialect === "json") this.presence.watch(conn, e.event.users.map((u) => nameKey(u.name)));
      }
    }
    for (const id of dirty.links) this.store.setLink(id, linkRow(this.state, id));
    for (const key of dirty.away) this.store.setAway(key, awayRow(this.state, key));
    if (stored) this.store.dropIfEmpty();
    for (const sid of dirty.sessions) {
      const conn = this.conns.get(sid);
      if (!conn || conn.att.gone) continue;
      const saved = savedSession(this.state, sid);
      if (saved) Object.assign(conn.att, saved);
      else {
        conn.att.gone = true;
        this.presence.watch(conn, []);
        if (conn.att.dialect === "json") this.jsonConns--;
      }
      this.save(conn);
    }
    // Presence is collected only while a JSON client is there to hear it.
    for (const [key, name] of this.jsonConns > 0 ? touched : []) {
      this.presence.changed(key, { name, status: this.state.users.has(key) ? statusOf(this.state, key) : "offline" });
    }
    this.pushPresence(now);
    if (stored || dirty.users.size > 0) this.schedule(now);
    this.settle(now);
  }

  private pushPresence(now: number): void {
    if (this.jsonConns === 0) this.presence.clear();
    const listeners = () => [...this.conns.values()].filter((c) => c.att.dialect === "json" && c.att.key && !c.att.gone);
    for (const { frame, to } of this.presence.push(now, this.state.users.size, listeners)) for (const conn of to) if (conn.att.key) this.sendFrame(conn, frame);
    if (this.presence.due() !== null) this.schedule(now);
  }

  /** Set the alarm for the earliest timer. Between timer runs it only moves earlier; a timer run (`exact`) resets it. */
  private schedule(now: number, exact = false): void {
    const want = nextAlarm(
      {
        requestDeadline: nextDeadline(this.state),
        engaged: engaged(this.state),
        presenceDue: this.presence.due(),
        idleDue: this.idleDue,
        quietDue: this.runtimePongs ? null : this.lastFrameAt + QUIET_MS,
      },
      now,
      this.config.heartbeatTimeoutMs,
    );
    if (want === null ? !exact || this.alarmAt === null : !exact && this.alarmAt !== null && this.alarmAt <= want) return;
    this.alarmAt = want;
    void (want === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(want));
  }
}

/** A resume credential: 128 random bits, base64url. Only its hash is kept (rules.ts); the client holds it. */
function resumeToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
