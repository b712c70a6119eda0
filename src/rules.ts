// The matchmaking rules: who may connect to whom and what each side is told.
// No sockets, storage or clocks: `step` takes the state, one input and the time, updates the state and returns
// the effects, so every rule (docs/RULES.md) is unit-tested directly and the Lobby only moves bytes.

import { type Config, type LimitsConfig, limitsOf } from "./config";
import { CloseCode, LIST_LIMIT, printable } from "../public/wire/protocol.js";
import type { Action, ErrorCode, RequestFailure, ServerEvent, Status, UserEntry } from "../public/wire/protocol.js";
import { checkName, foldName, nameKey } from "../public/wire/names.js";
import { type InputMode, type Sentence, inputMode as modeOf, say } from "../public/wire/text.js";
import { type Bucket, fullBucket, take } from "./rate-limit";
import { sameSecret, sha256 } from "./credentials";

/** One logged-in user: who is online, on which socket, and with whom (R1, R3). */
export interface User {
  /** The name as the user typed it (NFKC), for display. */
  name: string;
  /** The socket the user is logged in on; null while away (lost its socket, may resume). */
  sid: string | null;
  /** Key of the chat partner, or null. */
  peer: string | null;
  /** In a chat, this user was the one asked: the chat is stored under its key (a request is, from the start). */
  host?: boolean;
  /** Not taking requests (`away`): whoever asks is told so. */
  unavailable?: boolean;
  /** The hash of its resume credential (JSON sessions, when resuming is on). */
  resume?: string;
  /** Away until then: its socket is gone and it may resume; then it leaves (R12). */
  awayUntil?: number;
  /** What it was told while away, for when it resumes (chat lines not among them: clients resend those). */
  missed?: ServerEvent[];
  /** Whom this user blocked: key -> display name (at most MAX_BLOCKS). */
  blocked?: Map<string, string>;
  /** Who asked this user and was refused (declined, expired, withdrawn), and may not ask again before `until`. */
  refused?: Map<string, Cooldown>;
}

/** A requester's wait before asking the same person again; `strikes` refusals in a row make it longer. */
export interface Cooldown {
  until: number;
  strikes: number;
  /** The last refusal: strikes are forgotten COOLDOWN_MEMORY_MS after it. */
  at: number;
}

/** People one user may block. */
export const MAX_BLOCKS = 100;
/** Events kept for a user while it is away; the oldest go first. */
export const MAX_MISSED = 20;
/** Refusals remembered per user; past it the oldest is forgotten. */
export const MAX_REFUSALS = 200;
/** A requester's strikes are forgotten this long after the last refusal: the next wait starts at the first again. */
export const COOLDOWN_MEMORY_MS = 3_600_000;
/** A blocked requester is told no after a pause a person might take (a decline at once would give the block away). */
export const BLOCKED_ANSWER_MS: readonly [number, number] = [3_000, 12_000];

/** A pending request (R7, R9), kept by its target: the target's key maps to this. */
export interface PendingRequest {
  from: string;
  deadline: number;
}

/**
 * A request to someone who blocked the requester: the target never sees it, and the requester is told no at
 * `answerAt`, exactly as a decline would tell it. Memory only: it lasts seconds.
 */
export interface ShadowRequest {
  to: string;
  answerAt: number;
}

/** One socket, logged in or not. */
export interface Session {
  /** Key of the user logged in on this socket; null while it is still choosing a name. */
  key: string | null;
  /** The socket typed a bare `connect` and its next line is the name to connect with. */
  awaitingTarget: boolean;
  /** When this user's last chat ended: lines typed just after it were meant for the partner, not as commands. */
  chatEndedAt?: number;
  /** The socket may resume a session and be resumed (the JSON dialect, with resuming on). */
  resumable?: boolean;
}

/**
 * Maps, not plain objects: keys come from user input, and a user called `__proto__` must be just a user.
 * Everything is plain data, so the whole state survives structured cloning.
 */
export interface State {
  users: Map<string, User>;
  /** target key -> request */
  requests: Map<string, PendingRequest>;
  /** requester key -> target key; an index over `requests`, kept in step with it */
  outgoing: Map<string, string>;
  /** socket id -> session */
  sessions: Map<string, Session>;
  /** requester key -> its request to someone who blocked it */
  shadows: Map<string, ShadowRequest>;
  /** user key -> its budget of new requests (memory only; kept by name, so a reconnect does not refill it) */
  requestBuckets: Map<string, Bucket>;
  /** resume credential hash -> user key */
  resumes: Map<string, string>;
}

export type Input =
  | { type: "open"; sid: string; resumable?: boolean }
  /**
   * `fresh`: a new random credential, for an action that may issue one (login, resume). With homes (`remote`):
   * `heldAs`, the name another home's user holds the login's name as; `here`, the target of a connect is known to
   * be nowhere else (the directory said so), so its absence here means it is not online.
   */
  | { type: "action"; sid: string; action: Action; fresh?: string; heldAs?: string; here?: boolean }
  /**
   * The socket closed, errored, failed a send or was swept (R12). `resumable`: it dropped rather than was closed
   * for cause, so its user may come back (see goAway).
   */
  | { type: "gone"; sid: string; resumable?: boolean }
  /** Time passed: expire the requests whose deadline is due. */
  | { type: "tick" }
  /** Homes: a user arrives from another home with what was kept of it (a requester visiting, or one back home). */
  | { type: "arrive"; sid: string; saved: SavedSession }
  /**
   * Homes: the user on `sid` leaves this home for the one where `action` (a connect) can be decided, declining
   * first the request it was being asked, as a connect to someone else does here. No action: it goes back home,
   * free. Effect `moved`; if it is no longer free to go, the action is answered here instead.
   */
  | { type: "leave_for"; sid: string; action?: Action };

export type Effect =
  | { type: "send"; sid: string; event: ServerEvent }
  | { type: "close"; sid: string; code: number; reason: string }
  /** Homes: `to` (a name key) is not here; the Lobby finds its home and answers with `leave_for` or `here`. */
  | { type: "lookup"; sid: string; to: string; action: Action }
  /** Homes: the user on `sid` has left this home's state for another, with what is kept of it. */
  | { type: "moved"; sid: string; saved: SavedSession };

/** What a step changed, so the Lobby writes exactly that to storage and attachments. */
export interface Dirty {
  /** Users whose chat partner changed. */
  users: ReadonlySet<string>;
  /**
   * Links whose row changed: a request, or the chat it became, kept under the key of the user who was asked (see
   * linkOf). Who is logged in where is in the sockets' attachments, so a login writes no row.
   */
  links: ReadonlySet<string>;
  sessions: ReadonlySet<string>;
  /** Users who went away or came back or left while away: their row of what to keep while they have no socket. */
  away: ReadonlySet<string>;
}

export interface StepResult {
  effects: Effect[];
  dirty: Dirty;
  /** Users whose status (available / busy / pending / offline) may have changed: key -> display name. */
  touched: ReadonlyMap<string, string>;
}

/** Most steps (every relayed chat line) change nothing: they share these rather than allocate empty ones. */
const NOTHING: ReadonlySet<string> = new Set();
const NOBODY: ReadonlyMap<string, string> = new Map();

/** What the rules need of the config: the request timeout, and the limits they tell a user at `welcome`. */
export type RulesConfig = Pick<Config, "requestTimeoutMs" | "requestsPerMinute" | "requestCooldownsMs" | "resumeGraceMs"> &
  LimitsConfig & {
    /** Homes (HOMES > 1): a name not logged in here may be on another home, so connect asks the Lobby to look. */
    remote?: boolean;
  };

export function emptyState(): State {
  return {
    users: new Map(),
    requests: new Map(),
    outgoing: new Map(),
    sessions: new Map(),
    shadows: new Map(),
    requestBuckets: new Map(),
    resumes: new Map(),
  };
}

export function statusOf(state: State, key: string): Status {
  const user = state.users.get(key);
  if (user?.awayUntil !== undefined) return "away";
  if (user?.peer) return "busy";
  if (state.requests.has(key) || state.outgoing.has(key) || state.shadows.has(key)) return "pending";
  return user?.unavailable ? "unavailable" : "available";
}

/**
 * A link as stored: a pending request (asked user, requester) or the chat it became (asked user, partner), keyed
 * by the asked user's key so that a request's row becomes its chat's row with one update. Null when `id` has none.
 */
export function linkOf(state: State, id: string): { a: string; b: string; chat: boolean; deadline: number } | null {
  const request = state.requests.get(id);
  if (request) return { a: id, b: request.from, chat: false, deadline: request.deadline };
  const user = state.users.get(id);
  return user?.host && user.peer ? { a: id, b: user.peer, chat: true, deadline: 0 } : null;
}

/**
 * What a bare text line from this socket means now. Given the time, a line that arrives within CHAT_END_GRACE_MS
 * of the end of the sender's chat was typed for the partner and is refused rather than run as a command (think
 * "quit teasing me" arriving just after the partner typed exit).
 */
export function inputMode(state: State, sid: string, now?: number): InputMode {
  const session = state.sessions.get(sid);
  const key = session?.key;
  return modeOf(
    {
      loggedIn: !!key,
      inChat: !!key && !!state.users.get(key)?.peer,
      asked: !!key && state.requests.has(key),
      awaitingTarget: !!session?.awaitingTarget,
      chatEndedAt: now === undefined ? null : session?.chatEndedAt,
    },
    now ?? 0,
  );
}

/**
 * Where a chat line goes: to the sender's partner, as a `message`. Null when it cannot be delivered (no partner,
 * or nothing but white space), which `step` answers with an error. A line changes no state, so the Lobby calls
 * this directly for every relayed line, the one path hot enough to skip the rest of a step.
 */
export function relay(state: State, sid: string, text: string, seq?: number): { sid: string; event: ServerEvent } | null {
  const route = chatRoute(state, sid);
  if (!route || text.trim() === "") return null;
  const event: ServerEvent = seq === undefined ? { type: "message", from: route.from, text } : { type: "message", from: route.from, text, seq };
  return { sid: route.to, event };
}

/**
 * Where this socket's chat lines go, and under which name: null outside a chat, and while the partner is away. It
 * changes only when a step changes something, so the Lobby keeps it per socket between steps.
 */
export function chatRoute(state: State, sid: string): { to: string; from: string } | null {
  const key = state.sessions.get(sid)?.key;
  const me = key ? state.users.get(key) : undefined;
  const partner = me?.peer ? state.users.get(me.peer) : undefined;
  return me && partner?.sid ? { to: partner.sid, from: me.name } : null;
}

/**
 * How long a blocked requester waits for its "no": a pause a person might take, the same for the same request,
 * and different from one request to the next (the rules stay pure: no Math.random).
 */
export function blockedAnswerDelay(requester: string, target: string, now: number): number {
  let h = 2166136261;
  for (const c of `${requester}\n${target}\n${now}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  const [min, max] = BLOCKED_ANSWER_MS;
  return min + ((h >>> 0) % (max - min));
}

/**
 * The first `limit` items by `order`, in that order, in one pass and without sorting them all: `list` picks 100
 * names out of thousands, and after a deploy every web client asks for it at once. Keys must be distinct.
 */
export function firstBy<T>(items: Iterable<T>, limit: number, order: (item: T) => string): T[] {
  const best: { item: T; key: string }[] = [];
  if (limit < 1) return [];
  for (const item of items) {
    const key = order(item);
    if (best.length === limit && key >= best[limit - 1]!.key) continue;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (best[mid]!.key < key) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, { item, key });
    if (best.length > limit) best.pop();
  }
  return best.map((b) => b.item);
}

/** A user's name case-folded, as `list` orders it; worked out once per login (a User's name never changes). */
const listOrder = new WeakMap<User, string>();
function listOrderOf(user: User): string {
  let order = listOrder.get(user);
  if (order === undefined) {
    order = foldName(user.name);
    listOrder.set(user, order);
  }
  return order;
}

/**
 * The earliest request deadline (or answer to a blocked requester, or end of someone's resume window), or null
 * when nothing is pending.
 */
export function nextDeadline(state: State): number | null {
  let next: number | null = null;
  for (const r of state.requests.values()) if (next === null || r.deadline < next) next = r.deadline;
  for (const r of state.shadows.values()) if (next === null || r.answerAt < next) next = r.answerAt;
  for (const u of state.users.values()) if (u.awayUntil !== undefined && (next === null || u.awayUntil < next)) next = u.awayUntil;
  return next;
}

export function step(state: State, input: Input, now: number, config: RulesConfig): StepResult {
  const t = new Turn(state, now, config);
  switch (input.type) {
    case "open":
      state.sessions.set(input.sid, input.resumable ? { key: null, awaitingTarget: false, resumable: true } : { key: null, awaitingTarget: false });
      t.changed("sessions", input.sid);
      t.send(input.sid, { type: "ask_name" });
      break;
    case "action":
      if (state.sessions.has(input.sid)) t.act(input.sid, input.action, input.fresh, input);
      break;
    case "arrive":
      t.arrive(input.sid, input.saved);
      break;
    case "leave_for":
      t.leaveFor(input.sid, input.action);
      break;
    case "gone":
      t.depart(input.sid, input.resumable ?? false);
      break;
    case "tick":
      t.expire();
      break;
  }
  return t.result();
}

/** One step's working set: the state being changed, what to send, and what changed. */
class Turn {
  readonly effects: Effect[] = [];
  // Created on a step's first change only (see NOTHING).
  private dirty?: { users?: Set<string>; links?: Set<string>; sessions?: Set<string>; away?: Set<string> };
  private touched?: Map<string, string>;

  constructor(
    private readonly s: State,
    private readonly now: number,
    private readonly config: RulesConfig,
  ) {}

  changed(what: keyof Dirty, ...keys: string[]): void {
    const set = ((this.dirty ??= {})[what] ??= new Set());
    for (const key of keys) set.add(key);
  }

  result(): StepResult {
    const d = this.dirty;
    return {
      effects: this.effects,
      dirty: { users: d?.users ?? NOTHING, links: d?.links ?? NOTHING, sessions: d?.sessions ?? NOTHING, away: d?.away ?? NOTHING },
      touched: this.touched ?? NOBODY,
    };
  }

  send(sid: string, event: ServerEvent): void {
    this.effects.push({ type: "send", sid, event });
  }

  /**
   * An event for a user wherever it is: its socket, or, while it is away, what it missed (bounded: it keeps the
   * last MAX_MISSED; chat lines and typing are never kept, the clients resend lines themselves).
   */
  private tell(key: string, event: ServerEvent): void {
    const user = this.s.users.get(key);
    if (!user) return;
    if (user.sid !== null) return this.send(user.sid, event);
    if (event.type === "message" || event.type === "typing" || event.type === "seen") return;
    const missed = (user.missed ??= []);
    missed.push(event);
    if (missed.length > MAX_MISSED) missed.shift();
    this.changed("away", key);
  }

  /** The link a user is in (its key, or its partner's if the partner was the one asked), for storage. */
  private changedLink(key: string): void {
    const user = this.s.users.get(key);
    const partner = user?.peer ? this.s.users.get(user.peer) : undefined;
    if (user?.host) this.changed("links", key);
    else if (partner?.host) this.changed("links", user!.peer!);
    else if (this.s.requests.has(key)) this.changed("links", key);
    else if (this.s.outgoing.has(key)) this.changed("links", this.s.outgoing.get(key)!);
  }

  /** Note a possible status change, with the name to announce it under (read now: the user may be leaving). */
  private touch(key: string): void {
    const user = this.s.users.get(key);
    if (user) (this.touched ??= new Map()).set(key, user.name);
  }

  private error(sid: string, code: ErrorCode, sentence: Sentence, fields?: Record<string, string>): void {
    this.send(sid, { type: "error", code, message: say(sentence, fields) });
  }

  /** What the Lobby learnt from other homes for this action (see Input). */
  private elsewhere: { heldAs?: string; here?: boolean } = {};

  act(sid: string, action: Action, fresh?: string, elsewhere: { heldAs?: string; here?: boolean } = {}): void {
    this.elsewhere = elsewhere;
    const session = this.s.sessions.get(sid)!;
    if (action.type === "help") return this.send(sid, { type: "help" });
    if (action.type === "quit") {
      this.send(sid, { type: "bye" });
      this.effects.push({ type: "close", sid, code: CloseCode.normal, reason: "bye" });
      return this.depart(sid);
    }
    if (action.type === "invalid") return this.invalid(sid, session, action.code, action.message);
    // The Lobby answers checks itself (src/unread.ts): they concern the socket, not the matchmaking.
    if (action.type === "checked") return;
    // A typing notice or a seen mark is a hint to the partner's client, never worth an error: outside a chat it
    // simply goes nowhere.
    if (action.type === "typing") return session.key ? this.typing(session.key) : undefined;
    if (action.type === "seen") return session.key ? this.seen(session.key, action.seq) : undefined;
    if (!session.key) {
      if (action.type === "login") return this.login(sid, session, action.name, fresh);
      if (action.type === "resume") return this.resume(sid, session, action.token, action.seen ?? null, fresh);
      return this.error(sid, "not_logged_in", "not_logged_in");
    }
    const key = session.key;
    switch (action.type) {
      case "login":
      case "resume":
        return this.error(sid, "already_logged_in", "already_logged_in", { name: this.s.users.get(key)!.name });
      case "connect":
        return this.connect(sid, session, key, action.to);
      case "answer":
        return this.answer(sid, key, action.accept);
      case "say":
        return this.say(sid, key, action.text, action.seq);
      case "exit":
        return this.exit(sid, key);
      case "cancel":
        return this.cancel(sid, session, key);
      case "list":
        return this.list(sid, key);
      case "away":
      case "back":
        return this.setAway(sid, key, action.type === "away");
      case "block":
        return this.block(sid, key, action.name);
      case "unblock":
        return this.unblock(sid, key, action.name);
      case "blocked":
        return this.send(sid, { type: "blocked", names: [...(this.s.users.get(key)!.blocked?.values() ?? [])] });
    }
  }

  /** One new request from `key`, if its budget allows (config.requestsPerMinute): 0, or how long until it does. */
  private spendRequest(key: string): number {
    const limit = { ratePerSecond: this.config.requestsPerMinute / 60, rateBurst: this.config.requestsPerMinute };
    const buckets = this.s.requestBuckets;
    let bucket = buckets.get(key);
    if (bucket) buckets.delete(key);
    else {
      if (buckets.size >= 10_000) buckets.delete(buckets.keys().next().value!);
      bucket = fullBucket(limit, this.now);
    }
    buckets.set(key, bucket); // least recently used first, so the oldest is forgotten first
    if (take(bucket, this.now, limit) === "ok") return 0;
    return Math.ceil(((1 - bucket.tokens) / limit.ratePerSecond) * 1000);
  }

  /** A user's own data changed (blocks, refusals, away): saved with its socket's attachment, or its away row. */
  private changedUser(key: string): void {
    const user = this.s.users.get(key);
    if (user?.sid) this.changed("sessions", user.sid);
    else if (user) this.changed("away", key);
  }

  /**
   * `requester` was refused by `target` (a decline, an expiry, a withdrawal): it may not ask again for a while, the
   * longer the more often it happens (config.requestCooldownsMs), forgotten an hour after the last time.
   */
  private refuse(target: string, requester: string): void {
    const user = this.s.users.get(target);
    if (!user) return;
    const refused = (user.refused ??= new Map());
    const prev = refused.get(requester);
    const strikes = prev && this.now - prev.at < COOLDOWN_MEMORY_MS ? prev.strikes + 1 : 1;
    const waits = this.config.requestCooldownsMs;
    refused.delete(requester); // kept in order of the last refusal, so the oldest goes first
    refused.set(requester, { until: this.now + waits[Math.min(strikes, waits.length) - 1]!, strikes, at: this.now });
    for (const [k, c] of refused) if (refused.size > MAX_REFUSALS || this.now - c.at >= COOLDOWN_MEMORY_MS) refused.delete(k);
    this.changedUser(target);
  }

  private typing(key: string): void {
    const me = this.s.users.get(key)!;
    if (me.peer) this.tell(me.peer, { type: "typing", from: me.name });
  }

  /** The last line seen from the partner (see PROTOCOL.md, "Resuming"): for the partner's client to resend the rest. */
  private seen(key: string, seq: number): void {
    const me = this.s.users.get(key)!;
    if (me.peer) this.tell(me.peer, { type: "seen", seq });
  }

  private setAway(sid: string, key: string, away: boolean): void {
    const me = this.s.users.get(key)!;
    if (!!me.unavailable !== away) {
      me.unavailable = away;
      this.touch(key);
      this.changedUser(key);
    }
    this.send(sid, { type: "availability", taking: !away });
  }

  private block(sid: string, key: string, raw: string): void {
    const name = raw.trim();
    const target = nameKey(name);
    if (!name) return this.error(sid, "unknown_command", "name_after", { word: "block" });
    if (target === key) return this.error(sid, "unknown_command", "block_self");
    const me = this.s.users.get(key)!;
    const blocked = (me.blocked ??= new Map());
    if (!blocked.has(target) && blocked.size >= MAX_BLOCKS) {
      return this.error(sid, "too_many_blocks", "too_many_blocks", { max: String(MAX_BLOCKS) });
    }
    const shown = this.s.users.get(target)?.name ?? printable(name, 40);
    blocked.set(target, shown);
    this.changedUser(key);
    // Blocking your partner ends the chat as exit does; a request between the two ends as a decline would.
    if (me.peer === target) {
      this.unpair(key, "exit");
      this.send(sid, { type: "you_left", with: shown });
    }
    const incoming = this.s.requests.get(key);
    if (incoming?.from === target) {
      this.dropRequest(key);
      this.refuse(key, target);
      this.tell(target, { type: "request_declined", by: me.name });
      this.send(sid, { type: "you_declined", from: shown });
    }
    if (this.s.outgoing.get(key) === target) {
      this.dropRequest(target);
      this.tell(target, { type: "request_ended", name: me.name, role: "received", reason: "withdrawn" });
      this.send(sid, { type: "cancelled", to: shown });
    }
    this.send(sid, { type: "blocked", names: [...blocked.values()], changed: { name: shown, blocked: true } });
  }

  private unblock(sid: string, key: string, raw: string): void {
    const me = this.s.users.get(key)!;
    const target = nameKey(raw.trim());
    const shown = me.blocked?.get(target);
    if (shown === undefined) return this.error(sid, "not_blocked", "not_blocked", { name: printable(raw.trim(), 40) });
    me.blocked!.delete(target);
    this.changedUser(key);
    this.send(sid, { type: "blocked", names: [...me.blocked!.values()], changed: { name: shown, blocked: false } });
  }

  private invalid(sid: string, session: Session, code: ErrorCode, message: string): void {
    const from = session.key ? this.s.requests.get(session.key)?.from : undefined;
    if (code === "bad_answer" && from) return this.error(sid, code, "answer_y_n_to", { from: this.s.users.get(from)?.name ?? from });
    this.send(sid, { type: "error", code, message });
  }

  private login(sid: string, session: Session, raw: string, fresh: string | undefined): void {
    const check = checkName(raw);
    if (!check.ok) {
      this.send(sid, { type: "name_rejected", name: check.name, reason: "invalid", detail: check.detail });
      return this.send(sid, { type: "ask_name" });
    }
    const holder = this.s.users.get(check.key) ?? (this.elsewhere.heldAs ? { name: this.elsewhere.heldAs } : undefined);
    if (holder) {
      const same = foldName(holder.name) === foldName(check.name);
      this.send(sid, {
        type: "name_rejected",
        name: check.name,
        reason: same ? "taken" : "confusable",
        detail: same
          ? "someone online already has that name (names are compared ignoring case)"
          : `it looks the same as ${holder.name}, who is online`,
      });
      return this.send(sid, { type: "ask_name" });
    }
    const user: User = { name: check.name, sid, peer: null };
    this.s.users.set(check.key, user);
    session.key = check.key;
    this.changed("sessions", sid);
    this.touch(check.key);
    const resume = this.issue(check.key, session, fresh);
    this.send(sid, resume ? { type: "welcome", name: check.name, limits: limitsOf(this.config), resume } : { type: "welcome", name: check.name, limits: limitsOf(this.config) });
  }

  /**
   * A new resume credential for a user on a socket that may resume, replacing the one it had: only its hash is
   * kept. Null when resuming is off, or the socket cannot resume (the text dialect).
   */
  private issue(key: string, session: Session, fresh: string | undefined): { token: string; graceMs: number } | null {
    const user = this.s.users.get(key)!;
    if (user.resume) this.s.resumes.delete(user.resume);
    delete user.resume;
    if (!session.resumable || !fresh || this.config.resumeGraceMs <= 0) return null;
    user.resume = sha256(fresh);
    this.s.resumes.set(user.resume, key);
    this.changedLink(key);
    return { token: fresh, graceMs: this.config.resumeGraceMs };
  }

  /**
   * A new socket takes over a session: the user was away (its socket dropped) or is still on an old socket (a
   * reload whose old socket has not closed yet: that one is closed). The credential is replaced, the partner is
   * told, and the client gets what it missed and where it stands.
   */
  private resume(sid: string, session: Session, token: string, seen: number | null, fresh: string | undefined): void {
    const hash = sha256(token);
    const key = this.s.resumes.get(hash);
    const me = key === undefined ? undefined : this.s.users.get(key);
    if (!session.resumable || !me?.resume || !sameSecret(me.resume, hash)) {
      this.send(sid, { type: "resume_failed" });
      return this.send(sid, { type: "ask_name" });
    }
    if (me.sid !== null) {
      this.effects.push({ type: "close", sid: me.sid, code: CloseCode.resumedElsewhere, reason: "resumed elsewhere" });
      this.s.sessions.delete(me.sid);
      this.changed("sessions", me.sid);
    }
    me.sid = sid;
    session.key = key!;
    this.changed("sessions", sid);
    if (me.awayUntil !== undefined) {
      delete me.awayUntil;
      this.changed("away", key!);
    }
    this.touch(key!);
    const resume = this.issue(key!, session, fresh)!;
    const missed = me.missed ?? [];
    delete me.missed;
    const incoming = this.s.requests.get(key!);
    const out = this.s.outgoing.get(key!) ?? this.s.shadows.get(key!)?.to;
    const outDeadline = out === undefined ? 0 : (this.s.requests.get(out)?.deadline ?? this.s.shadows.get(key!)?.answerAt ?? this.now);
    const request = incoming
      ? { role: "received" as const, name: this.s.users.get(incoming.from)!.name, expiresInMs: incoming.deadline - this.now }
      : out !== undefined
        ? { role: "sent" as const, name: this.s.users.get(out)?.name ?? out, expiresInMs: Math.max(0, outDeadline - this.now) }
        : null;
    const peer = me.peer ? this.s.users.get(me.peer)! : undefined;
    // A partner who is away now: its notice may have gone to the socket that dropped, so it goes again, unless what
    // was missed already ends with it (a notice that reached the old socket costs one line said twice).
    const lastNotice = missed.filter((e) => e.type === "partner_away" || e.type === "partner_back").pop();
    if (peer?.awayUntil !== undefined && lastNotice?.type !== "partner_away") {
      missed.push({ type: "partner_away", name: peer.name, graceMs: peer.awayUntil - this.now });
    }
    const partner = peer ? peer.name : null;
    this.send(sid, { type: "resumed", name: me.name, resume, partner, request, missed });
    if (me.peer) this.tell(me.peer, { type: "partner_back", name: me.name, seen });
  }

  private setAwaiting(sid: string, session: Session, awaiting: boolean): void {
    if (session.awaitingTarget === awaiting) return;
    session.awaitingTarget = awaiting;
    this.changed("sessions", sid);
  }

  private connect(sid: string, session: Session, key: string, to: string | undefined): void {
    const me = this.s.users.get(key)!;
    const fail = (failure: RequestFailure) => {
      this.setAwaiting(sid, session, false);
      this.send(sid, { type: "request_failed", ...failure });
    };
    const named = to !== undefined && to.trim() !== "";
    const targetKey = named ? nameKey(to.trim()) : undefined;
    // The order of R2-R6: yourself, already in a chat, one request out, then the target's state.
    if (targetKey === key) return fail({ reason: "self" });
    if (me.peer) return fail({ reason: "in_chat", partner: this.s.users.get(me.peer)!.name });
    const outgoing = this.s.outgoing.get(key) ?? this.s.shadows.get(key)?.to;
    if (outgoing) return fail({ reason: "pending", to: this.s.users.get(outgoing)?.name ?? outgoing });
    const incoming = this.s.requests.get(key);
    if (incoming && !named) return fail({ reason: "answer_first", from: this.s.users.get(incoming.from)!.name });
    if (!named) {
      this.setAwaiting(sid, session, true);
      return this.send(sid, { type: "ask_target" });
    }
    const target = this.s.users.get(targetKey!);
    if (!target && this.config.remote && !this.elsewhere.here) {
      // Maybe on another home: the Lobby looks, and the user goes there to ask (or is told here it is not online).
      this.setAwaiting(sid, session, false);
      this.effects.push({ type: "lookup", sid, to: targetKey!, action: { type: "connect", to } });
      return;
    }
    if (!target) return fail({ reason: "offline", to: printable(to.trim(), 40) });
    if (incoming) {
      // Being asked locks nobody in: asking the one who asked is a yes; asking anyone else declines them.
      if (incoming.from === targetKey) return this.answer(sid, key, true);
      this.answer(sid, key, false);
    }
    if (me.blocked?.has(targetKey!)) return fail({ reason: "you_blocked", to: target.name });
    const cooldown = target.refused?.get(key);
    if (cooldown && cooldown.until > this.now) return fail({ reason: "cooldown", to: target.name, waitMs: cooldown.until - this.now });
    const status = statusOf(this.s, targetKey!);
    if (status === "away") return fail({ reason: "away", to: target.name });
    if (status === "unavailable") return fail({ reason: "unavailable", to: target.name });
    if (status !== "available") return fail({ reason: "busy", to: target.name });
    const waitMs = this.spendRequest(key);
    if (waitMs > 0) return fail({ reason: "too_many_requests", waitMs });

    this.setAwaiting(sid, session, false);
    const expiresInMs = this.config.requestTimeoutMs;
    if (target.blocked?.has(key)) {
      // Blocked: the target never hears of it, and the requester is told no after a pause, as by a decline.
      this.s.shadows.set(key, { to: targetKey!, answerAt: this.now + blockedAnswerDelay(key, targetKey!, this.now) });
      this.touch(key);
      return this.send(sid, { type: "request_sent", to: target.name, expiresInMs });
    }
    const targetSession = target.sid === null ? undefined : this.s.sessions.get(target.sid);
    if (targetSession) this.setAwaiting(target.sid!, targetSession, false);
    this.s.requests.set(targetKey!, { from: key, deadline: this.now + this.config.requestTimeoutMs });
    this.s.outgoing.set(key, targetKey!);
    this.changed("links", targetKey!);
    this.touch(key);
    this.touch(targetKey!);
    this.tell(targetKey!, { type: "incoming_request", from: me.name, expiresInMs });
    this.send(sid, { type: "request_sent", to: target.name, expiresInMs });
  }

  private dropRequest(target: string): PendingRequest | undefined {
    const request = this.s.requests.get(target);
    if (!request) return undefined;
    this.s.requests.delete(target);
    this.s.outgoing.delete(request.from);
    this.changed("links", target);
    this.touch(target);
    this.touch(request.from);
    return request;
  }

  private answer(sid: string, key: string, accept: boolean): void {
    const request = this.dropRequest(key);
    if (!request) return this.error(sid, "no_request", "no_request");
    const me = this.s.users.get(key)!;
    const requester = this.s.users.get(request.from)!;
    if (!accept) {
      this.refuse(key, request.from);
      this.tell(request.from, { type: "request_declined", by: me.name });
      return this.send(sid, { type: "you_declined", from: requester.name });
    }
    me.peer = request.from;
    requester.peer = key;
    // The chat keeps the request's row: one update, not a delete and an insert.
    me.host = true;
    this.changed("users", key, request.from);
    this.changed("links", key);
    this.tell(request.from, { type: "connected", with: me.name });
    this.send(sid, { type: "connected", with: requester.name });
  }

  private say(sid: string, key: string, text: string, seq: number | undefined): void {
    const delivery = relay(this.s, sid, text, seq);
    if (delivery) return this.send(delivery.sid, delivery.event);
    const me = this.s.users.get(key)!;
    if (!me.peer) return this.error(sid, "not_in_chat", "not_in_chat");
    if (text.trim() === "") return this.error(sid, "empty_message", "empty_message");
    // The partner is away: nothing disappears silently (a JSON client resends its lines when the partner is back).
    this.error(sid, "not_delivered", "not_delivered", { name: this.s.users.get(me.peer)!.name });
  }

  /** Ends `key`'s chat, if any; the partner is told once, with the reason. */
  private unpair(key: string, reason: "exit" | "disconnected"): string | null {
    const me = this.s.users.get(key);
    const partner = me?.peer ? this.s.users.get(me.peer) : undefined;
    if (!me?.peer) return null;
    const partnerKey = me.peer;
    this.changedLink(key);
    me.peer = null;
    delete me.host;
    this.changed("users", key, partnerKey);
    this.touch(key);
    this.touch(partnerKey);
    // Only the partner was caught mid-sentence; whoever ended the chat knows it did.
    if (partner?.sid) this.markChatEnded(partner.sid);
    if (partner?.peer === key) {
      partner.peer = null;
      delete partner.host;
      this.tell(partnerKey, { type: "partner_left", name: me.name, reason });
    }
    return partner?.name ?? null;
  }

  private markChatEnded(sid: string): void {
    const session = this.s.sessions.get(sid);
    if (!session) return;
    session.chatEndedAt = this.now;
    this.changed("sessions", sid);
  }

  private exit(sid: string, key: string): void {
    const partner = this.unpair(key, "exit");
    if (partner !== null) return this.send(sid, { type: "you_left", with: partner });
    const outgoing = this.s.outgoing.get(key);
    if (outgoing) this.error(sid, "nothing_to_exit", "exit_is_cancel", { to: this.s.users.get(outgoing)!.name });
    else this.error(sid, "nothing_to_exit", "nothing_to_exit");
  }

  private cancel(sid: string, session: Session, key: string): void {
    const shadow = this.s.shadows.get(key);
    if (shadow) {
      this.s.shadows.delete(key);
      this.touch(key);
      this.refuse(shadow.to, key);
      return this.send(sid, { type: "cancelled", to: this.s.users.get(shadow.to)?.name ?? shadow.to });
    }
    const target = this.s.outgoing.get(key);
    if (target) {
      this.dropRequest(target);
      this.refuse(target, key);
      const name = this.s.users.get(target)!.name;
      this.tell(target, { type: "request_ended", name: this.s.users.get(key)!.name, role: "received", reason: "withdrawn" });
      return this.send(sid, { type: "cancelled", to: name });
    }
    if (session.awaitingTarget) {
      this.setAwaiting(sid, session, false);
      return this.send(sid, { type: "cancelled", to: null });
    }
    this.error(sid, "nothing_to_cancel", "nothing_to_cancel");
  }

  private list(sid: string, key: string): void {
    // Sorted by name as people read it (case-folded), not by the look-alike key.
    const users: UserEntry[] = firstBy(this.s.users.entries(), LIST_LIMIT, ([, u]) => listOrderOf(u)).map(([k, u]) => ({
      name: u.name,
      status: statusOf(this.s, k),
    }));
    this.send(sid, { type: "users", you: this.s.users.get(key)!.name, users, total: this.s.users.size });
  }

  /** Homes: a user's record arrives from another home; a name already taken here (it cannot be) asks again. */
  arrive(sid: string, saved: SavedSession): void {
    const session: Session = { key: saved.key, awaitingTarget: saved.awaitingTarget, chatEndedAt: saved.chatEndedAt };
    if (saved.resumable) session.resumable = true;
    this.s.sessions.set(sid, session);
    this.changed("sessions", sid);
    const key = saved.key;
    if (!key) return;
    if (this.s.users.has(key)) {
      session.key = null;
      return this.send(sid, { type: "ask_name" });
    }
    const user = userFrom({ ...saved, name: saved.name ?? key }, sid);
    this.s.users.set(key, user);
    if (user.resume) this.s.resumes.set(user.resume, key);
    this.touch(key);
  }

  /** Homes: see Input `leave_for`. */
  leaveFor(sid: string, action: Action | undefined): void {
    const session = this.s.sessions.get(sid);
    if (!session) return;
    const key = session.key;
    if (!key) {
      // A socket that came to resume here and did not: it goes back, still to pick a name.
      if (action) return;
      this.s.sessions.delete(sid);
      this.changed("sessions", sid);
      const saved: SavedSession = { sid, key: null, awaitingTarget: session.awaitingTarget, chatEndedAt: session.chatEndedAt };
      if (session.resumable) saved.resumable = true;
      return void this.effects.push({ type: "moved", sid, saved });
    }
    const incoming = this.s.requests.get(key);
    if (action && incoming) this.answer(sid, key, false);
    if (!free(this.s, key)) {
      if (action) this.act(sid, action, undefined, { here: true });
      return;
    }
    const saved = { ...savedSession(this.s, sid)!, sid };
    const user = this.s.users.get(key)!;
    this.touch(key);
    this.s.sessions.delete(sid);
    this.s.users.delete(key);
    if (user.resume) this.s.resumes.delete(user.resume);
    this.effects.push({ type: "moved", sid, saved });
  }

  /**
   * The socket is gone (R12). Idempotent: a second call for the same socket does nothing. A user who may resume
   * and whose socket dropped (`resumable`) goes away instead of leaving (see goAway).
   */
  depart(sid: string, resumable = false): void {
    const session = this.s.sessions.get(sid);
    if (!session) return;
    this.s.sessions.delete(sid);
    this.changed("sessions", sid);
    const key = session.key;
    const me = key ? this.s.users.get(key) : undefined;
    if (!key || !me || me.sid !== sid) return;
    if (resumable && me.resume && this.config.resumeGraceMs > 0) return this.goAway(key);
    this.leave(key);
  }

  /**
   * The user lost its socket but may resume within the grace: its name, partner and requests stay (their
   * deadlines too); its partner is told it is waiting; what the user is told meanwhile is kept for it.
   */
  goAway(key: string): void {
    const me = this.s.users.get(key)!;
    me.sid = null;
    me.awayUntil = this.now + this.config.resumeGraceMs;
    this.changed("away", key);
    this.touch(key);
    if (me.peer) this.tell(me.peer, { type: "partner_away", name: me.name, graceMs: this.config.resumeGraceMs });
  }

  /** For restore: tell a user. */
  tellUser(key: string, event: ServerEvent): void {
    this.tell(key, event);
  }

  /** The user leaves for good (R12): its chat and requests end, everyone concerned is told, its name is free. */
  leave(key: string): void {
    const me = this.s.users.get(key)!;
    this.unpair(key, "disconnected");
    const incoming = this.dropRequest(key);
    if (incoming) this.tell(incoming.from, { type: "request_ended", name: me.name, role: "sent", reason: "offline" });
    const target = this.s.outgoing.get(key);
    if (target) {
      this.dropRequest(target);
      this.tell(target, { type: "request_ended", name: me.name, role: "received", reason: "offline" });
    }
    this.s.shadows.delete(key);
    // Whoever it blocked is told it went offline, as anyone asking it is.
    for (const [from, shadow] of [...this.s.shadows]) {
      if (shadow.to !== key) continue;
      this.s.shadows.delete(from);
      this.touch(from);
      this.tell(from, { type: "request_ended", name: me.name, role: "sent", reason: "offline" });
    }
    this.touch(key);
    if (me.resume) this.s.resumes.delete(me.resume);
    if (me.awayUntil !== undefined || me.missed) this.changed("away", key);
    this.s.users.delete(key);
  }

  expire(): void {
    for (const [from, shadow] of [...this.s.shadows]) {
      if (shadow.answerAt > this.now) continue;
      this.s.shadows.delete(from);
      this.touch(from);
      this.refuse(shadow.to, from);
      const to = this.s.users.get(shadow.to);
      if (to) this.tell(from, { type: "request_declined", by: to.name });
    }
    for (const [target, request] of [...this.s.requests]) {
      if (request.deadline > this.now) continue;
      this.dropRequest(target);
      this.refuse(target, request.from);
      const from = this.s.users.get(request.from);
      const to = this.s.users.get(target);
      if (from && to) {
        this.tell(request.from, { type: "request_ended", name: to.name, role: "sent", reason: "expired" });
        this.tell(target, { type: "request_ended", name: from.name, role: "received", reason: "expired" });
      }
    }
    for (const [key, user] of [...this.s.users]) if (user.awayUntil !== undefined && user.awayUntil <= this.now) this.leave(key);
  }
}

/** What is kept of a user besides its name and socket: in its socket's attachment, or its away row. */
export interface SavedUser {
  name: string;
  resume?: string;
  unavailable?: true;
  /** [key, display name] */
  blocked?: [string, string][];
  /** [requester key, until, strikes, at] */
  refused?: [string, number, number, number][];
  missed?: ServerEvent[];
}

/** What a live socket's attachment says of its session and its user, as the Lobby saved it. */
export interface SavedSession extends Session, Partial<SavedUser> {
  sid: string;
}

/**
 * A link as stored (see linkOf): the asked user `a` and the other `b`, with their names and credential hashes, so
 * that after a restart, when every socket is gone, both may still resume it.
 */
export interface LinkRow {
  a: string;
  b: string;
  chat: boolean;
  deadline: number;
  aName: string;
  bName: string;
  aResume: string | null;
  bResume: string | null;
}

/** A user who is away: it has no socket, so what is kept of it is stored until it resumes or its window ends. */
export interface AwayRow {
  key: string;
  until: number;
  user: SavedUser;
}

function savedUser(user: User): SavedUser {
  const saved: SavedUser = { name: user.name };
  if (user.resume) saved.resume = user.resume;
  if (user.unavailable) saved.unavailable = true;
  if (user.blocked?.size) saved.blocked = [...user.blocked];
  if (user.refused?.size) saved.refused = [...user.refused].map(([k, c]) => [k, c.until, c.strikes, c.at]);
  if (user.missed?.length) saved.missed = user.missed;
  return saved;
}

function userFrom(saved: SavedUser, sid: string | null): User {
  const user: User = { name: saved.name, sid, peer: null };
  if (saved.resume) user.resume = saved.resume;
  if (saved.unavailable) user.unavailable = true;
  if (saved.blocked) user.blocked = new Map(saved.blocked);
  if (saved.refused) user.refused = new Map(saved.refused.map(([k, until, strikes, at]) => [k, { until, strikes, at }]));
  if (saved.missed) user.missed = saved.missed;
  return user;
}

/** What to save of a socket's session and its user, or null when it has left. */
export function savedSession(state: State, sid: string): Omit<SavedSession, "sid"> | null {
  const session = state.sessions.get(sid);
  if (!session) return null;
  const user = session.key ? state.users.get(session.key) : undefined;
  const saved: Omit<SavedSession, "sid"> = { key: session.key, awaitingTarget: session.awaitingTarget, chatEndedAt: session.chatEndedAt };
  if (session.resumable) saved.resumable = true;
  return user ? { ...saved, ...savedUser(user), missed: undefined } : saved;
}

/** The row of link `id`, or null when it has none (see linkOf). */
export function linkRow(state: State, id: string): LinkRow | null {
  const link = linkOf(state, id);
  if (!link) return null;
  const a = state.users.get(link.a)!;
  const b = state.users.get(link.b)!;
  return { ...link, aName: a.name, bName: b.name, aResume: a.resume ?? null, bResume: b.resume ?? null };
}

/** The away row of user `key`, or null when it is not away. */
export function awayRow(state: State, key: string): AwayRow | null {
  const user = state.users.get(key);
  return user?.awayUntil !== undefined ? { key, until: user.awayUntil, user: savedUser(user) } : null;
}

/**
 * The state a woken Lobby starts from: sessions and who is logged in from the live sockets, who is away from the
 * away rows, chats and requests from the link rows (see `restore` for the users a link names who are neither).
 */
export function rebuild(
  saved: Iterable<SavedSession>,
  links: Iterable<LinkRow>,
  aways: Iterable<AwayRow>,
  now: number,
  config: RulesConfig,
): { state: State; result: StepResult } {
  const sessions = new Map<string, Session>();
  const users = new Map<string, User>();
  for (const s of saved) {
    const session: Session = { key: s.key, awaitingTarget: s.awaitingTarget, chatEndedAt: s.chatEndedAt };
    if (s.resumable) session.resumable = true;
    sessions.set(s.sid, session);
    if (s.key) users.set(s.key, userFrom({ ...s, name: s.name ?? s.key }, s.sid));
  }
  for (const row of aways) {
    if (users.has(row.key)) continue;
    const user = userFrom(row.user, null);
    user.awayUntil = row.until;
    users.set(row.key, user);
  }
  const requests = new Map<string, PendingRequest>();
  for (const row of links) {
    // A user a link names with neither a socket nor an away row lost its socket while the object was down (a
    // deploy, a crash): restore lets it resume, or departs it.
    for (const [key, name, resume] of [[row.a, row.aName, row.aResume], [row.b, row.bName, row.bResume]] as const) {
      if (!users.has(key)) users.set(key, resume ? { name, sid: null, peer: null, resume } : { name, sid: null, peer: null });
    }
    if (!row.chat) requests.set(row.a, { from: row.b, deadline: row.deadline });
    else {
      users.get(row.a)!.peer = row.b;
      users.get(row.a)!.host = true;
      users.get(row.b)!.peer = row.a;
    }
  }
  return restore(sessions, users, requests, now, config);
}

/** Homes: a user in no chat and no request, not away: it may move to another home (or back to its own). */
export function free(state: State, key: string): boolean {
  const user = state.users.get(key);
  return !!user && user.sid !== null && !user.peer && user.awayUntil === undefined && !state.requests.has(key) && !state.outgoing.has(key) && !state.shadows.has(key);
}

/** Homes: this home's part of a global `list`: its count, and its first `limit` users in list order (`order`). */
export function roster(state: State, limit: number): { total: number; users: (UserEntry & { order: string })[] } {
  const users = firstBy(state.users.entries(), limit, ([, u]) => listOrderOf(u)).map(([k, u]) => ({ name: u.name, status: statusOf(state, k), order: listOrderOf(u) }));
  return { total: state.users.size, users };
}

/** Someone is in a chat or has a request open: a silent socket there keeps a partner waiting. */
export function engaged(state: State): boolean {
  if (state.requests.size > 0) return true;
  for (const user of state.users.values()) if (user.peer) return true;
  return false;
}

/**
 * Rebuild after a wake or a restart: the users and requests from storage, the sessions from the live sockets'
 * attachments. A user with no socket and no away window (its socket was dropped while the object was down) is
 * away from now if it may resume, else departed like any closed socket, so no ghost stays online and no stale
 * request survives.
 */
export function restore(
  sessions: Map<string, Session>,
  users: Map<string, User>,
  requests: Map<string, PendingRequest>,
  now: number,
  config: RulesConfig,
): { state: State; result: StepResult } {
  const state: State = { users, requests, outgoing: new Map(), sessions, shadows: new Map(), requestBuckets: new Map(), resumes: new Map() };
  const t = new Turn(state, now, config);
  for (const [key, user] of users) if (user.resume) state.resumes.set(user.resume, key);
  for (const [target, r] of requests) {
    if (users.has(target) && users.has(r.from) && !state.outgoing.has(r.from)) {
      state.outgoing.set(r.from, target);
      continue;
    }
    requests.delete(target);
    t.changed("links", target);
    if (users.has(target)) t.tellUser(target, { type: "request_ended", name: r.from, role: "received", reason: "offline" });
  }
  for (const [sid, session] of sessions) {
    if (!session.key || users.get(session.key)?.sid === sid) continue;
    // A live socket whose user is missing (storage was lost): it has to pick its name again.
    session.key = null;
    t.changed("sessions", sid);
    t.send(sid, { type: "ask_name" });
  }
  for (const [key, user] of [...users]) {
    if (!users.has(key) || user.awayUntil !== undefined) continue;
    if (user.sid !== null && sessions.get(user.sid)?.key === key) continue;
    // Its socket was dropped while the object was down (a deploy, a crash): it may resume from now, or it leaves.
    user.sid = null;
    if (user.resume && config.resumeGraceMs > 0) t.goAway(key);
    else t.leave(key);
  }
  for (const [key, user] of users) {
    const partner = user.peer;
    if (partner && users.get(partner)?.peer !== key) {
      user.peer = null;
      delete user.host;
      t.changed("users", key);
      t.tellUser(key, { type: "partner_left", name: users.get(partner)?.name ?? partner, reason: "disconnected" });
    }
  }
  return { state, result: t.result() };
}
