// The Lobby Durable Object: the adapter between the runtime (hibernatable sockets, attachments, SQLite, one alarm)
// and Parley's pure modules. It reads a frame, asks them what it means, sends what they say and writes what
// changed. Who is logged in where lives in the sockets' attachments (sockets.ts); links (requests and chats) and
// users who are away in SQLite (store.ts). Both are read back in the constructor, which runs at every wake.

import { DurableObject } from "cloudflare:workers";
import { addressKey, turnedAway } from "./admission";
import { type Config, readConfig } from "./config";
import { newCredential } from "./credentials";
import type { Env } from "./env";
import { Presence } from "./presence";
import { relayedFrame } from "./relay";
import { Routes } from "./routes";
import { AlarmClock } from "./alarm";
import { type Input, type State, type StepResult, engaged, inputMode, nextDeadline, rebuild, savedSession, statusOf, step } from "./rules";
import { REFUSED, screen } from "./screen";
import { type Attachment, type Conn, Sockets, answerClose, closeQuietly, offeredDialect, resumableClose } from "./sockets";
import { Store } from "./store";
import { Keepalive } from "./keepalive";
import { nextAlarm } from "./timers";
import { CloseCode, JSON_SUBPROTOCOL, PONG, type ServerEvent, parseAction } from "../public/wire/protocol.js";
import { checkName, nameKey } from "../public/wire/names.js";
import { type Sentence, parseText, render, say } from "../public/wire/text.js";

export type { Attachment };
type ErrorCode = Extract<ServerEvent, { type: "error" }>["code"];

export class Lobby extends DurableObject<Env> {
  private readonly config: Config;
  private readonly store: Store;
  private readonly sockets: Sockets;
  private readonly presence: Presence<Conn>;
  private readonly keepalive: Keepalive;
  private readonly routes: Routes;
  private readonly clock: AlarmClock;
  /** The whole lobby, rebuilt from every socket and from storage: at once when needed, not at every wake (`state`). */
  private loaded: State | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env as unknown as Record<string, unknown>);
    this.sockets = new Sockets(ctx, this.config);
    this.presence = new Presence(this.config.presenceIntervalMs);
    this.keepalive = new Keepalive(ctx, this.config);
    this.store = new Store(ctx.storage.sql);
    this.routes = new Routes(this.sockets);
    this.clock = new AlarmClock(ctx.storage);
    // A wake does no more than this: most wakes are a chat line, which goes to the partner without the rest of
    // the lobby (webSocketMessage). Reading 30,000 sockets' attachments would take a third of a second.
    void ctx.blockConcurrencyWhile(() => this.clock.load());
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
    const live = this.sockets.trackAll().map((conn) => conn.att);
    for (const att of live) this.keepalive.watch(att.heardAt);
    const { links, aways } = this.store.load();
    const { state, result } = rebuild(live, links, aways, now, this.config);
    this.loaded = state;
    this.clock.rebuilt();
    this.routes.changed();
    if (this.sockets.size > 0) console.log(`Lobby rebuilt: ${live.length} sockets, ${state.users.size} users, ${state.requests.size} pending requests`);
    this.apply(result, now);
    this.schedule(now);
    return state;
  }

  override async fetch(request: Request): Promise<Response> {
    void this.state; // the caps count every socket
    const ip = request.headers.get("CF-Connecting-IP");
    const away = turnedAway(request, this.sockets.admission.refusal(addressKey(ip)));
    if (away) return away;
    const { 0: client, 1: server } = new WebSocketPair();
    const now = Date.now();
    const dialect = offeredDialect(request);
    const conn = this.sockets.accept(server, { sid: crypto.randomUUID(), dialect, key: null, awaitingTarget: false, heardAt: now, ip });
    this.keepalive.watch(now);
    // A JSON client may resume its session after a drop; a text one leaves when its socket does (RULES.md, R18).
    this.run({ type: "open", sid: conn.att.sid, resumable: dialect === "json" && this.config.resumeGraceMs > 0 }, now);
    this.schedule(now);
    return new Response(null, { status: 101, webSocket: client, headers: dialect === "json" ? { "Sec-WebSocket-Protocol": JSON_SUBPROTOCOL } : {} });
  }

  override async webSocketMessage(ws: WebSocket, frame: string | ArrayBuffer): Promise<void> {
    const conn = this.loaded ? this.sockets.of(ws) : this.sockets.adopt(ws); // before a rebuild, the socket alone
    if (!conn || conn.att.gone) return;
    const now = Date.now();
    try {
      const verdict = screen(frame, conn.att.dialect === "json", conn.buckets, now, this.config);
      if (verdict !== "flooding" && verdict !== "slow_down") {
        // The first frame after a quiet spell: pings are answered here, under the rate limit, until the next one.
        if (this.keepalive.frame(now)) this.schedule(now);
        this.sockets.heard(conn, now, verdict === "ping");
      }
      if (verdict === "ping") return this.deliver(conn, PONG, now);
      if (verdict === "typing") {
        const route = this.routes.of(conn, this.loaded);
        if (route?.toDialect === "json") this.deliver(route.to, render({ type: "typing", from: route.from }, "json"), now);
        return;
      }
      if (verdict !== "ok") {
        const refused: { close: readonly [number, string] } | { error: Sentence & ErrorCode } = REFUSED[verdict];
        if ("close" in refused) return this.close(conn, ...refused.close, now);
        return this.reply(conn, refused.error, refused.error, now, { max: this.config.maxMessageBytes });
      }
      const text = frame as string;
      const route = this.routes.of(conn, this.loaded);
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
    answerClose(ws, code, reason, wasClean);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn("webSocketError", { sid: this.sockets.of(ws)?.att.sid, error: String(error) });
    this.closed(ws);
    closeQuietly(ws, CloseCode.socketError, "socket error");
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    if (this.loaded || !this.clock.onlyHandOver(now)) return this.runTimers(now);
    this.keepalive.tick(now);
    this.clock.handedOver(this.keepalive.quietDue());
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

  /** Close a socket from our side and treat it as gone at once; its close event later only frees its slot. */
  private close(conn: Conn, code: number, reason: string, now: number): void {
    closeQuietly(conn.ws, code, reason);
    this.run({ type: "gone", sid: conn.att.sid, resumable: resumableClose(code) }, now);
  }

  /** Close a socket gone silent; Chrome can leave a closed tab's socket open with no event (workerd#1187). */
  private reapIfSilent(conn: Conn, now: number): void {
    const silent = this.keepalive.silent(conn, now);
    if (silent) this.close(conn, ...silent, now);
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

  private reply(conn: Conn, code: ErrorCode, sentence: Sentence, now: number, fields?: Record<string, number>): void {
    this.deliver(conn, render({ type: "error", code, message: say(sentence, fields) }, conn.att.dialect), now);
  }

  private run(input: Input, now: number): void {
    this.apply(step(this.state, input, now, this.config), now);
  }

  /** Send the effects, write what changed (attachments, rows), and note status changes for presence. */
  private apply({ effects, dirty, touched }: StepResult, now: number): void {
    const state = this.state;
    const stored = dirty.links.size > 0 || dirty.away.size > 0;
    const changed = stored || dirty.users.size > 0 || dirty.sessions.size > 0;
    if (changed) this.routes.changed();
    for (const e of effects) {
      const conn = this.sockets.get(e.sid);
      if (!conn) continue;
      if (e.type === "close") closeQuietly(conn.ws, e.code, e.reason);
      else {
        this.sockets.send(conn, render(e.event, conn.att.dialect));
        if (e.event.type === "users" && conn.att.dialect === "json") this.presence.watch(conn, e.event.users.map((u) => nameKey(u.name)));
      }
    }
    this.store.save(state, dirty);
    for (const sid of dirty.sessions) {
      const conn = this.sockets.get(sid);
      if (!conn || conn.att.gone) continue;
      const saved = savedSession(state, sid);
      if (!saved) this.presence.watch(conn, []); // it has left: it hears no more presence
      this.sockets.saveSession(conn, saved);
    }
    if (changed) this.routes.save(state, dirty);
    // Presence is collected only while a JSON client is there to hear it.
    for (const [key, name] of this.sockets.jsonCount > 0 ? touched : []) {
      this.presence.changed(key, { name, status: state.users.has(key) ? statusOf(state, key) : "offline" });
    }
    this.pushPresence(now);
    if (stored || dirty.users.size > 0) this.schedule(now);
    this.settle(now);
  }

  private pushPresence(now: number): void {
    if (this.sockets.jsonCount === 0) this.presence.clear();
    for (const { frame, to } of this.presence.push(now, this.state.users.size, () => this.sockets.listeners())) for (const conn of to) if (conn.att.key) this.sockets.send(conn, frame);
    if (this.presence.due() !== null) this.schedule(now);
  }

  /** Set the alarm for the earliest timer (alarm.ts); before a rebuild only the heartbeat hand-over can have moved. */
  private schedule(now: number, exact = false): void {
    if (!this.loaded) return this.clock.handOverAt(this.keepalive.quietDue());
    const timers = { engaged: engaged(this.loaded), presenceDue: this.presence.due(), idleDue: this.keepalive.idleDue, quietDue: this.keepalive.quietDue() };
    this.clock.want(nextAlarm({ ...timers, requestDeadline: nextDeadline(this.loaded) }, now, this.config.heartbeatTimeoutMs), exact);
  }
}
