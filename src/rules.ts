// The matchmaking rules: who may connect to whom and what each side is told.
// No sockets, storage or clocks: `step` takes the state, one input and the time, updates the state and returns
// the effects, so every rule (docs/RULES.md) is unit-tested directly and the Lobby only moves bytes.

import { type Config, type LimitsConfig, limitsOf } from "./config";
import { LIST_LIMIT, printable } from "../public/wire/protocol.js";
import type { Action, ErrorCode, RequestFailure, ServerEvent, Status, UserEntry } from "../public/wire/protocol.js";
import { checkName, foldName, nameKey } from "../public/wire/names.js";
import { type InputMode, type Sentence, inputMode as modeOf, say } from "../public/wire/text.js";
import { type Bucket, fullBucket, take } from "./rate-limit";

/** One logged-in user: who is online, on which socket, and with whom (R1, R3). */
export interface User {
  /** The name as the user typed it (NFKC), for display. */
  name: string;
  /** The socket the user is logged in on. */
  sid: string;
  /** Key of the chat partner, or null. */
  peer: string | null;
  /** Not taking requests (`away`): whoever asks is told so. */
  away?: boolean;
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
}

export type Input =
  | { type: "open"; sid: string }
  | { type: "action"; sid: string; action: Action }
  /** The socket closed, errored, failed a send or was swept (R12). */
  | { type: "gone"; sid: string }
  /** Time passed: expire the requests whose deadline is due. */
  | { type: "tick" };

export type Effect =
  | { type: "send"; sid: string; event: ServerEvent }
  | { type: "close"; sid: string; code: number; reason: string };

/** What a step changed, so the Lobby writes exactly that to storage and attachments. */
export interface Dirty {
  /**
   * Users whose chat partner changed: the only part of a user that goes to storage (who is logged in where is in
   * the sockets' attachments), so logging in or out without a chat writes no row.
   */
  users: ReadonlySet<string>;
  requests: ReadonlySet<string>;
  sessions: ReadonlySet<string>;
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
export type RulesConfig = Pick<Config, "requestTimeoutMs" | "requestsPerMinute" | "requestCooldownsMs"> & LimitsConfig;

export function emptyState(): State {
  return { users: new Map(), requests: new Map(), outgoing: new Map(), sessions: new Map(), shadows: new Map(), requestBuckets: new Map() };
}

export function statusOf(state: State, key: string): Status {
  const user = state.users.get(key);
  if (user?.peer) return "busy";
  if (state.requests.has(key) || state.outgoing.has(key) || state.shadows.has(key)) return "pending";
  return user?.away ? "unavailable" : "available";
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
export function relay(state: State, sid: string, text: string): { sid: string; event: ServerEvent } | null {
  const route = chatRoute(state, sid);
  if (!route || text.trim() === "") return null;
  return { sid: route.to, event: { type: "message", from: route.from, text } };
}

/**
 * Where this socket's chat lines go, and under which name: null outside a chat. It changes only when a step
 * changes something, so the Lobby keeps it per socket between steps.
 */
export function chatRoute(state: State, sid: string): { to: string; from: string } | null {
  const key = state.sessions.get(sid)?.key;
  const me = key ? state.users.get(key) : undefined;
  const partner = me?.peer ? state.users.get(me.peer) : undefined;
  return me && partner ? { to: partner.sid, from: me.name } : null;
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

/** The earliest request deadline (or answer to a blocked requester), or null when nothing is pending. */
export function nextDeadline(state: State): number | null {
  let next: number | null = null;
  for (const r of state.requests.values()) if (next === null || r.deadline < next) next = r.deadline;
  for (const r of state.shadows.values()) if (next === null || r.answerAt < next) next = r.answerAt;
  return next;
}

export function step(state: State, input: Input, now: number, config: RulesConfig): StepResult {
  const t = new Turn(state, now, config);
  switch (input.type) {
    case "open":
      state.sessions.set(input.sid, { key: null, awaitingTarget: false });
      t.changed("sessions", input.sid);
      t.send(input.sid, { type: "ask_name" });
      break;
    case "action":
      if (state.sessions.has(input.sid)) t.act(input.sid, input.action);
      break;
    case "gone":
      t.depart(input.sid);
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
  private dirty?: { users?: Set<string>; requests?: Set<string>; sessions?: Set<string> };
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
      dirty: { users: d?.users ?? NOTHING, requests: d?.requests ?? NOTHING, sessions: d?.sessions ?? NOTHING },
      touched: this.touched ?? NOBODY,
    };
  }

  send(sid: string, event: ServerEvent): void {
    this.effects.push({ type: "send", sid, event });
  }

  private tell(key: string, event: ServerEvent): void {
    const user = this.s.users.get(key);
    if (user) this.send(user.sid, event);
  }

  /** Note a possible status change, with the name to announce it under (read now: the user may be leaving). */
  private touch(key: string): void {
    const user = this.s.users.get(key);
    if (user) (this.touched ??= new Map()).set(key, user.name);
  }

  private error(sid: string, code: ErrorCode, sentence: Sentence, fields?: Record<string, string>): void {
    this.send(sid, { type: "error", code, message: say(sentence, fields) });
  }

  act(sid: string, action: Action): void {
    const session = this.s.sessions.get(sid)!;
    if (action.type === "help") return this.send(sid, { type: "help" });
    if (action.type === "quit") {
      this.send(sid, { type: "bye" });
      this.effects.push({ type: "close", sid, code: 1000, reason: "bye" });
      return this.depart(sid);
    }
    if (action.type === "invalid") return this.invalid(sid, session, action.code, action.message);
    // The Lobby answers checks itself (src/unread.ts): they concern the socket, not the matchmaking.
    if (action.type === "checked") return;
    // A typing notice is a hint, never worth an error: outside a chat it simply goes nowhere.
    if (action.type === "typing") return session.key ? this.typing(session.key) : undefined;
    if (!session.key) {
      if (action.type === "login") return this.login(sid, session, action.name);
      return this.error(sid, "not_logged_in", "not_logged_in");
    }
    const key = session.key;
    switch (action.type) {
      case "login":
        return this.error(sid, "already_logged_in", "already_logged_in", { name: this.s.users.get(key)!.name });
      case "connect":
        return this.connect(sid, session, key, action.to);
      case "answer":
        return this.answer(sid, key, action.accept);
      case "say":
        return this.say(sid, key, action.text);
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

  /** A user's own data changed (blocks, refusals, away): it is saved with its socket's attachment. */
  private changedUser(key: string): void {
    const user = this.s.users.get(key);
    if (user) this.changed("sessions", user.sid);
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
    const partner = me.peer ? this.s.users.get(me.peer) : undefined;
    if (partner) this.send(partner.sid, { type: "typing", from: me.name });
  }

  private setAway(sid: string, key: string, away: boolean): void {
    const me = this.s.users.get(key)!;
    if (!!me.away !== away) {
      me.away = away;
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

  private login(sid: string, session: Session, raw: string): void {
    const check = checkName(raw);
    if (!check.ok) {
      this.send(sid, { type: "name_rejected", name: check.name, reason: "invalid", detail: check.detail });
      return this.send(sid, { type: "ask_name" });
    }
    const holder = this.s.users.get(check.key);
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
    this.s.users.set(check.key, { name: check.name, sid, peer: null });
    session.key = check.key;
    this.changed("sessions", sid);
    this.touch(check.key);
    this.send(sid, { type: "welcome", name: check.name, limits: limitsOf(this.config) });
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
    const targetSession = this.s.sessions.get(target.sid);
    if (targetSession) this.setAwaiting(target.sid, targetSession, false);
    this.s.requests.set(targetKey!, { from: key, deadline: this.now + this.config.requestTimeoutMs });
    this.s.outgoing.set(key, targetKey!);
    this.changed("requests", targetKey!);
    this.touch(key);
    this.touch(targetKey!);
    this.send(target.sid, { type: "incoming_request", from: me.name, expiresInMs });
    this.send(sid, { type: "request_sent", to: target.name, expiresInMs });
  }

  private dropRequest(target: string): PendingRequest | undefined {
    const request = this.s.requests.get(target);
    if (!request) return undefined;
    this.s.requests.delete(target);
    this.s.outgoing.delete(request.from);
    this.changed("requests", target);
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
      this.send(requester.sid, { type: "request_declined", by: me.name });
      return this.send(sid, { type: "you_declined", from: requester.name });
    }
    me.peer = request.from;
    requester.peer = key;
    this.changed("users", key, request.from);
    this.send(requester.sid, { type: "connected", with: me.name });
    this.send(sid, { type: "connected", with: requester.name });
  }

  private say(sid: string, key: string, text: string): void {
    const delivery = relay(this.s, sid, text);
    if (delivery) return this.send(delivery.sid, delivery.event);
    if (!this.s.users.get(key)!.peer) {
      return this.error(sid, "not_in_chat", "not_in_chat");
    }
    this.error(sid, "empty_message", "empty_message");
  }

  /** Ends `key`'s chat, if any; the partner is told once, with the reason. */
  private unpair(key: string, reason: "exit" | "disconnected"): string | null {
    const me = this.s.users.get(key);
    const partner = me?.peer ? this.s.users.get(me.peer) : undefined;
    if (!me?.peer) return null;
    const partnerKey = me.peer;
    me.peer = null;
    this.changed("users", key, partnerKey);
    this.touch(key);
    this.touch(partnerKey);
    // Only the partner was caught mid-sentence; whoever ended the chat knows it did.
    if (partner) this.markChatEnded(partner.sid);
    if (partner?.peer === key) {
      partner.peer = null;
      this.send(partner.sid, { type: "partner_left", name: me.name, reason });
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

  /** Case 4: the socket is gone. Idempotent: a second call for the same socket does nothing. */
  depart(sid: string): void {
    const session = this.s.sessions.get(sid);
    if (!session) return;
    this.s.sessions.delete(sid);
    this.changed("sessions", sid);
    const key = session.key;
    const me = key ? this.s.users.get(key) : undefined;
    if (!key || !me || me.sid !== sid) return;
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
        this.send(from.sid, { type: "request_ended", name: to.name, role: "sent", reason: "expired" });
        this.send(to.sid, { type: "request_ended", name: from.name, role: "received", reason: "expired" });
      }
    }
  }
}

/** What a live socket's attachment says of its session and its user, as the Lobby saved it. */
export interface SavedSession extends Session {
  sid: string;
  /** The display name, once logged in. */
  name?: string;
  away?: boolean;
  /** [key, display name] */
  blocked?: [string, string][];
  /** [requester key, until, strikes, at] */
  refused?: [string, number, number, number][];
}

/** What to save of a socket's session and its user (undefined fields are left out), or null when it has left. */
export function savedSession(state: State, sid: string): Omit<SavedSession, "sid"> | null {
  const session = state.sessions.get(sid);
  if (!session) return null;
  const user = session.key ? state.users.get(session.key) : undefined;
  return {
    key: session.key,
    name: user?.name,
    awaitingTarget: session.awaitingTarget,
    chatEndedAt: session.chatEndedAt,
    away: user?.away || undefined,
    blocked: user?.blocked?.size ? [...user.blocked] : undefined,
    refused: user?.refused?.size ? [...user.refused].map(([k, c]) => [k, c.until, c.strikes, c.at]) : undefined,
  };
}

/**
 * The state a woken Lobby starts from: sessions and who is logged in from the live sockets, chat pairs and
 * pending requests from storage (see `restore` for what is done with rows whose sockets are gone).
 */
export function rebuild(
  saved: Iterable<SavedSession>,
  peers: Iterable<{ key: string; peer: string }>,
  requests: Map<string, PendingRequest>,
  now: number,
  config: RulesConfig,
): { state: State; result: StepResult } {
  const sessions = new Map<string, Session>();
  const users = new Map<string, User>();
  for (const s of saved) {
    sessions.set(s.sid, { key: s.key, awaitingTarget: s.awaitingTarget, chatEndedAt: s.chatEndedAt });
    if (!s.key) continue;
    const user: User = { name: s.name ?? s.key, sid: s.sid, peer: null };
    if (s.away) user.away = true;
    if (s.blocked) user.blocked = new Map(s.blocked);
    if (s.refused) user.refused = new Map(s.refused.map(([k, until, strikes, at]) => [k, { until, strikes, at }]));
    users.set(s.key, user);
  }
  for (const row of peers) {
    const user = users.get(row.key);
    if (user) user.peer = row.peer;
    // Its socket is gone (a deploy or crash dropped it while the object was down): restore departs it.
    else users.set(row.key, { name: row.key, sid: `gone:${row.key}`, peer: row.peer });
  }
  return restore(sessions, users, requests, now, config);
}

/** Someone is in a chat or has a request open: a silent socket there keeps a partner waiting. */
export function engaged(state: State): boolean {
  if (state.requests.size > 0) return true;
  for (const user of state.users.values()) if (user.peer) return true;
  return false;
}

/**
 * Rebuild after a wake or a restart: the users and requests from storage, the sessions from the live sockets'
 * attachments. Rows whose socket is gone (a deploy or crash closed it while the object was down) are departed
 * like any closed socket, so no ghost stays online and no stale request survives.
 */
export function restore(
  sessions: Map<string, Session>,
  users: Map<string, User>,
  requests: Map<string, PendingRequest>,
  now: number,
  config: RulesConfig,
): { state: State; result: StepResult } {
  const state: State = { users, requests, outgoing: new Map(), sessions, shadows: new Map(), requestBuckets: new Map() };
  const t = new Turn(state, now, config);
  for (const [target, r] of requests) {
    if (users.has(target) && users.has(r.from) && !state.outgoing.has(r.from)) {
      state.outgoing.set(r.from, target);
      continue;
    }
    requests.delete(target);
    t.changed("requests", target);
    const to = users.get(target);
    if (to) t.send(to.sid, { type: "request_ended", name: r.from, role: "received", reason: "offline" });
  }
  for (const [key, user] of users) {
    if (sessions.get(user.sid)?.key === key) continue;
    // Depart the ghost through a session of its own (never a live socket's), so its partner and requests are
    // told like any departure.
    const ghost = `ghost:${key}`;
    user.sid = ghost;
    sessions.set(ghost, { key, awaitingTarget: false });
    t.depart(ghost);
  }
  for (const [sid, session] of sessions) {
    if (!session.key || users.get(session.key)?.sid === sid) continue;
    // A live socket whose user row is missing (storage was lost): it has to pick its name again.
    session.key = null;
    t.changed("sessions", sid);
    t.send(sid, { type: "ask_name" });
  }
  for (const [key, user] of users) {
    const partner = user.peer;
    if (partner && users.get(partner)?.peer !== key) {
      user.peer = null;
      t.changed("users", key);
      t.send(user.sid, { type: "partner_left", name: users.get(partner)?.name ?? partner, reason: "disconnected" });
    }
  }
  return { state, result: t.result() };
}
