// The Lobby Durable Object: the adapter between the runtime (hibernatable sockets, attachments, SQLite, one alarm)
// and Parley's pure modules. It reads a frame, asks them what it means, sends what they say and writes what
// changed. Who is logged in where lives in the sockets' attachments (sockets.ts); links (requests and chats) and
// users who are away in SQLite (store.ts). Both are read back in the constructor, which runs at every wake.

import { DurableObject } from "cloudflare:workers";
import { addressKey } from "./admission";
import { type Config, readConfig } from "./config";
import { newCredential } from "./credentials";
import type { Env } from "./env";
import { Presence } from "./presence";
import { type Route, relayedFrame } from "./relay";
import { type Input, type State, type StepResult, awayRow, chatRoute, engaged, inputMode, linkRow, nextDeadline, rebuild, savedSession, statusOf, step } from "./rules";
import { screen } from "./screen";
import { type Attachment, type Conn, Sockets, closeQuietly } from "./sockets";
import { Store } from "./store";
import { Keepalive } from "./keepalive";
import { nextAlarm } from "./timers";
import { CloseCode, JSON_SUBPROTOCOL, PONG, type ServerEvent, parseAction, validCloseCode } from "../public/wire/protocol.js";
import { checkName, nameKey } from "../public/wire/names.js";
import { type Sentence, parseText, render, say } from "../public/wire/text.js";

export type { Attachment };

/**
 * The alarm is derived state: every rebuild (a wake, a restart) sets it again from the rows and the sockets. So
 * its write need not hold back the frames sent in the same turn until it is on disk, as a storage write otherwise
 * does: the first chat line after a quiet spell, which sets the heartbeat hand-over alarm, went out 18-70 ms
 * after a wake instead of 13-21 (bench/wake.mjs, 1,000 sockets).
 */
const UNGATED = { allowUnconfirmed: true } as const;

export class Lobby extends DurableObject<Env> {
  private readonly config: Config;
  private readonly store: Store;
  private readonly sockets: Sockets;
  private readonly presence: Presence<Conn>;
  private readonly keepalive: Keepalive;
  /** The whole lobby, rebuilt from every socket and from storage: at once when needed, not at every wake (`state`). */
  private loaded: State | null = null;
  /** Steps that changed something: a socket's cached route is good while this has not moved. */
  private steps = 0;
  private alarmAt: number | null = null;
  /** The lobby's own next timer, while an earlier alarm set before a rebuild only hands heartbeats back. */
  private lobbyAlarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env as unknown as Record<string, unknown>);
    this.sockets = new Sockets(this.config);
    this.presence = new Presence(this.config.presenceIntervalMs);
    this.keepalive = new Keepalive(ctx, this.config);
    this.store = new Store(ctx.storage.sql);
    // A wake does no more than this: most wakes are a chat line, which goes to the partner without the rest of
    // the lobby (webSocketMessage). Reading 30,000 sockets' attachments would take a third of a second.
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
    // Operators (and the hibernation tests) see each wake; "Lobby rebuilt" follows only when a frame needs the lot.
    console.log("Lobby woke");
  }

  /**
   * The lobby's state, rebuilt on first use after a wake: who is logged in where from the sockets' attachments,
   * links and users who are away from storage.
   */
  private get state(): State {
    return this.loaded ?? this.rebuild(Date.now());
  }

  private rebuild(now: number): State {
    const live: Attachment[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      const conn = this.sockets.track(ws);
      if (!conn || conn.att.gone) continue;
      live.push(conn.att);
      this.keepalive.watch(conn.att.heardAt);
    }
    const { links, aways } = this.store.load();
    const { state, result } = rebuild(live, links, aways, now, this.config);
    this.loaded = state;
    this.lobbyAlarmAt = undefined;
    this.steps++;
    if (this.sockets.size > 0) console.log(`Lobby rebuilt: ${live.length} sockets, ${state.users.size} users, ${state.requests.size} pending requests`);
    this.apply(result, now);
    this.schedule(now);
    return state;
  }

  /** The socket's bookkeeping; before a rebuild, read from the socket alone. */
  private connOf(ws: WebSocket): Conn | undefined {
    return this.loaded ? this.sockets.of(ws) : this.sockets.adopt(ws);
  }

  override async fetch(request: Request): Promise<Response> {
    void this.state; // the caps count every socket
    const ip = request.headers.get("CF-Connecting-IP");
    // Refused before it is accepted: an accepted socket costs memory until its client lets it go. A browser's
    // WebSocket cannot read why, so the page asks at /ws/admission.
    const refusal = this.sockets.admission.refusal(addressKey(ip));
    if (new URL(request.url).pathname.endsWith("/admission")) return Response.json(refusal ? { ok: false, ...refusal } : { ok: true });
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return new Response("Parley speaks WebSocket here: try `wscat -c ws://<host>/ws`\n", { status: 426 });
    if (refusal) return new Response(`${refusal.reason}\n`, { status: refusal.status, headers: { "Retry-After": "60" } });
    const json = (request.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").some((p) => p.trim() === JSON_SUBPROTOCOL);
    const { 0: client, 1: server } = new WebSocketPair();
    const now = Date.now();
    const att: Attachment = { sid: crypto.randomUUID(), dialect: json ? "json" : "text", key: null, awaitingTarget: false, heardAt: now, ip };
    this.ctx.acceptWebSocket(server, [att.sid]); // tagged: a woken Lobby finds a partner's socket by its sid
    this.sockets.track(server, att);
    this.keepalive.watch(now);
    // A JSON client may resume its session after a drop; a text one leaves when its socket does (RULES.md, R18).
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
      // A resume is a login by credential: capped alike, or 128-bit guesses would go at the rate limit's pace.
      const logsIn = action.type === "login" || action.type === "resume";
      if (logsIn && !conn.att.key && !this.sockets.admission.mayLogin(conn.addr, now)) return this.reply(conn, "too_many_logins", "too_many_logins", now);
      // A silent socket holding the name wanted, or the person asked for, goes now (workerd#1187).
      const wanted = action.type === "login" ? action.name : action.type === "connect" ? action.to : undefined;
      if (wanted) this.reapHolderOf(wanted, now);
      const fresh = action.type === "login" || action.type === "resume" ? newCredential() : undefined;
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
    console.warn("webSocketError", { sid: this.sockets.of(ws)?.att.sid, error: String(error) });
    this.closed(ws);
    closeQuietly(ws, CloseCode.socketError, "socket error");
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const lobbyAt = this.lobbyAlarmAt;
    if (!this.loaded && lobbyAt !== undefined && (lobbyAt === null || now < lobbyAt)) {
      // Only the heartbeat hand-over is due: no rebuild. Then the lobby's own timer again, unless the talk goes on.
      this.keepalive.tick(now);
      const quiet = this.keepalive.quietDue();
      if (quiet !== null && (lobbyAt === null || quiet < lobbyAt)) this.alarmAt = quiet;
      else [this.alarmAt, this.lobbyAlarmAt] = [lobbyAt, undefined];
      if (this.alarmAt !== null) void this.ctx.storage.setAlarm(this.alarmAt, UNGATED);
      return;
    }
    this.runTimers(now);
  }

  /** Expire due requests, push presence, close silent sockets, and set the next alarm. Public so tests can move the clock. */
  runTimers(now: number): void {
    this.run({ type: "tick" }, now);
    this.pushPresence(now);
    this.keepalive.tick(now);
    for (const conn of this.sockets.all()) if (!conn.att.gone) this.reapIfSilent(conn, now);
    this.schedule(now, true);
  }

  /** The socket's close (or error) event: it leaves, and only now does it stop counting toward the caps. */
  private closed(ws: WebSocket): void {
    void this.state; // a rebuild finds the closing socket too: it is still there during its own close event
    const conn = this.sockets.release(ws);
    // However it ended (a close frame, a drop, an error), its user may come back and resume.
    if (conn) this.run({ type: "gone", sid: conn.att.sid, resumable: true }, Date.now());
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

  private heard(conn: Conn, now: number, ping: boolean): void {
    // The first frame after a quiet spell: pings are answered here, under the rate limit, until the next one.
    if (this.keepalive.frame(now)) this.schedule(now);
    this.sockets.heard(conn, now, ping);
  }

  /** Close a socket gone silent; Chrome can leave a closed tab's socket open with no event (workerd#1187). */
  private reapIfSilent(conn: Conn, now: number): void {
    const why = this.keepalive.silent(conn, now);
    if (why === "idle") this.close(conn, CloseCode.idle, "idle", now);
    else if (why === "heartbeat") this.close(conn, CloseCode.heartbeatTimeout, "heartbeat timeout", now);
  }

  private reapHolderOf(name: string, now: number): void {
    const check = checkName(name);
    const conn = check.ok ? this.sockets.get(this.state.users.get(check.key)?.sid ?? "") : undefined;
    if (conn) this.reapIfSilent(conn, now);
  }

  private checked(conn: Conn, token: string, now: number): void {
    const result = this.sockets.checked(conn, token);
    if (result === "over") this.close(conn, CloseCode.notReading, "not reading", now);
    else if (result !== "ok") this.reply(conn, "bad_check", result === "wrong" ? "wrong_code" : "no_check", now);
  }

  /** One frame to one socket, then `settle`. */
  private deliver(conn: Conn, frame: string, now: number): void {
    this.sockets.send(conn, frame);
    this.settle(now);
  }

  /** Close what a delivery doomed; each close is a departure, which may send and doom more. */
  private settle(now: number): void {
    for (let d = this.sockets.nextDoomed(); d; d = this.sockets.nextDoomed()) if (!d[0].att.gone) this.close(d[0], d[1], d[2], now);
  }

  private reply(conn: Conn, code: Extract<ServerEvent, { type: "error" }>["code"], sentence: Sentence, now: number, fields?: Record<string, number>): void {
    this.deliver(conn, render({ type: "error", code, message: say(sentence, fields) }, conn.att.dialect), now);
  }

  private routeOf(conn: Conn): Route<Conn> | null {
    if (conn.routeAt === this.steps) return conn.route ?? null;
    if (this.loaded) {
      const route = chatRoute(this.loaded, conn.att.sid);
      const to = route ? this.sockets.get(route.to) : undefined;
      conn.route = route && to ? { to, toDialect: to.att.dialect, from: route.from } : null;
    } else conn.route = this.sleepyRoute(conn);
    conn.routeAt = this.steps;
    return conn.route;
  }

  /**
   * Before a rebuild: the route both attachments agree on (each names the other's socket), or null, and the
   * line takes the general path, which rebuilds. A partner who left or went away has no such attachment.
   */
  private sleepyRoute(conn: Conn): Route<Conn> | null {
    const { to, name } = conn.att;
    const ws = to && name ? this.ctx.getWebSockets(to)[0] : undefined;
    const partner = ws ? this.sockets.adopt(ws) : undefined;
    if (!partner || partner.att.gone || partner.att.to !== conn.att.sid || !partner.att.key) return null;
    return { to: partner, toDialect: partner.att.dialect, from: name! };
  }

  /**
   * Keep in each attachment where its chat lines go (`Attachment.to`), for the sockets a step may have rerouted:
   * the sessions and users it changed, and their partners.
   */
  private saveRoutes(state: State, dirty: StepResult["dirty"]): void {
    const sids = new Set(dirty.sessions);
    const keys = new Set([...dirty.users, ...dirty.away, ...dirty.links]);
    for (const sid of dirty.sessions) {
      const key = state.sessions.get(sid)?.key;
      if (key) keys.add(key);
    }
    for (const key of keys) {
      const user = state.users.get(key);
      const partner = user?.peer ? state.users.get(user.peer) : undefined;
      if (user?.sid) sids.add(user.sid);
      if (partner?.sid) sids.add(partner.sid);
    }
    for (const sid of sids) {
      const conn = this.sockets.get(sid);
      if (!conn || conn.att.gone) continue;
      const to = chatRoute(state, sid)?.to;
      if (conn.att.to === to) continue;
      if (to) conn.att.to = to;
      else delete conn.att.to;
      this.sockets.save(conn);
    }
  }

  private run(input: Input, now: number): void {
    this.apply(step(this.state, input, now, this.config), now);
  }

  /** Send the effects, write what changed (attachments, rows), and note status changes for presence. */
  private apply({ effects, dirty, touched }: StepResult, now: number): void {
    const state = this.state;
    const stepsBefore = this.steps;
    const stored = dirty.links.size > 0 || dirty.away.size > 0;
    if (stored || dirty.users.size > 0 || dirty.sessions.size > 0) this.steps++;
    for (const e of effects) {
      const conn = this.sockets.get(e.sid);
      if (!conn) continue;
      if (e.type === "close") closeQuietly(conn.ws, e.code, e.reason);
      else {
        this.sockets.send(conn, render(e.event, conn.att.dialect));
        if (e.event.type === "users" && conn.att.dialect === "json") this.presence.watch(conn, e.event.users.map((u) => nameKey(u.name)));
      }
    }
    for (const id of dirty.links) this.store.setLink(id, linkRow(this.state, id));
    for (const key of dirty.away) this.store.setAway(key, awayRow(this.state, key));
    for (const sid of dirty.sessions) {
      const conn = this.sockets.get(sid);
      if (!conn || conn.att.gone) continue;
      const saved = savedSession(this.state, sid);
      if (!saved) {
        this.presence.watch(conn, []);
        this.sockets.depart(conn);
        continue;
      }
      Object.assign(conn.att, saved);
      this.sockets.save(conn);
    }
    if (this.steps !== stepsBefore) this.saveRoutes(state, dirty);
    // Presence is collected only while a JSON client is there to hear it.
    for (const [key, name] of this.sockets.jsonCount > 0 ? touched : []) {
      this.presence.changed(key, { name, status: this.state.users.has(key) ? statusOf(this.state, key) : "offline" });
    }
    this.pushPresence(now);
    if (stored || dirty.users.size > 0) this.schedule(now);
    this.settle(now);
  }

  private pushPresence(now: number): void {
    if (this.sockets.jsonCount === 0) this.presence.clear();
    const listeners = () => this.sockets.all().filter((c) => c.att.dialect === "json" && c.att.key && !c.att.gone);
    for (const { frame, to } of this.presence.push(now, this.state.users.size, listeners)) for (const conn of to) if (conn.att.key) this.sockets.send(conn, frame);
    if (this.presence.due() !== null) this.schedule(now);
  }

  /** Set the alarm for the earliest timer. Between timer runs it only moves earlier; a timer run (`exact`) resets it. */
  private schedule(now: number, exact = false): void {
    if (!this.loaded) {
      // Not rebuilt: nothing changed but the heartbeat hand-over (keepalive.ts), and the alarm already set covers
      // every other timer. It may only move earlier.
      const quiet = this.keepalive.quietDue();
      if (quiet === null || (this.alarmAt !== null && quiet >= this.alarmAt)) return;
      this.lobbyAlarmAt ??= this.alarmAt;
      void this.ctx.storage.setAlarm((this.alarmAt = quiet), UNGATED);
      return;
    }
    const want = nextAlarm(
      {
        requestDeadline: nextDeadline(this.state),
        engaged: engaged(this.state),
        presenceDue: this.presence.due(),
        idleDue: this.keepalive.idleDue,
        quietDue: this.keepalive.quietDue(),
      },
      now,
      this.config.heartbeatTimeoutMs,
    );
    if (want === null ? !exact || this.alarmAt === null : !exact && this.alarmAt !== null && this.alarmAt <= want) return;
    this.alarmAt = want;
    void (want === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(want, UNGATED));
  }
}
