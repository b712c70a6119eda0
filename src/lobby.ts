// The Lobby Durable Object: a switchboard between hibernatable WebSockets, the rules and storage.
// Who is logged in on which socket lives in the sockets' attachments; what two users share (chat pairs, pending
// requests) in SQLite (src/store.ts). Both are rebuilt in the constructor, which runs again every time the object
// wakes.

import { DurableObject } from "cloudflare:workers";
import { Admission, addressKey } from "./admission";
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
  validCloseCode,
} from "./protocol";
import { checkName } from "./names";
import { type Bucket, fullBucket, take } from "./rate-limit";
import {
  type Input,
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
import { closeQuietly } from "./sockets";
import { PairStore } from "./store";
import { QUIET_MS, nextAlarm, silence } from "./timers";
import { type Unread, answered, checkSent, counted, noneUnread } from "./unread";

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
  /** Last time the client sent a frame, refreshed at most every few seconds (see `heard`). */
  heardAt: number;
  /** The client has sent a heartbeat the Lobby answered itself (the runtime keeps its own timestamp). */
  pinged?: true;
  /** The client's address (CF-Connecting-IP), for the per-address caps; null where none is known. */
  ip: string | null;
  /**
   * The socket has left (quit, dropped, swept): it never comes back as a user, even if its client ignores our
   * close and the socket is still there when the object wakes.
   */
  gone?: true;
}

interface Conn {
  ws: WebSocket;
  att: Attachment;
  /** The address its caps count it under (see addressKey). */
  addr: string | null;
  /** In memory only: a hibernation resets it, and by then the bucket would have refilled anyway. */
  bucket: Bucket;
  /** Output not yet shown read. In memory only: the runtime keeps no queue for a hibernated object. */
  unread: Unread;
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
  private readonly store: PairStore;
  private readonly admission: Admission;
  /** Every accepted socket until its close event, departed ones included (they still hold a slot). */
  private readonly conns = new Map<string, Conn>();
  private readonly byWs = new WeakMap<WebSocket, Conn>();
  private state!: State;
  /** Steps that changed something so far: a socket's cached chat route is good while this has not moved. */
  private steps = 0;
  /** The alarm we last set; null when none is known to be set. */
  private alarmAt: number | null = null;
  /** Sockets to close once the current delivery is done (a send failed, or a reader fell too far behind). */
  private readonly doomed: { conn: Conn; code: number; reason: string }[] = [];
  /** Status changes not yet pushed to JSON clients, by user key; the latest change wins. */
  private readonly presence = new Map<string, PresenceChange>();
  private presencePushedAt = 0;
  /** Sockets speaking the JSON dialect: presence is collected only while there is someone to push it to. */
  private jsonConns = 0;
  /** The windows JSON sockets watch, by their keys in order. Memory only: a woken Lobby starts with none. */
  private readonly windows = new Map<string, ListWindow>();
  /** Whether the runtime answers `ping` (see QUIET_MS), and when a frame last arrived. */
  private runtimeAnswersPings = true;
  private lastFrameAt = 0;
  /** No socket can go idle before this (a lower bound, moved by the sweep). */
  private idleDue: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env as unknown as Record<string, unknown>);
    this.admission = new Admission(this.config);
    // Heartbeats are answered by the runtime itself, so a pinging client never wakes the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.store = new PairStore(ctx.storage.sql);

    const now = Date.now();
    const sessions = new Map<string, Session>();
    for (const ws of ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (!att) continue;
      this.track(ws, att, now);
      if (!att.gone) sessions.set(att.sid, { key: att.key, awaitingTarget: att.awaitingTarget, chatEndedAt: att.chatEndedAt });
    }
    const users = new Map<string, User>();
    for (const { att } of this.conns.values()) {
      if (att.key && !att.gone) users.set(att.key, { name: att.name ?? att.key, sid: att.sid, peer: null });
    }
    const { peers, requests } = this.store.load();
    for (const row of peers) {
      const user = users.get(row.key);
      if (user) user.peer = row.peer;
      // Its socket is gone (a deploy or crash dropped it while the object was down): restore departs it.
      else users.set(row.key, { name: row.key, sid: `gone:${row.key}`, peer: row.peer });
    }
    const { state, result } = restore(sessions, users, requests, now, this.config);
    this.state = state;
    if (this.conns.size > 0) {
      // Only after hibernation or eviction are there sockets at construction time.
      console.log(`Lobby woke: ${sessions.size} sockets, ${state.users.size} users, ${state.requests.size} pending requests`);
    }
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      this.apply(result, now);
      this.schedule(now);
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const addr = addressKey(request.headers.get("CF-Connecting-IP"));
    if (new URL(request.url).pathname.endsWith("/admission")) {
      // For the web client, whose WebSocket cannot see why an upgrade was refused.
      const refusal = this.admission.refusal(addr);
      return Response.json(refusal ? { ok: false, ...refusal } : { ok: true });
    }
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Parley speaks WebSocket here: try `wscat -c ws://<host>/ws`\n", { status: 426 });
    }
    // Refused before it is accepted: an accepted socket costs memory until its client lets it go.
    const refusal = this.admission.refusal(addr);
    if (refusal) return new Response(`${refusal.reason}\n`, { status: refusal.status, headers: { "Retry-After": "60" } });
    const offered = (request.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((p) => p.trim());
    const dialect: Dialect = offered.includes(JSON_SUBPROTOCOL) ? "json" : "text";
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    const ip = request.headers.get("CF-Connecting-IP");
    const att: Attachment = { sid: crypto.randomUUID(), dialect, key: null, awaitingTarget: false, heardAt: now, ip };
    // Serialized by apply(): "open" marks the new session changed.
    this.track(server, att, now);
    this.idleDue = Math.min(this.idleDue ?? Infinity, now + this.config.idleTimeoutMs);
    this.run({ type: "open", sid: att.sid }, now);
    this.schedule(now);
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: dialect === "json" ? { "Sec-WebSocket-Protocol": JSON_SUBPROTOCOL } : {},
    });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const conn = this.connOf(ws);
    if (!conn || conn.att.gone) return;
    const now = Date.now();
    try {
      // Every frame, of any kind and size, pays its token first: nothing is answered before the limit is asked.
      const verdict = take(conn.bucket, now, this.config);
      if (verdict === "flooding") return this.close(conn, CloseCode.policy, "flooding", now);
      if (verdict !== "ok") {
        return this.reply(conn, "rate_limited", "slow down: you are sending messages too fast; this one was not delivered", now);
      }
      this.heard(conn, now, message === PING);
      if (message === PING) return this.deliverFrame(conn, PONG, now);
      if (typeof message !== "string") return this.reply(conn, "binary_frame", "Binary frames are not supported; send text", now);
      // Each UTF-16 unit is 1 to 3 bytes: only frames near the limit need counting. A frame far over the limit
      // was a waste of the runtime's time to read (it reads up to 32 MiB before we see it): that socket is closed.
      const max = this.config.maxMessageBytes;
      if (message.length > Math.max(4 * max, 65_536)) return this.close(conn, CloseCode.tooBig, "message too big", now);
      if (message.length > max || (message.length * 3 > max && utf8Length(message) > max)) {
        return this.reply(conn, "too_big", `Message too long (limit ${max} bytes); it was not delivered`, now);
      }
      // Every relayed chat line goes without a step: the same route, reading and wording as the general path
      // (chatRoute, chatLine or parseJson, messageFrame), minus its lookups and allocations. Anything else (exit,
      // a command, a blank line, a text line to clean or split) takes the general path.
      if (conn.att.dialect === "text") {
        const route = this.routeOf(conn);
        const line = route ? chatLine(message) : null;
        const frame = route && line !== null ? messageFrame(route.from, line, route.to.att.dialect) : null;
        if (route && frame !== null) return this.deliverFrame(route.to, frame, now);
      }
      const action =
        conn.att.dialect === "json" ? parseJson(message) : parseText(message, inputMode(this.state, conn.att.sid, now));
      if (action.type === "say" && conn.att.dialect === "json") {
        const route = this.routeOf(conn);
        const frame = route && action.text.trim() !== "" ? messageFrame(route.from, action.text, route.to.att.dialect) : null;
        if (route && frame !== null) return this.deliverFrame(route.to, frame, now);
      }
      if (action.type === "checked") return this.checked(conn, action.token, now);
      if (action.type === "login" && !this.state.sessions.get(conn.att.sid)?.key && !this.admission.mayLogin(conn.addr, now)) {
        return this.reply(conn, "too_many_logins", "Too many login attempts from your address; try again in a minute", now);
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
      this.reply(conn, "bad_action", "The server could not handle that message", now);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string, _wasClean?: boolean): Promise<void> {
    this.closed(ws);
    // Complete the closing handshake: echo a code a client may send, answer one it may not with 1002, and send
    // nothing back for 1005/1006 (no code, or no close frame at all: the connection is already gone).
    if (code === 1005 || code === 1006) return;
    if (validCloseCode(code)) closeQuietly(ws, code, reason);
    else closeQuietly(ws, CloseCode.protocolError, "invalid close code");
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.warn("webSocketError", { sid: this.connOf(ws)?.att.sid, error: String(error) });
    this.closed(ws);
    closeQuietly(ws, 1011, "socket error");
  }

  override async alarm(): Promise<void> {
    this.runTimers(Date.now());
  }

  /** Expire due requests, sweep silent sockets, push presence, and set the next alarm. Public so tests can move the clock. */
  runTimers(now: number): void {
    this.run({ type: "tick" }, now);
    this.pushPresence(now);
    let idleDue: number | null = null;
    for (const conn of [...this.conns.values()]) {
      if (conn.att.gone) continue;
      const heard = this.reapIfSilent(conn, now);
      if (heard !== null) idleDue = Math.min(idleDue ?? Infinity, heard + this.config.idleTimeoutMs);
    }
    this.idleDue = idleDue;
    if (!this.runtimeAnswersPings && now - this.lastFrameAt >= QUIET_MS) {
      this.runtimeAnswersPings = true;
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    }
    this.schedule(now, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Sockets coming and going

  private track(ws: WebSocket, att: Attachment, now: number): Conn {
    const conn: Conn = { ws, att, addr: addressKey(att.ip), bucket: fullBucket(this.config, now), unread: noneUnread() };
    this.conns.set(att.sid, conn);
    this.admission.opened(conn.addr);
    if (att.dialect === "json" && !att.gone) this.jsonConns++;
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

  /** The socket's close (or error) event: it leaves, and only now does it stop counting toward the caps. */
  private closed(ws: WebSocket): void {
    const conn = this.connOf(ws);
    if (!conn || this.conns.get(conn.att.sid) !== conn) return;
    const now = Date.now();
    this.run({ type: "gone", sid: conn.att.sid }, now);
    this.conns.delete(conn.att.sid);
    this.byWs.delete(ws);
    this.admission.closed(conn.addr);
  }

  /** Close a socket from our side and treat it as gone at once; its close event later only frees its slot. */
  private close(conn: Conn, code: number, reason: string, now: number): void {
    closeQuietly(conn.ws, code, reason);
    this.run({ type: "gone", sid: conn.att.sid }, now);
  }

  /**
   * Remember that the client spoke, for the sweeps. Written to the attachment only when the stored time is a
   * quarter of the heartbeat timeout old (or on a first heartbeat), so a busy chat costs one small write per
   * socket every few seconds at most.
   */
  private heard(conn: Conn, now: number, heartbeat: boolean): void {
    this.lastFrameAt = now;
    if (this.runtimeAnswersPings) {
      // Someone is talking: answer pings here, under the rate limit, until the lobby is quiet again.
      this.runtimeAnswersPings = false;
      this.ctx.setWebSocketAutoResponse();
      this.schedule(now);
    }
    const firstPing = heartbeat && !conn.att.pinged;
    if (!firstPing && now - conn.att.heardAt < this.config.heartbeatTimeoutMs / 4) return;
    conn.att.heardAt = now;
    if (heartbeat) conn.att.pinged = true;
    try {
      conn.ws.serializeAttachment(conn.att);
    } catch {
      // The socket is closing; its close event will follow.
    }
  }

  /**
   * Close a socket that has gone silent (see `silence`) and depart it; otherwise return when it was last heard.
   * Chrome can leave a closed tab's socket open with no close event (workerd#1187), and a socket that never
   * speaks must not hold a name for ever.
   */
  private reapIfSilent(conn: Conn, now: number): number | null {
    const runtimePing = this.ctx.getWebSocketAutoResponseTimestamp(conn.ws)?.getTime() ?? null;
    const pingedAt = runtimePing ?? (conn.att.pinged ? conn.att.heardAt : null);
    const why = silence(pingedAt, conn.att.heardAt, now, this.config);
    if (why === "heartbeat") this.close(conn, CloseCode.heartbeatTimeout, "heartbeat timeout", now);
    else if (why === "idle") this.close(conn, CloseCode.idle, "idle", now);
    return why ? null : Math.max(pingedAt ?? 0, conn.att.heardAt);
  }

  /**
   * The heartbeat sweep runs only while someone is in a chat or a request, where a dead socket keeps a partner
   * waiting. A dead socket of an idle user is reaped when someone needs it: when its name is wanted at login, or
   * it is asked to chat.
   */
  private reapHolderOf(name: string, now: number): void {
    const check = checkName(name);
    const holder = check.ok ? this.state.users.get(check.key) : undefined;
    const conn = holder ? this.conns.get(holder.sid) : undefined;
    if (conn) this.reapIfSilent(conn, now);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending: every frame goes through `sendFrame`

  /**
   * The one way a frame leaves: guarded (a throw means the socket is gone) and counted (see src/unread.ts). A
   * socket that fails is closed once the current delivery is done, so no caller sees the state change under it.
   */
  private sendFrame(conn: Conn, frame: string): boolean {
    if (frame === "" || conn.att.gone) return false;
    try {
      conn.ws.send(frame);
    } catch {
      this.doomed.push({ conn, code: 1011, reason: "send failed" });
      return false;
    }
    const verdict = counted(conn.unread, frame.length, this.config.maxUnreadBytes);
    if (verdict === "over") this.doomed.push({ conn, code: CloseCode.notReading, reason: "not reading" });
    else if (verdict === "check") this.sendCheck(conn);
    return true;
  }

  private sendCheck(conn: Conn): void {
    const token = randomToken(conn.att.dialect);
    const frame = render({ type: "check", token, unread: conn.unread.sent }, conn.att.dialect);
    try {
      conn.ws.send(frame);
    } catch {
      return;
    }
    counted(conn.unread, frame.length, this.config.maxUnreadBytes);
    checkSent(conn.unread, token);
  }

  private checked(conn: Conn, token: string, now: number): void {
    const result = answered(conn.unread, token);
    if (result === "over") return this.close(conn, CloseCode.notReading, "not reading", now);
    if (result === "wrong") return this.reply(conn, "bad_check", "That is not the code you were sent; type it exactly", now);
    if (result === "none") return this.reply(conn, "bad_check", "There is no check to answer", now);
  }

  /** One frame to one socket, then whatever that doomed. */
  private deliverFrame(conn: Conn, frame: string, now: number): void {
    this.sendFrame(conn, frame);
    this.settle(now);
  }

  private deliver(sid: string, event: ServerEvent, now: number): void {
    const conn = this.conns.get(sid);
    if (conn) this.deliverFrame(conn, render(event, conn.att.dialect), now);
  }

  private reply(conn: Conn, code: Extract<ServerEvent, { type: "error" }>["code"], message: string, now: number): void {
    this.deliverFrame(conn, render({ type: "error", code, message }, conn.att.dialect), now);
  }

  /** Close the sockets a delivery doomed. Each close is a departure, which may send and doom more. */
  private settle(now: number): void {
    while (this.doomed.length > 0) {
      const { conn, code, reason } = this.doomed.shift()!;
      if (!conn.att.gone) this.close(conn, code, reason, now);
    }
  }

  private routeOf(conn: Conn): { to: Conn; from: string } | null {
    if (conn.routeAt === this.steps) return conn.route ?? null;
    const route = chatRoute(this.state, conn.att.sid);
    const to = route ? this.conns.get(route.to) : undefined;
    conn.route = route && to ? { to, from: route.from } : null;
    conn.routeAt = this.steps;
    return conn.route;
  }

  // ---------------------------------------------------------------------------------------------
  // The rules' results

  private run(input: Input, now: number): void {
    this.apply(step(this.state, input, now, this.config), now);
  }

  /** Deliver the effects, then write what changed. */
  private apply({ effects, dirty, touched }: StepResult, now: number): void {
    if (dirty.users.size > 0 || dirty.sessions.size > 0 || dirty.requests.size > 0) this.steps++;
    for (const effect of effects) {
      const conn = this.conns.get(effect.sid);
      if (!conn) continue;
      if (effect.type === "close") closeQuietly(conn.ws, effect.code, effect.reason);
      else if (this.sendFrame(conn, render(effect.event, conn.att.dialect)) && effect.event.type === "users" && conn.att.dialect === "json") {
        this.watch(conn, effect.event.users);
      }
    }

    for (const key of dirty.users) this.store.setPeer(key, this.state.users.get(key)?.peer ?? null);
    for (const target of dirty.requests) this.store.setRequest(target, this.state.requests.get(target) ?? null);
    if (dirty.users.size > 0 || dirty.requests.size > 0) this.store.dropIfEmpty();
    for (const sid of dirty.sessions) {
      const conn = this.conns.get(sid);
      if (!conn || conn.att.gone) continue;
      const session = this.state.sessions.get(sid);
      if (session) {
        conn.att.key = session.key;
        conn.att.name = session.key ? this.state.users.get(session.key)?.name : undefined;
        conn.att.awaitingTarget = session.awaitingTarget;
        conn.att.chatEndedAt = session.chatEndedAt;
      } else {
        // Departed. Marked so, it stays out of the users however long its client keeps the socket open.
        conn.att.gone = true;
        this.watch(conn, []);
        if (conn.att.dialect === "json") this.jsonConns--;
      }
      try {
        conn.ws.serializeAttachment(conn.att);
      } catch {
        if (session) this.doomed.push({ conn, code: 1011, reason: "send failed" });
      }
    }
    for (const [key, name] of this.jsonConns > 0 ? touched : []) {
      this.presence.set(key, { name, status: this.state.users.has(key) ? statusOf(this.state, key) : "offline" });
    }
    if (this.presence.size > 0) this.pushPresence(now);
    if (dirty.users.size > 0 || dirty.requests.size > 0) this.schedule(now);
    this.settle(now);
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
      for (const conn of this.conns.values()) if (conn.att.dialect === "json" && conn.att.key) this.sendFrame(conn, frame);
    } else {
      for (const w of this.windows.values()) {
        const mine = changes.filter(([key]) => w.keys.has(key)).map(([, change]) => change);
        if (mine.length === 0) continue;
        const frame = JSON.stringify({ type: "presence", changes: mine } satisfies ServerEvent);
        for (const conn of w.conns) if (conn.att.key) this.sendFrame(conn, frame);
      }
    }
    this.settle(now);
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

  private anyoneEngaged(): boolean {
    if (this.state.requests.size > 0) return true;
    for (const user of this.state.users.values()) if (user.peer) return true;
    return false;
  }

  /**
   * Set the alarm for the earliest timer (see nextAlarm). Between timer runs it is only ever moved earlier; a
   * timer run (`exact`) sets it to what is due next, or deletes it.
   */
  private schedule(now: number, exact = false): void {
    const want = nextAlarm(
      {
        requestDeadline: nextDeadline(this.state),
        engaged: this.anyoneEngaged(),
        presenceDue: this.presence.size > 0 ? this.presencePushedAt + this.config.presenceIntervalMs : null,
        idleDue: this.idleDue,
        quietDue: this.runtimeAnswersPings ? null : this.lastFrameAt + QUIET_MS,
      },
      now,
      this.config.heartbeatTimeoutMs,
    );
    if (exact && want === null) {
      if (this.alarmAt !== null) void this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
      return;
    }
    if (want === null || (!exact && this.alarmAt !== null && this.alarmAt <= want)) return;
    this.alarmAt = want;
    void this.ctx.storage.setAlarm(want);
  }
}

/** A check's token: 128 random bits for programs, four digits for a person to type (three tries; see unread.ts). */
function randomToken(dialect: Dialect): string {
  const bytes = crypto.getRandomValues(new Uint8Array(dialect === "json" ? 16 : 2));
  if (dialect === "text") return String((((bytes[0]! << 8) | bytes[1]!) % 9000) + 1000);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
