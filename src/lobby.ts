// The Lobby Durable Object: a switchboard between hibernatable WebSockets, the rules and storage.
// Who is logged in on which socket lives in the sockets' attachments; what two users share (chat pairs, pending
// requests) in SQLite. Both are rebuilt in the constructor, which runs again every time the object wakes.

import { DurableObject } from "cloudflare:workers";
import { type Config, readConfig } from "./config";
import type { Env } from "./env";
import {
  type Dialect,
  type PresenceChange,
  type ServerEvent,
  CloseCode,
  JSON_SUBPROTOCOL,
  LIST_LIMIT,
  PING,
  PONG,
  chatLine,
  messageFrame,
  nameKey,
  parseJson,
  parseText,
  render,
  utf8Length,
} from "./protocol";
import { checkName } from "./names";
import { type Bucket, fullBucket, take } from "./rate-limit";
import { closeQuietly, sendQuietly } from "./sockets";
import {
  type Input,
  type PendingRequest,
  type Session,
  type State,
  type StepResult,
  type User,
  chatRoute,
  inputMode,
  nextDeadline,
  relay,
  restore,
  statusOf,
  step,
} from "./rules";

/**
 * What a socket carries through hibernation (serializeAttachment, at most 16 KiB; this is ~200 bytes). The users
 * dictionary is rebuilt from these: who is logged in, under which name, on which socket.
 */
export interface Attachment {
  sid: string;
  dialect: Dialect;
  key: string | null;
  /** The display name, once logged in. */
  name?: string;
  awaitingTarget: boolean;
  /** See Session.chatEndedAt. */
  chatEndedAt?: number;
  /** Last time the client sent a message, refreshed at most every few seconds (see `touch`). */
  heardAt: number;
  /** The client's address (CF-Connecting-IP), for the per-address caps; null where none is known. */
  ip: string | null;
}

interface Conn {
  ws: WebSocket;
  att: Attachment;
  /** In memory only: a hibernation resets it, and by then the bucket would have refilled anyway. */
  bucket: Bucket;
  /** Where this socket's chat lines go (the rules' chatRoute), as of step `routeAt` (see Lobby.steps). */
  route?: { to: Conn; from: string } | null;
  routeAt?: number;
  /** JSON sockets: the users their last `list` showed, whose presence they hear in a big lobby (see pushPresence). */
  window?: ListWindow;
}

/**
 * The users one `list` showed, and the JSON sockets that were shown exactly those. Sockets that listed between the
 * same changes share one (every list shows the first 100 names), so thousands of web clients cost a few windows.
 */
interface ListWindow {
  /** The users' keys in list order, joined: the window's key in Lobby.windows. */
  id: string;
  keys: Set<string>;
  conns: Set<Conn>;
}

export class Lobby extends DurableObject<Env> {
  private readonly config: Config;
  private readonly conns = new Map<string, Conn>();
  private readonly byWs = new WeakMap<WebSocket, Conn>();
  private state!: State;
  /** Steps that changed something so far: a socket's cached chat route is good while this has not moved. */
  private steps = 0;
  /** The alarm we last set; null when none is known to be set. */
  private alarmAt: number | null = null;
  /** Status changes not yet pushed to JSON clients, by user key; the latest change wins. */
  private readonly presence = new Map<string, PresenceChange>();
  private presencePushedAt = 0;
  /** Sockets speaking the JSON dialect: presence is collected only while there is someone to push it to. */
  private jsonConns = 0;
  /** The windows JSON sockets watch, by their keys in order. Memory only: a woken Lobby starts with none. */
  private readonly windows = new Map<string, ListWindow>();
  /** Open sockets per client address, and each address's login bucket (memory only, like the rate buckets). */
  private readonly socketsByIp = new Map<string, number>();
  private readonly loginsByIp = new Map<string, Bucket>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env as unknown as Record<string, unknown>);
    // Heartbeats are answered by the runtime itself, so a pinging client never wakes the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    // Storage holds what two users share: who chats with whom, and who asked whom. A login writes nothing here;
    // the relationships are written when they change (a pairing, an exit, a request and its end).
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS peers (key TEXT PRIMARY KEY, peer TEXT NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS requests (target TEXT PRIMARY KEY, requester TEXT NOT NULL, deadline INTEGER NOT NULL)");

    const now = Date.now();
    const sessions = new Map<string, Session>();
    for (const ws of ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (!att) continue;
      this.track(ws, att, now);
      sessions.set(att.sid, { key: att.key, awaitingTarget: att.awaitingTarget, chatEndedAt: att.chatEndedAt });
    }
    const users = new Map<string, User>();
    for (const { att } of this.conns.values()) {
      if (att.key) users.set(att.key, { name: att.name ?? att.key, sid: att.sid, peer: null });
    }
    for (const row of sql.exec<{ key: string; peer: string }>("SELECT key, peer FROM peers")) {
      const user = users.get(row.key);
      if (user) user.peer = row.peer;
      // Its socket is gone (a deploy or crash dropped it while the object was down): restore departs it.
      else users.set(row.key, { name: row.key, sid: `gone:${row.key}`, peer: row.peer });
    }
    const requests = new Map<string, PendingRequest>();
    for (const row of sql.exec<{ target: string; requester: string; deadline: number }>("SELECT * FROM requests")) {
      requests.set(row.target, { from: row.requester, deadline: row.deadline });
    }
    const { state, result } = restore(sessions, users, requests, now, this.config);
    this.state = state;
    if (sessions.size > 0) {
      // Only after hibernation or eviction are there sockets at construction time.
      console.log(`Lobby woke: ${sessions.size} sockets, ${state.users.size} users, ${state.requests.size} pending requests`);
    }
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      this.apply(result, now);
    });
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Parley speaks WebSocket here: try `wscat -c ws://<host>/ws`\n", { status: 426 });
    }
    const offered = (request.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((p) => p.trim());
    const dialect: Dialect = offered.includes(JSON_SUBPROTOCOL) ? "json" : "text";
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    const ip = request.headers.get("CF-Connecting-IP");
    if (ip && (this.socketsByIp.get(ip) ?? 0) >= this.config.maxSocketsPerIp) {
      // Accepted only to say why: a refused upgrade shows a browser nothing but a failed connection.
      const refusal: ServerEvent = {
        type: "error",
        code: "too_many_connections",
        message: `Too many connections from your address (at most ${this.config.maxSocketsPerIp}); close one and try again`,
      };
      for (const frame of render(refusal, dialect)) server.send(frame);
      closeQuietly(server, CloseCode.policy, "too many connections");
      return this.upgraded(client, dialect);
    }
    const att: Attachment = { sid: crypto.randomUUID(), dialect, key: null, awaitingTarget: false, heardAt: now, ip };
    // Serialized by apply(): "open" marks the new session changed.
    this.track(server, att, now);
    this.run({ type: "open", sid: att.sid }, now);
    return this.upgraded(client, dialect);
  }

  private upgraded(client: WebSocket, dialect: Dialect): Response {
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: dialect === "json" ? { "Sec-WebSocket-Protocol": JSON_SUBPROTOCOL } : {},
    });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const conn = this.connOf(ws);
    if (!conn) return;
    try {
      const now = Date.now();
      this.touch(conn, now);
      if (typeof message !== "string") {
        return this.reply(conn, "binary_frame", "Binary frames are not supported; send text");
      }
      const verdict = take(conn.bucket, now, this.config);
      if (verdict !== "ok") {
        this.reply(conn, "rate_limited", "slow down: you are sending messages too fast; this one was not delivered");
        if (verdict === "flooding") this.drop(conn, CloseCode.policy, "flooding", now);
        return;
      }
      // Each UTF-16 unit is 1 to 3 bytes: only frames near the limit need counting.
      const max = this.config.maxMessageBytes;
      if (message.length > max || (message.length * 3 > max && utf8Length(message) > max)) {
        return this.reply(conn, "too_big", `Message too long (limit ${max} bytes); it was not delivered`);
      }
      // Every relayed chat line goes without a step: the same route, reading and wording as the general path
      // (chatRoute, chatLine or parseJson, messageFrame), minus its lookups and allocations. Anything else (exit,
      // a command, a blank line, a text line to clean or split) takes the general path.
      if (conn.att.dialect === "text") {
        const route = this.routeOf(conn);
        const line = route ? chatLine(message) : null;
        const frame = route && line !== null ? messageFrame(route.from, line, route.to.att.dialect) : null;
        if (route && frame !== null) return this.sendFrame(route.to, frame, now);
      }
      const action =
        conn.att.dialect === "json" ? parseJson(message) : parseText(message, inputMode(this.state, conn.att.sid, now));
      if (action.type === "say" && conn.att.dialect === "json") {
        const route = this.routeOf(conn);
        const frame = route && action.text.trim() !== "" ? messageFrame(route.from, action.text, route.to.att.dialect) : null;
        if (route && frame !== null) return this.sendFrame(route.to, frame, now);
      }
      if (action.type === "login" && !this.mayTryLogin(conn, now)) {
        return this.reply(conn, "too_many_logins", "Too many login attempts from your address; try again in a minute");
      }
      if (action.type === "login") this.reapHolderOf(action.name, now);
      else if (action.type === "connect" && action.to) this.reapHolderOf(action.to, now);
      if (action.type === "say") {
        const delivery = relay(this.state, conn.att.sid, action.text);
        if (delivery) return this.deliver(delivery.sid, delivery.event, now);
      }
      this.run({ type: "action", sid: conn.att.sid, action }, now);
    } catch (err) {
      console.error("webSocketMessage failed", { sid: conn.att.sid, err });
      this.reply(conn, "bad_action", "The server could not handle that message");
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string, _wasClean?: boolean): Promise<void> {
    this.departed(ws);
    // Complete the closing handshake; 1005/1006/1015 are reserved and can never be sent back.
    if (code !== 1005 && code !== 1006 && code !== 1015) closeQuietly(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn("webSocketError", { sid: this.connOf(ws)?.att.sid, error: String(error) });
    this.departed(ws);
    closeQuietly(ws, 1011, "socket error");
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.runTimers(Date.now());
  }

  /** Expire due requests, sweep silent sockets, and set the next alarm. Public so tests can move the clock. */
  runTimers(now: number): void {
    this.run({ type: "tick" }, now);
    this.pushPresence(now);
    for (const conn of [...this.conns.values()]) this.reapIfSilent(conn, now);
    this.schedule(now);
  }

  /**
   * A socket that pinged once and then went quiet past the timeout is dead even if no close event came
   * (workerd#1187): close it and depart it. Clients that never ping rely on close events.
   */
  private reapIfSilent(conn: Conn, now: number): boolean {
    const pinged = this.ctx.getWebSocketAutoResponseTimestamp(conn.ws);
    if (!pinged || now - Math.max(pinged.getTime(), conn.att.heardAt) <= this.config.heartbeatTimeoutMs) return false;
    this.drop(conn, CloseCode.heartbeatTimeout, "heartbeat timeout", now);
    return true;
  }

  /**
   * The sweep alarm runs only while someone is in a chat or a request, where a dead socket keeps a partner
   * waiting. A dead socket of an idle user is reaped when someone needs it: when its name is wanted at login, or
   * it is asked to chat. So an idle lobby has no alarm at all.
   */
  private reapHolderOf(name: string, now: number): void {
    const check = checkName(name);
    const holder = check.ok ? this.state.users.get(check.key) : undefined;
    const conn = holder ? this.conns.get(holder.sid) : undefined;
    if (conn) this.reapIfSilent(conn, now);
  }

  // -------------------------------------------------------------------------------------------

  private track(ws: WebSocket, att: Attachment, now: number): Conn {
    const conn: Conn = { ws, att, bucket: fullBucket(this.config, now) };
    this.conns.set(att.sid, conn);
    if (att.dialect === "json") this.jsonConns++;
    if (att.ip) this.socketsByIp.set(att.ip, (this.socketsByIp.get(att.ip) ?? 0) + 1);
    this.byWs.set(ws, conn);
    return conn;
  }

  private connOf(ws: WebSocket): Conn | undefined {
    const cached = this.byWs.get(ws);
    if (cached) return cached;
    const att = ws.deserializeAttachment() as Attachment | null;
    const conn = att ? this.conns.get(att.sid) : undefined;
    if (conn) this.byWs.set(ws, conn);
    return conn;
  }

  /**
   * Remember that the client spoke, for the heartbeat sweep. Written to the attachment only when the stored time
   * is a quarter of the timeout old, so a busy chat costs one small write per socket every few seconds at most.
   */
  private touch(conn: Conn, now: number): void {
    if (now - conn.att.heardAt < this.config.heartbeatTimeoutMs / 4) return;
    conn.att.heardAt = now;
    try {
      conn.ws.serializeAttachment(conn.att);
    } catch {
      // The socket is closing; its close event will follow.
    }
  }

  /** One login attempt from this socket's address, if its bucket allows (a full bucket refills in a minute). */
  private mayTryLogin(conn: Conn, now: number): boolean {
    if (!conn.att.ip || this.state.sessions.get(conn.att.sid)?.key) return true;
    const limit = { ratePerSecond: this.config.loginsPerMinutePerIp / 60, rateBurst: this.config.loginsPerMinutePerIp };
    let bucket = this.loginsByIp.get(conn.att.ip);
    if (!bucket) {
      // Bounded memory: addresses are forgotten wholesale rather than tracked forever.
      if (this.loginsByIp.size >= 10_000) this.loginsByIp.clear();
      bucket = fullBucket(limit, now);
      this.loginsByIp.set(conn.att.ip, bucket);
    }
    return take(bucket, now, limit) === "ok";
  }

  private departed(ws: WebSocket): void {
    const conn = this.connOf(ws);
    if (conn) this.run({ type: "gone", sid: conn.att.sid }, Date.now());
  }

  /** Close a socket from our side and treat it as gone at once; its close event later finds nothing to do. */
  private drop(conn: Conn, code: number, reason: string, now: number): void {
    closeQuietly(conn.ws, code, reason);
    this.run({ type: "gone", sid: conn.att.sid }, now);
  }

  private reply(conn: Conn, code: Extract<ServerEvent, { type: "error" }>["code"], message: string): void {
    this.sendTo(conn, { type: "error", code, message });
  }

  private sendTo(conn: Conn, event: ServerEvent): boolean {
    for (const frame of render(event, conn.att.dialect)) {
      try {
        conn.ws.send(frame);
      } catch {
        return false;
      }
    }
    return true;
  }

  private routeOf(conn: Conn): { to: Conn; from: string } | null {
    if (conn.routeAt === this.steps) return conn.route ?? null;
    const route = chatRoute(this.state, conn.att.sid);
    const to = route ? this.conns.get(route.to) : undefined;
    conn.route = route && to ? { to, from: route.from } : null;
    conn.routeAt = this.steps;
    return conn.route;
  }

  /** One frame to one socket; a send that throws means that socket is gone (case 4). */
  private sendFrame(conn: Conn, frame: string, now: number): void {
    try {
      conn.ws.send(frame);
    } catch {
      this.run({ type: "gone", sid: conn.att.sid }, now);
    }
  }

  /** One event to one socket; a send that throws means that socket is gone (case 4). */
  private deliver(sid: string, event: ServerEvent, now: number): void {
    const conn = this.conns.get(sid);
    if (conn && !this.sendTo(conn, event)) this.run({ type: "gone", sid }, now);
  }

  private run(input: Input, now: number): void {
    this.apply(step(this.state, input, now, this.config), now);
  }

  /** Deliver the effects, then write what changed. A send that throws means that socket is gone (case 4). */
  private apply({ effects, dirty, touched }: StepResult, now: number): void {
    if (dirty.users.size > 0 || dirty.sessions.size > 0 || dirty.requests.size > 0) this.steps++;
    const failed: string[] = [];
    for (const effect of effects) {
      const conn = this.conns.get(effect.sid);
      if (!conn) continue;
      if (effect.type === "close") closeQuietly(conn.ws, effect.code, effect.reason);
      else if (!this.sendTo(conn, effect.event)) failed.push(effect.sid);
      else if (effect.event.type === "users" && conn.att.dialect === "json") this.watch(conn, effect.event.users);
    }

    const sql = this.ctx.storage.sql;
    for (const key of dirty.users) {
      const peer = this.state.users.get(key)?.peer;
      if (peer) sql.exec("INSERT OR REPLACE INTO peers (key, peer) VALUES (?, ?)", key, peer);
      else sql.exec("DELETE FROM peers WHERE key = ?", key);
    }
    for (const target of dirty.requests) {
      const r = this.state.requests.get(target);
      if (r) {
        sql.exec("INSERT OR REPLACE INTO requests (target, requester, deadline) VALUES (?, ?, ?)", target, r.from, r.deadline);
      } else sql.exec("DELETE FROM requests WHERE target = ?", target);
    }
    for (const sid of dirty.sessions) {
      const conn = this.conns.get(sid);
      const session = this.state.sessions.get(sid);
      if (!conn) continue;
      if (!session) {
        // Gone: frames still queued behind its close find nothing and get no answer.
        this.conns.delete(sid);
        this.byWs.delete(conn.ws);
        this.watch(conn, []);
        if (conn.att.dialect === "json") this.jsonConns--;
        if (conn.att.ip) {
          const left = (this.socketsByIp.get(conn.att.ip) ?? 1) - 1;
          if (left > 0) this.socketsByIp.set(conn.att.ip, left);
          else this.socketsByIp.delete(conn.att.ip);
        }
        continue;
      }
      conn.att.key = session.key;
      conn.att.name = session.key ? this.state.users.get(session.key)?.name : undefined;
      conn.att.awaitingTarget = session.awaitingTarget;
      conn.att.chatEndedAt = session.chatEndedAt;
      try {
        conn.ws.serializeAttachment(conn.att);
      } catch {
        failed.push(sid);
      }
    }
    for (const [key, name] of this.jsonConns > 0 ? touched : []) {
      this.presence.set(key, { name, status: this.state.users.has(key) ? statusOf(this.state, key) : "offline" });
    }
    if (this.presence.size > 0) this.pushPresence(now);
    if (dirty.users.size > 0 || dirty.requests.size > 0) this.schedule(now);
    for (const sid of failed) this.run({ type: "gone", sid }, now);
  }

  /**
   * Presence goes to JSON clients in batches: at most one push per interval, whatever the churn, so a burst of n
   * logins costs O(n) frames per interval instead of O(n) per login. A push that is not due yet waits for the alarm.
   * Up to LIST_LIMIT users online, every JSON client hears every change (its list shows everyone). Above that, each
   * hears only about the users its last `list` showed: a burst of n logins would otherwise send each of c clients
   * n changes, c × n in all, which is what a reconnect storm after a deploy is. Clients that listed between the
   * same changes share a window, and a push builds one frame per window.
   */
  private pushPresence(now: number): void {
    if (this.jsonConns === 0) this.presence.clear();
    if (this.presence.size === 0) return;
    if (now - this.presencePushedAt < this.config.presenceIntervalMs) return this.schedule(now);
    const changes = [...this.presence.entries()];
    this.presence.clear();
    this.presencePushedAt = now;
    if (this.state.users.size <= LIST_LIMIT) {
      const frame = JSON.stringify({ type: "presence", changes: changes.map(([, c]) => c) } satisfies ServerEvent);
      for (const conn of this.conns.values()) if (conn.att.dialect === "json" && conn.att.key) sendQuietly(conn.ws, frame);
      return;
    }
    for (const w of this.windows.values()) {
      const mine = changes.filter(([key]) => w.keys.has(key)).map(([, change]) => change);
      if (mine.length === 0) continue;
      const frame = JSON.stringify({ type: "presence", changes: mine } satisfies ServerEvent);
      for (const conn of w.conns) if (conn.att.key) sendQuietly(conn.ws, frame);
    }
  }

  /** What a JSON socket watches from now on: the users a `list` just showed it ([] to stop). */
  private watch(conn: Conn, users: readonly { name: string }[]): void {
    const old = conn.window;
    if (old) {
      old.conns.delete(conn);
      if (old.conns.size === 0) this.windows.delete(old.id);
      conn.window = undefined;
    }
    if (users.length === 0) return;
    const keys = users.map((u) => nameKey(u.name));
    const id = keys.join("\n");
    let w = this.windows.get(id);
    if (!w) {
      w = { id, keys: new Set(keys), conns: new Set() };
      this.windows.set(id, w);
    }
    w.conns.add(conn);
    conn.window = w;
  }

  /**
   * One alarm serves every timer: the earliest request deadline, the next presence push and, while anyone is in a
   * chat or a request, the heartbeat sweep (see reapHolderOf). Only ever moved earlier here; when it fires it sets the next one, or none when the lobby is empty.
   */
  private anyoneEngaged(): boolean {
    if (this.state.requests.size > 0) return true;
    for (const user of this.state.users.values()) if (user.peer) return true;
    return false;
  }

  private schedule(now: number): void {
    const candidates = [
      nextDeadline(this.state),
      this.anyoneEngaged() ? now + Math.max(1000, this.config.heartbeatTimeoutMs / 3) : null,
      this.presence.size > 0 ? this.presencePushedAt + this.config.presenceIntervalMs : null,
    ].filter((t): t is number => t !== null);
    if (candidates.length === 0) return;
    const want = Math.min(...candidates);
    if (this.alarmAt !== null && this.alarmAt <= want) return;
    this.alarmAt = want;
    void this.ctx.storage.setAlarm(want);
  }
}
