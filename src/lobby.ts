// The Lobby Durable Object: the adapter between the runtime (hibernatable sockets, attachments, SQLite, one alarm)
// and Parley's pure modules. It reads a frame, asks them what it means, sends what they say and writes what
// changed. Who is logged in where lives in the sockets' attachments (sockets.ts); links (requests and chats) and
// users who are away in SQLite (store.ts). Both are read back in the constructor, which runs at every wake.

import { DurableObject } from "cloudflare:workers";
import { addressKey, turnedAway } from "./admission";
import { type Config, readConfig, readDirectoryConfig } from "./config";
import { newCredential, sha256 } from "./credentials";
import type { Env } from "./env";
import { Presence } from "./presence";
import { relayedFrame } from "./relay";
import { Routes } from "./routes";
import { AlarmClock } from "./alarm";
import { type Input, type RulesConfig, type SavedSession, type State, type StepResult, engaged, firstBy, free, inputMode, nextDeadline, rebuild, roster, savedSession, statusOf, step } from "./rules";
import { leaseEnd } from "./claims";
import { HOME_HEADER, type HomeId, Homes, MAX_HOPS, type Note, RESUME_MARGIN_MS, RemoteSocket, type Roster, visitorOf, visitorSid } from "./homes";
import { REFUSED, screen } from "./screen";
import { type Attachment, type Conn, Sockets, answerClose, closeQuietly, offeredDialect, resumableClose, sendQuietly } from "./sockets";
import { Store } from "./store";
import { Keepalive } from "./keepalive";
import { nextAlarm } from "./timers";
import { type Action, CloseCode, JSON_SUBPROTOCOL, LIST_LIMIT, PONG, type PresenceChange, type ServerEvent, type UserEntry, parseAction } from "../public/wire/protocol.js";
import { checkName, nameKey } from "../public/wire/names.js";
import { type Sentence, parseText, render, say } from "../public/wire/text.js";

export type { Attachment };
type ErrorCode = Extract<ServerEvent, { type: "error" }>["code"];

/** How many recent departures of records a home remembers the destination of (homes: `wentTo`). */
const WENT_TO_KEPT = 1024;

export class Lobby extends DurableObject<Env> {
  private readonly config: Config & RulesConfig;
  /** Set when the namespace is spread over several homes (HOMES > 1): links to the others and the directory. */
  private readonly homes: Homes | null = null;
  private readonly store: Store;
  private readonly sockets: Sockets;
  private readonly presence: Presence<Conn>;
  private readonly keepalive: Keepalive;
  private readonly routes: Routes;
  private readonly clock: AlarmClock;
  /** Homes: this home's sockets whose users visit another home, by name key (their names are held here). */
  private readonly out = new Map<string, Conn>();
  /** Homes: names being claimed at the directory for a login here: key -> name. */
  private readonly claiming = new Map<string, string>();
  /** Homes: the homes the last records that left this home went to, by name key (oldest first, WENT_TO_KEPT). */
  private readonly wentTo = new Map<string, { k: number; at: number }>();
  /** Homes: claims being handed to this home by another, by name key (see "claim"). */
  private readonly handing = new Map<string, Promise<unknown>>();
  /** Homes: users whose record this step moved to another home (they are not offline). */
  private readonly moving = new Set<string>();
  /** Homes: the visitor whose record is arriving: it may not go home before its connect has run. */
  private arriving: string | null = null;
  /** The whole lobby, rebuilt from every socket and from storage: at once when needed, not at every wake (`state`). */
  private loaded: State | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env as unknown as Record<string, unknown>);
    const layout = readDirectoryConfig(env);
    if (layout.homes > 1) {
      this.config.remote = true;
      this.homes = new Homes(ctx.storage.sql, env, layout.directoryShards, layout.claimLeaseMs, (k, notes) => this.unreachable(k, notes));
    }
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
    // A socket whose user visits another home has no session here; a visitor has no socket here.
    const live = this.sockets.trackAll().map((conn) => conn.att).filter((att) => att.at === undefined);
    for (const att of live) this.keepalive.watch(att.heardAt);
    this.out.clear();
    for (const conn of this.sockets.all()) if (conn.att.at !== undefined && conn.att.key && !conn.att.gone) this.out.set(conn.att.key, conn);
    for (const { sid, att } of this.homes?.visitors() ?? []) live.push(this.visitor(sid, JSON.parse(att) as Attachment).att);
    const { links, aways } = this.store.load();
    const { state, result } = rebuild(live, links, aways, now, this.config);
    this.loaded = state;
    // The names this home holds: its own users' (a visitor's is its own home's), and those visiting elsewhere.
    if (this.homes) {
      const own = [...state.users].filter(([, u]) => u.sid === null || !visitorOf(u.sid)).map(([key]) => key);
      this.homes.hold([...own, ...this.out.keys(), ...this.homes.elsewhereKeys()]);
    }
    this.clock.rebuilt();
    this.routes.changed();
    if (this.sockets.size > 0) console.log(`Lobby rebuilt: ${live.length} sockets, ${state.users.size} users, ${state.requests.size} pending requests`);
    this.apply(result, now);
    this.schedule(now);
    return state;
  }

  override async fetch(request: Request): Promise<Response> {
    const home = request.headers.get(HOME_HEADER);
    if (this.homes && home) this.homes.know(JSON.parse(home) as HomeId);
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
      if (verdict !== "ok" && verdict !== "typing") {
        const refused: { close: readonly [number, string] } | { error: Sentence & ErrorCode } = REFUSED[verdict];
        if ("close" in refused) return this.close(conn, ...refused.close, now);
        return this.reply(conn, refused.error, refused.error, now, { max: this.config.maxMessageBytes });
      }
      this.take(conn, frame as string, verdict === "typing", now);
    } catch (err) {
      console.error("webSocketMessage failed", { sid: conn.att.sid, err });
      this.reply(conn, "bad_action", "server_error", now);
    }
  }

  /** A screened text frame, from a socket here or (homes) from a visitor's socket on its own home. */
  private take(conn: Conn, text: string, typing: boolean, now: number): void {
    if (conn.att.at !== undefined) return this.forward(conn, text, typing);
    if (conn.waiting) return void conn.waiting.push([text, typing]);
    if (typing) {
      const route = this.routes.of(conn, this.loaded);
      if (route?.toDialect === "json") this.deliver(route.to, render({ type: "typing", from: route.from }, "json"), now);
      return;
    }
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
    if (this.homes && this.acrossHomes(conn, action, now)) return;
    const fresh = action.type === "login" || action.type === "resume" ? this.credential(conn) : undefined;
    this.run({ type: "action", sid: conn.att.sid, action, fresh }, now);
  }

  /**
   * A new resume credential. With homes it starts with the number of the socket's home, which holds the session's
   * name: a resume that lands on another home is sent there (the rest is the random secret).
   */
  private credential(conn: Conn): string {
    if (!this.homes) return newCredential();
    return `${conn.remote ? visitorOf(conn.att.sid)!.k : this.homes.k}.${newCredential()}`;
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
    if (this.homes) this.homeTimers(now);
    this.pushPresence(now);
    this.keepalive.tick(now);
    for (const conn of this.sockets.all()) if (!conn.att.gone) this.reapIfSilent(conn, now);
    this.schedule(now, true);
  }

  /** The socket's close (or error) event: it leaves, and only now does it stop counting toward the caps. */
  private closed(ws: WebSocket): void {
    void this.state; // a rebuild finds the closing socket too: it is still there during its own close event
    const conn = this.sockets.release(ws);
    if (conn?.att.at !== undefined) return this.leftWhileVisiting(conn, true);
    // However it ended (a close frame, a drop, an error), its user may come back and resume.
    if (conn) this.run({ type: "gone", sid: conn.att.sid, resumable: true }, Date.now());
  }

  /** Close a socket from our side and treat it as gone at once; its close event later only frees its slot. */
  private close(conn: Conn, code: number, reason: string, now: number): void {
    closeQuietly(conn.ws, code, reason);
    if (conn.att.at !== undefined && !conn.remote) {
      this.sockets.depart(conn);
      return this.leftWhileVisiting(conn, resumableClose(code));
    }
    this.run({ type: "gone", sid: conn.att.sid, resumable: resumableClose(code) }, now);
  }

  /** Close a socket gone silent; Chrome can leave a closed tab's socket open with no event (workerd#1187). */
  private reapIfSilent(conn: Conn, now: number): void {
    if (conn.remote) return; // a visitor's socket is its own home's to watch
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
      else if (e.type === "lookup") void this.lookup(conn, e.to, e.action, conn.hops ?? 0);
      else if (e.type === "moved") this.moved(conn, e.saved);
      else {
        this.sockets.send(conn, render(e.event, conn.att.dialect));
        if (e.event.type === "users" && conn.att.dialect === "json") this.presence.watch(conn, e.event.users.map((u) => nameKey(u.name)));
      }
    }
    this.store.save(state, dirty);
    for (const sid of dirty.sessions) {
      const conn = this.sockets.get(sid);
      if (!conn || conn.att.gone || conn.att.at !== undefined) continue;
      const saved = savedSession(state, sid);
      if (!saved) this.presence.watch(conn, []); // it has left: it hears no more presence
      this.sockets.saveSession(conn, saved);
    }
    if (changed) this.routes.save(state, dirty);
    // Presence is collected only while a JSON client is there to hear it; with homes, every home may have one.
    const changes: PresenceChange[] = [];
    for (const [key, name] of this.sockets.jsonCount > 0 || this.homes ? touched : []) {
      // A user whose record moved to another home is not offline: that home says what it is now.
      if (this.moving.has(key)) continue;
      const change: PresenceChange = { name, status: state.users.has(key) ? statusOf(state, key) : "offline" };
      if (this.sockets.jsonCount > 0) this.presence.changed(key, change);
      changes.push(change);
    }
    this.moving.clear();
    if (this.homes && changes.length > 0) this.homes.toAll({ t: "presence", changes });
    this.pushPresence(now);
    if (stored || dirty.users.size > 0) this.schedule(now);
    this.settle(now);
    if (this.homes && touched.size > 0) this.afterHomes(touched, now);
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
    const next = nextAlarm({ ...timers, requestDeadline: nextDeadline(this.loaded) }, now, this.config.heartbeatTimeoutMs);
    const renew = this.homes?.renewDue() ?? null;
    this.clock.want(renew !== null && (next === null || renew < next) ? Math.max(renew, now) : next, exact);
  }

  // Homes (HOMES > 1): what crosses from one home to another (src/homes.ts). Nothing below runs with one Lobby.

  /** Calls from another home: notes, in the order it made them. */
  async notes(to: HomeId, from: number, notes: Note[]): Promise<void> {
    if (!this.homes) return;
    this.homes.know(to);
    // A frame for a socket here needs only that socket; anything else needs the whole lobby (its visitors too).
    if (notes.some((n) => n.t !== "frame")) void this.state;
    const now = Date.now();
    for (const note of notes) {
      try {
        this.note(from, note, now);
      } catch (err) {
        console.error("a note from another home failed", { from, note: note.t, err });
      }
    }
  }

  /** Another home's `list`: this home's count and first names. */
  roster(to: HomeId, limit: number): Roster {
    this.homes?.know(to);
    return roster(this.state, Math.min(limit, LIST_LIMIT));
  }

  /**
   * Another home was refused `key` because this home holds it: whether it still does. A home that restarted has
   * forgotten the names its users held (they left with their sockets); it lets such a name go now, so that its
   * user, back on any home, is not told the name is taken until the lease runs out.
   */
  async stillHolds(to: HomeId, key: string): Promise<boolean> {
    const homes = this.homes;
    if (!homes) return true;
    homes.know(to);
    if (this.inUse(key)) return true;
    await homes.releaseNow(key);
    return false;
  }

  /** A session whose name this home holds resumed on home `dest`'s socket: the claim goes there (see "claim"). */
  async handTo(to: HomeId, key: string, name: string, dest: number, hops = 0): Promise<{ ok: boolean; leaseMs: number }> {
    const homes = this.homes;
    if (!homes) return { ok: false, leaseMs: 0 };
    homes.know(to);
    await this.handing.get(key);
    const reply = await homes.transferTo(key, name, dest);
    if (reply.ok) this.went(key, dest);
    // Resumed twice in quick succession: the claim is still with the home this one was to get it from (its own
    // hand-over is on its way here): that home gives it straight to `dest`.
    const holder = reply.holder;
    if (reply.ok || holder == null || holder === homes.k || holder === dest || hops >= MAX_HOPS) return reply;
    return homes.toHome(holder, (stub) => stub.handTo(homes.idOf(holder), key, name, dest, hops + 1));
  }

  private inUse(key: string): boolean {
    return this.state.users.has(key) || this.out.has(key) || this.claiming.has(key) || this.homes!.isAwayElsewhere(key) || this.handingOn(key);
  }

  /**
   * A name whose record left this home lately (a resume elsewhere): its claim is about to be handed to the user's
   * new home, so it is kept, not let go, for the length of a resume window.
   */
  private handingOn(key: string): boolean {
    const went = this.wentTo.get(key);
    return went !== undefined && Date.now() - went.at < this.config.resumeGraceMs + RESUME_MARGIN_MS;
  }

  /**
   * Which of these sockets this home still answers for (a home holding their users' records checks that this one
   * is alive): those still here, and those that left lately, whose `gone` note, on its way in order with the
   * others, says how they left (a drop its user may resume from). This answer may overtake that note.
   */
  present(to: HomeId, sids: string[]): string[] {
    const homes = this.homes;
    if (!homes) return [];
    homes.know(to);
    return sids.filter((sid) => {
      const conn = this.local(sid);
      return (conn !== undefined && !conn.att.gone) || homes.leftLately(sid, Date.now());
    });
  }

  private note(from: number, note: Note, now: number): void {
    const homes = this.homes!;
    switch (note.t) {
      case "frame":
      case "close": {
        const conn = this.local(note.sid);
        if (!conn || conn.att.gone) {
          // The socket has gone since: its user's record (over there) is told, which ends its chat or request.
          if (note.t === "frame") homes.send(from, { t: "gone", sid: visitorSid(homes.k, note.sid) });
          return;
        }
        if (note.t === "close") return this.close(conn, note.code, note.reason, now);
        // Counted for unread output over there, where the user's record is (sockets.ts, unread.ts).
        return sendQuietly(conn.ws, note.frame);
      }
      case "at": {
        const conn = this.local(note.sid);
        if (conn && !conn.att.gone && conn.att.at !== undefined) {
          conn.att.at = note.at;
          this.sockets.save(conn);
        }
        return;
      }
      case "arrive":
        return this.arrive(note, now);
      case "claim": {
        // A session resumed on this socket: its name moves here from the home that held it.
        const conn = this.local(note.sid);
        if (conn && !conn.att.gone) this.takeClaim(conn, note.key, note.name, note.from);
        return;
      }
      case "presence":
        // Another home's users changed status: this home's JSON clients hear it as they hear their own.
        if (this.sockets.jsonCount === 0) return;
        for (const change of note.changes) this.presence.changed(nameKey(change.name), change);
        return this.pushPresence(now);
      case "input":
      case "gone": {
        const origin = visitorOf(note.sid);
        if (origin?.k === homes.k) {
          // Passed back after its user came home: its socket is here.
          const conn = this.local(origin.sid);
          if (note.t === "input" && conn && !conn.att.gone) this.take(conn, note.frame, note.typing, now);
          return;
        }
        const conn = this.sockets.get(note.sid);
        if (!conn?.remote) {
          const onward = homes.forwarded.get(note.sid);
          if (onward !== undefined) homes.send(onward, note);
          return;
        }
        if (note.t === "gone") return this.run({ type: "gone", sid: note.sid, resumable: note.resumable ?? false }, now);
        return this.take(conn, note.frame, note.typing, now);
      }
    }
  }

  /** A user's record arrives: a visitor with the connect it came to make, or one of this home's users coming back. */
  private arrive(note: Extract<Note, { t: "arrive" }>, now: number): void {
    const homes = this.homes!;
    const origin = visitorOf(note.sid);
    if (!origin) return;
    if (origin.k === homes.k) {
      const conn = this.local(origin.sid);
      if (!conn || conn.att.gone) return; // its socket closed meanwhile; the close released its name
      delete conn.att.at;
      if (conn.att.key) this.out.delete(conn.att.key);
      this.run({ type: "arrive", sid: conn.att.sid, saved: { ...note.saved, sid: conn.att.sid } }, now);
      if (note.action) this.act(conn, note.action, note.hops, now);
      // A session resumed on this home's socket, its record having been visiting here: its name moves here too.
      if (note.action?.type === "resume") this.resumedHere(conn, note.action.token);
      return this.drain(conn, now);
    }
    if (note.action?.type === "resume" && note.hops < MAX_HOPS) {
      // Resumed where the session's record is: this home holds its name, but the record may be visiting.
      const where = this.resumable(sha256(note.action.token));
      if (where && where.at !== homes.k) {
        homes.send(where.at, { ...note, hops: note.hops + 1 });
        homes.send(origin.k, { t: "at", sid: origin.sid, at: where.at });
        homes.forwarded.set(note.sid, where.at);
        return;
      }
    }
    const att: Attachment = { ...note.saved, sid: note.sid, dialect: note.dialect, heardAt: now, ip: null };
    const conn = this.visitor(note.sid, att);
    homes.saveVisitor(note.sid, att);
    homes.forwarded.delete(note.sid);
    this.arriving = note.sid;
    try {
      this.run({ type: "arrive", sid: note.sid, saved: note.saved }, now);
      if (note.action) this.act(conn, note.action, note.hops, now);
      if (note.action?.type === "resume") this.resumedHere(conn, note.action.token);
    } finally {
      this.arriving = null;
    }
    this.goHomeIfFree(conn, now);
  }

  /**
   * A visitor free again (and not waiting for another home's answer) goes back to its socket home; so does one that
   * came to resume a session and did not (still to pick a name, which only its own home may claim).
   */
  private goHomeIfFree(conn: Conn, now: number): void {
    if (!conn.remote || conn.waiting || this.sockets.get(conn.att.sid) !== conn) return;
    const session = this.state.sessions.get(conn.att.sid);
    if (session && (session.key === null || free(this.state, session.key))) this.run({ type: "leave_for", sid: conn.att.sid }, now);
  }

  /** Run an action that came with a record, counting the homes it has been through. */
  private act(conn: Conn, action: Action, hops: number, now: number, here = false): void {
    conn.hops = hops;
    const fresh = action.type === "login" || action.type === "resume" ? this.credential(conn) : undefined;
    try {
      this.run({ type: "action", sid: conn.att.sid, action, here, fresh }, now);
    } finally {
      delete conn.hops;
    }
  }

  /** A visitor's socket, as a RemoteSocket whose sends and closes become notes to its home. */
  private visitor(sid: string, att: Attachment): Conn {
    const homes = this.homes!;
    const at = visitorOf(sid)!;
    const ws = new RemoteSocket(homes, at, att, (saved) => {
      if ((saved as Attachment).gone) {
        homes.saveVisitor(sid, null);
        this.sockets.forget(conn);
      } else homes.saveVisitor(sid, saved as object);
    });
    const conn = this.sockets.visiting(ws as unknown as WebSocket, att);
    return conn;
  }

  /** A socket of this home by its sid, found before a rebuild too. */
  private local(sid: string): Conn | undefined {
    const known = this.sockets.get(sid);
    if (known) return known.remote ? undefined : known;
    const ws = this.sockets.tagged(sid);
    return ws ? this.sockets.adopt(ws) : undefined;
  }

  /** A frame from a socket whose user is visiting another home: it goes there. */
  private forward(conn: Conn, text: string, typing: boolean): void {
    const homes = this.homes!;
    homes.send(conn.att.at!, { t: "input", sid: conn.remote ? conn.att.sid : visitorSid(homes.k, conn.att.sid), frame: text, typing });
  }

  /**
   * The socket of a user visiting another home is gone: the record there is told. Its name is let go, or, if its
   * session may be resumed, held here for the resume window (a resume with its credential comes here first).
   */
  private leftWhileVisiting(conn: Conn, resumable: boolean): void {
    const homes = this.homes!;
    const { key, name, resume, at } = conn.att;
    const mayResume = resumable && !!conn.att.resumable && !!resume && this.config.resumeGraceMs > 0;
    homes.send(at!, { t: "gone", sid: visitorSid(homes.k, conn.att.sid), resumable: mayResume });
    homes.left(conn.att.sid, Date.now());
    if (!key || this.out.get(key) !== conn) return;
    this.out.delete(key);
    // The margin: the record's home counts the window from when it hears of the drop, a little later.
    if (mayResume) homes.awayElsewhere(key, name ?? key, resume!, at!, Date.now() + this.config.resumeGraceMs + RESUME_MARGIN_MS);
    else homes.release(key);
  }

  /**
   * What a frame means across homes, when it does: a login claims its name at the directory first, `list` asks
   * every home. True when it is handled here (the socket's next frames wait for the answer).
   */
  private acrossHomes(conn: Conn, action: Action, now: number): boolean {
    const key = this.state.sessions.get(conn.att.sid)?.key ?? null;
    if (action.type === "list" && key) {
      conn.waiting = [];
      void this.globalList(conn, key);
      return true;
    }
    if (action.type === "resume" && !key && !conn.remote) return this.resumeAcross(conn, action.token, now);
    if (action.type !== "login" || key || conn.remote) return false;
    const check = checkName(action.name);
    if (!check.ok || this.state.users.has(check.key)) return false; // the rules answer these
    const heldAs = this.out.get(check.key)?.att.name ?? this.claiming.get(check.key);
    if (heldAs !== undefined) {
      this.run({ type: "action", sid: conn.att.sid, action, heldAs }, now);
      return true;
    }
    conn.waiting = [];
    this.claiming.set(check.key, check.name);
    void this.claimThenLogin(conn, action, check.key, check.name);
    return true;
  }

  /**
   * A resume on this home's socket: its credential names the home that holds the session's name. True when the
   * session is elsewhere and the socket's session went there to resume it (as a visitor); false: resume it here.
   */
  private resumeAcross(conn: Conn, token: string, now: number): boolean {
    const homes = this.homes!;
    const named = /^(\d{1,4})\./.exec(token);
    const k = named ? Number(named[1]) : NaN;
    if (!(k < homes.count)) return false; // not one of ours: the rules answer resume_failed
    let to = k;
    if (k === homes.k) {
      const where = this.resumable(sha256(token));
      if (!where) return false;
      // This home keeps the name: the socket is this user's again, wherever the record is.
      conn.att.key = where.key;
      conn.att.name = where.name;
      to = where.at;
    }
    this.sendSession(conn, to, { type: "resume", token }, 0, now);
    return true;
  }

  /** Where a session this home holds the name of can be resumed: null if here (or nowhere), else its record's home. */
  private resumable(hash: string): { key: string; name: string; at: number } | null {
    if (this.state.resumes.has(hash)) return null;
    for (const [key, conn] of this.out) {
      if (conn.att.resume !== hash || conn.att.at === undefined) continue;
      this.out.delete(key); // its socket will be closed as resumed elsewhere, which must not let the name go
      this.went(key, conn.att.at);
      return { key, name: conn.att.name ?? key, at: conn.att.at };
    }
    const away = this.homes!.resumeElsewhere(hash);
    if (away) this.went(away.key, away.at);
    return away;
  }

  /**
   * Where a record of a name this home held went: a connect that the directory still sends here (a claim on its
   * way to the user's new home) follows it there.
   */
  private went(key: string, k: number): void {
    this.wentTo.delete(key);
    this.wentTo.set(key, { k, at: Date.now() });
    if (this.wentTo.size > WENT_TO_KEPT) this.wentTo.delete(this.wentTo.keys().next().value!);
  }

  /** Move this socket's (not yet logged-in) session to home `k`, where `action` is to run. */
  private sendSession(conn: Conn, k: number, action: Action, hops: number, now: number): void {
    conn.bound = { k, action, hops };
    try {
      this.run({ type: "leave_for", sid: conn.att.sid }, now);
    } finally {
      delete conn.bound;
    }
  }

  /**
   * After a resume here of a visitor's session: if the credential's home (which held the name) is not the new
   * socket's home, the name moves to the socket's home, as every name is held by its socket's home.
   */
  private resumedHere(conn: Conn, token: string): void {
    const homes = this.homes!;
    const key = this.state.sessions.get(conn.att.sid)?.key;
    const origin = conn.remote ? visitorOf(conn.att.sid) : { k: homes.k, sid: conn.att.sid };
    const named = /^(\d{1,4})\./.exec(token);
    if (!key || !origin || !named) return;
    const from = Number(named[1]);
    if (from === origin.k) return;
    const name = this.state.users.get(key)!.name;
    if (origin.k === homes.k) this.takeClaim(conn, key, name, from);
    else homes.send(origin.k, { t: "claim", sid: origin.sid, key, name, from });
  }

  /**
   * Socket `conn` of this home resumed the session of `key`, whose name home `from` holds: the claim comes here,
   * once any hand-over to `from` of the same name has landed (a session resumed twice in a row is handed on in
   * order). Refused, the socket closes: its user logs in again.
   */
  private takeClaim(conn: Conn, key: string, name: string, from: number): void {
    const homes = this.homes!;
    conn.att.key = key;
    conn.att.name = name;
    if (conn.att.at !== undefined) this.out.set(key, conn);
    this.sockets.save(conn);
    const sentAt = Date.now();
    const handed = homes.toHome(from, (stub) => stub.handTo(homes.idOf(from), key, name, homes.k)).catch(() => null);
    this.handing.set(key, handed);
    void handed.then((reply) => {
      if (this.handing.get(key) === handed) this.handing.delete(key);
      if (reply?.ok) homes.adopt(key, leaseEnd(sentAt, reply.leaseMs));
      else if (!conn.att.gone) this.close(conn, CloseCode.socketError, "name lease lost", Date.now());
    });
  }

  private async claimThenLogin(conn: Conn, action: Action, key: string, name: string): Promise<void> {
    const homes = this.homes!;
    let result: Awaited<ReturnType<Homes["claim"]>> | null = null;
    try {
      result = await homes.claim(key, name);
      const holder = result.ok ? null : result.holder;
      // Held by another home: maybe one that restarted and forgot it (its user may be this very socket, back).
      if (holder !== null && holder !== homes.k && !(await homes.toHome(holder, (stub) => stub.stillHolds(homes.idOf(holder), key)))) {
        result = await homes.claim(key, name);
      }
    } catch (err) {
      console.error("a claim failed", { err: String(err) });
    }
    this.claiming.delete(key);
    const now = Date.now();
    if (conn.att.gone) {
      if (result?.ok) homes.release(key);
      return;
    }
    if (!result) this.reply(conn, "bad_action", "server_error", now);
    else if (!result.ok) this.run({ type: "action", sid: conn.att.sid, action, heldAs: result.heldAs }, now);
    else {
      this.run({ type: "action", sid: conn.att.sid, action, fresh: this.credential(conn) }, now);
      if (this.state.sessions.get(conn.att.sid)?.key !== key) homes.release(key);
      this.schedule(now);
    }
    this.drain(conn, now);
  }

  /** `list` across homes: every home's count and first names, merged as one Lobby would list them. */
  private async globalList(conn: Conn, key: string): Promise<void> {
    const homes = this.homes!;
    const parts = await Promise.all(
      Array.from({ length: homes.count }, (_, k) =>
        k === homes.k
          ? roster(this.state, LIST_LIMIT)
          : homes.toHome(k, (stub) => stub.roster(homes.idOf(k), LIST_LIMIT)).catch((): Roster => ({ total: 0, users: [] })),
      ),
    );
    const now = Date.now();
    const me = this.state.users.get(key);
    if (me && !conn.att.gone && this.sockets.get(conn.att.sid) === conn) {
      const users = firstBy(parts.flatMap((p) => p.users), LIST_LIMIT, (u) => u.order).map(({ name, status }) => ({ name, status }) as UserEntry);
      const total = parts.reduce((sum, p) => sum + p.total, 0);
      this.deliver(conn, render({ type: "users", you: me.name, users, total }, conn.att.dialect), now);
      if (conn.att.dialect === "json" && !conn.remote) this.presence.watch(conn, users.map((u) => nameKey(u.name)));
    }
    this.drain(conn, now);
    this.goHomeIfFree(conn, now);
  }

  /** Where the person a connect names is: this user goes there to ask, or is told here that it is not online. */
  private async lookup(conn: Conn, to: string, action: Action, hops: number): Promise<void> {
    const homes = this.homes!;
    conn.waiting ??= [];
    let k: number | null = null;
    try {
      k = await homes.where(to);
    } catch (err) {
      console.error("a directory lookup failed", { err: String(err) });
    }
    const now = Date.now();
    if (conn.att.gone || this.sockets.get(conn.att.sid) !== conn) return;
    // Its socket is here: its record is too (it came back meanwhile), or it is visiting another home (maybe away
    // there, its socket gone); or its record just left this home (a session resumed on another home's socket,
    // whose claim is on its way there).
    if (k === homes.k) k = this.out.get(to)?.att.at ?? (this.state.users.has(to) ? null : (homes.awayAt(to) ?? this.wentTo.get(to)?.k ?? null));
    if (k === null || k === homes.k || hops >= MAX_HOPS || this.state.users.has(to)) {
      this.act(conn, action, hops, now, true);
    } else {
      conn.bound = { k, action, hops: hops + 1 };
      try {
        this.run({ type: "leave_for", sid: conn.att.sid, action }, now);
      } finally {
        delete conn.bound;
      }
    }
    this.drain(conn, now);
    this.goHomeIfFree(conn, now);
  }

  /** The rules moved a user's record off this home (Input `leave_for`): it goes where `bound` says, or home. */
  private moved(conn: Conn, saved: SavedSession): void {
    const homes = this.homes!;
    const origin = conn.remote ? visitorOf(conn.att.sid)! : null;
    const dest = conn.bound?.k ?? origin?.k;
    if (dest === undefined) return;
    const sid = conn.remote ? conn.att.sid : visitorSid(homes.k, conn.att.sid);
    const note: Note = { t: "arrive", sid, saved: { ...saved, sid }, dialect: conn.att.dialect, hops: conn.bound?.hops ?? 0 };
    if (conn.bound?.action) note.action = conn.bound.action;
    homes.send(dest, note);
    if (saved.key) {
      this.moving.add(saved.key);
      this.went(saved.key, dest);
    }
    conn.att.at = dest;
    if (origin) {
      if (dest !== origin.k) homes.send(origin.k, { t: "at", sid: origin.sid, at: dest });
      homes.forwarded.set(sid, dest);
      this.sockets.forget(conn);
      homes.saveVisitor(sid, null);
    } else {
      if (conn.att.key) this.out.set(conn.att.key, conn);
      this.sockets.save(conn);
    }
  }

  /** Frames that waited for an answer from another home, in order; one may have to wait again. */
  private drain(conn: Conn, now: number): void {
    const waiting = conn.waiting;
    delete conn.waiting;
    while (waiting?.length) {
      const [text, typing] = waiting.shift()!;
      this.take(conn, text, typing, now);
      const again = conn.waiting as [string, boolean][] | undefined;
      if (again) {
        again.push(...waiting);
        return;
      }
    }
  }

  /** After a step: visitors free again go home; names nobody here uses any more are let go. */
  private afterHomes(touched: ReadonlyMap<string, string>, now: number): void {
    const homes = this.homes!;
    const state = this.state;
    for (const key of touched.keys()) {
      const user = state.users.get(key);
      const visitor = user?.sid && user.sid !== this.arriving ? this.sockets.get(user.sid) : undefined;
      if (visitor?.remote) this.goHomeIfFree(visitor, now);
      // Not a name whose record went to another home: it is held (or being handed over) for its user there.
      else if (!user && !this.out.has(key) && !this.claiming.has(key) && !this.wentTo.has(key) && !homes.isAwayElsewhere(key)) homes.release(key);
      if (user) this.wentTo.delete(key); // back here
    }
  }

  /** A batch to another home failed: that home is down or restarting. */
  private unreachable(k: number, notes: Note[]): void {
    const homes = this.homes!;
    const now = Date.now();
    for (const note of notes) {
      if (note.t === "frame" || note.t === "close") {
        // Its socket was there: its user's record here leaves (the partner is told it disconnected).
        const sid = visitorSid(k, note.sid);
        if (this.sockets.get(sid)?.remote) this.run({ type: "gone", sid, resumable: false }, now);
        continue;
      }
      const origin = note.t === "arrive" || note.t === "input" || note.t === "gone" ? visitorOf(note.sid) : null;
      if (origin?.k !== homes.k) continue;
      // A socket of ours whose record is (or was going) there: it reconnects, as after a deploy.
      const conn = this.local(origin.sid);
      if (conn && !conn.att.gone) this.close(conn, CloseCode.socketError, "home unavailable", now);
    }
  }

  /** At each timer run: renew the names this home holds, and check that visitors' homes still hold their sockets. */
  private homeTimers(now: number): void {
    const homes = this.homes!;
    const due = homes.renewDue();
    homes.expireElsewhere(now);
    if (due !== null && due <= now) void this.renewClaims(now);
    this.endUsersOf(homes.expired(now));
    const byHome = new Map<number, string[]>();
    for (const conn of this.sockets.all()) {
      const origin = conn.remote && !conn.att.gone ? visitorOf(conn.att.sid) : null;
      if (origin) byHome.set(origin.k, [...(byHome.get(origin.k) ?? []), origin.sid]);
    }
    for (const [k, sids] of byHome) void this.checkPresent(k, sids);
  }

  private async renewClaims(now: number): Promise<void> {
    this.endUsersOf(await this.homes!.renew(now, (key) => this.inUse(key)));
  }

  /** Names this home may no longer use (a lease lost or run out): their users' sockets are closed, to log in again. */
  private endUsersOf(keys: string[]): void {
    for (const key of keys) {
      const sid = this.state.users.get(key)?.sid;
      const conn = this.out.get(key) ?? (sid ? this.sockets.get(sid) : undefined);
      if (conn && !conn.att.gone && !conn.remote) this.close(conn, CloseCode.socketError, "name lease lost", Date.now());
    }
  }

  private async checkPresent(k: number, sids: string[]): Promise<void> {
    const homes = this.homes!;
    let here: string[];
    try {
      here = await homes.toHome(k, (stub) => stub.present(homes.idOf(k), sids));
    } catch {
      here = [];
    }
    const alive = new Set(here);
    const now = Date.now();
    for (const sid of sids) {
      const vsid = visitorSid(k, sid);
      if (!alive.has(sid) && this.sockets.get(vsid)?.remote) this.run({ type: "gone", sid: vsid, resumable: false }, now);
    }
  }
}
