// Random scenarios over up to 8 sockets, and the invariants the matchmaking rules must keep after every step.
// Shared by the property tests of the pure rules and the model-vs-sockets test against the worker.

import fc from "fast-check";
import type { Action, ServerEvent } from "../../public/wire/protocol.js";
import { nameKey } from "../../public/wire/names.js";
import type { State, StepResult } from "../../src/rules";

export const SLOTS = 8;

/** Names chosen to collide: case, NFKC (fullwidth), a prototype key, and invalid ones. */
export const NAMES = ["alice", "Alice", "bob", "BOB", "carol", "dave", "eve", "ｅｖｅ", "__proto__", "x y", ""];

export type Command =
  | { kind: "open"; slot: number }
  /**
   * `pick` chooses among the sockets for which the action makes sense (those being asked for `answer`, those in a
   * chat for `say` and `exit`, …) so that random scenarios reach deep states; `stray` sends it to any socket
   * instead, to exercise actions in the wrong state.
   */
  | { kind: "act"; pick: number; stray: boolean; action: Action }
  /** The socket closes, errors or drops (odd `pick`: closed for cause, which may not be resumed). */
  | { kind: "gone"; pick: number }
  /** A new socket in `slot` resumes a session, with one of the credentials handed out so far (maybe a stale one). */
  | { kind: "resume"; slot: number; pick: number }
  /** Enough time passes for every pending request to expire. */
  | { kind: "tick" };

const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const pick = fc.nat({ max: 1000 });
const name = fc.constantFrom(...NAMES);

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: name.map((n): Action => ({ type: "login", name: n })) },
  { weight: 5, arbitrary: name.map((n): Action => ({ type: "connect", to: n })) },
  { weight: 1, arbitrary: fc.constant<Action>({ type: "connect" }) },
  { weight: 4, arbitrary: fc.boolean().map((accept): Action => ({ type: "answer", accept })) },
  { weight: 4, arbitrary: fc.constantFrom("hi", "how are you?", "exit now", " ").map((text): Action => ({ type: "say", text })) },
  { weight: 2, arbitrary: fc.constant<Action>({ type: "exit" }) },
  { weight: 2, arbitrary: fc.constant<Action>({ type: "cancel" }) },
  { weight: 1, arbitrary: fc.constant<Action>({ type: "list" }) },
  { weight: 1, arbitrary: fc.constant<Action>({ type: "quit" }) },
  { weight: 1, arbitrary: name.map((n): Action => ({ type: "block", name: n })) },
  { weight: 1, arbitrary: name.map((n): Action => ({ type: "unblock", name: n })) },
  { weight: 2, arbitrary: fc.constant<Action>({ type: "typing" }) },
  { weight: 1, arbitrary: fc.constantFrom<Action>({ type: "away" }, { type: "back" }, { type: "blocked" }) },
);

export const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: slot.map((s): Command => ({ kind: "open", slot: s })) },
  {
    weight: 14,
    arbitrary: fc
      .record({ pick, stray: fc.nat({ max: 4 }).map((n) => n === 0), action })
      .map((c): Command => ({ kind: "act", ...c })),
  },
  { weight: 2, arbitrary: pick.map((p): Command => ({ kind: "gone", pick: p })) },
  { weight: 2, arbitrary: fc.record({ slot, pick }).map((c): Command => ({ kind: "resume", ...c })) },
  { weight: 1, arbitrary: fc.constant<Command>({ kind: "tick" }) },
);

export const scenario = (maxLength: number) =>
  fc.array(command, { minLength: Math.min(10, maxLength), maxLength, size: "max" });

/**
 * Where a command goes, given the open sockets and the state: the socket among those for which the action makes
 * sense (unless the command is stray), and for a `connect` with a name, someone else who is online. Null when no
 * socket is open.
 */
export function resolve(
  c: Exclude<Command, { kind: "open" } | { kind: "tick" } | { kind: "resume" }>,
  open: string[],
  state: State,
): { sid: string; action: Action | null } | null {
  if (open.length === 0) return null;
  const keyOf = (sid: string) => state.sessions.get(sid)?.key ?? null;
  const fits = (sid: string): boolean => {
    if (c.kind === "gone" || c.stray) return true;
    const key = keyOf(sid);
    switch (c.action.type) {
      case "login":
        return key === null;
      case "answer":
        return key !== null && state.requests.has(key);
      case "say":
      case "exit":
      case "typing":
        return key !== null && state.users.get(key)?.peer != null;
      case "cancel":
        return key !== null && (state.outgoing.has(key) || state.shadows.has(key));
      default:
        return key !== null;
    }
  };
  const candidates = open.filter(fits);
  const from = candidates.length > 0 ? candidates : open;
  const sid = from[c.pick % from.length]!;
  if (c.kind === "gone") return { sid, action: null };
  let action = c.action;
  const others = [...state.users.values()].filter((u) => u.sid !== sid).map((u) => u.name);
  const other = others[Math.floor(c.pick / 7) % Math.max(1, others.length)];
  if (action.type === "connect" && action.to !== undefined && !c.stray && other) action = { type: "connect", to: other };
  if ((action.type === "block" || action.type === "unblock") && !c.stray && other) action = { type: action.type, name: other };
  return { sid, action };
}

/**
 * The relations a user can lose: each must be announced exactly once to whoever is still there. A request to
 * someone who blocked the requester (a shadow) is announced to the requester only.
 */
function relations(state: State): { pairs: Set<string>; requests: Set<string>; shadows: Set<string> } {
  const pairs = new Set<string>();
  for (const [key, user] of state.users) if (user.peer && key < user.peer) pairs.add(`${key}|${user.peer}`);
  const requests = new Set<string>();
  for (const [target, r] of state.requests) requests.add(`${r.from}>${target}`);
  const shadows = new Set<string>();
  for (const [from, shadow] of state.shadows) shadows.add(`${from}>${shadow.to}`);
  return { pairs, requests, shadows };
}

export type Snapshot = ReturnType<typeof snapshot>;

/** What the invariants need from the state before a step (sids of users, relations). */
export function snapshot(state: State) {
  return {
    ...relations(state),
    sessions: new Set(state.sessions.keys()),
    sidOf: new Map([...state.users].map(([key, user]) => [key, user.sid])),
    missedOf: new Map([...state.users].map(([key, user]) => [key, user.missed?.length ?? 0])),
    peerOf: new Map([...state.users].map(([key, user]) => [key, user.peer])),
  };
}

const PAIR_END = new Set(["partner_left", "you_left"]);
const REQUEST_END = new Set(["request_declined", "you_declined", "connected", "request_ended", "cancelled"]);

/** Throws with a reason when the state or this step's effects break an invariant. */
export function checkInvariants(before: Snapshot, state: State, result: StepResult, actor?: string): void {
  const fail = (why: string) => {
    throw new Error(`invariant broken: ${why}`);
  };
  // Names are unique after normalisation, and each user's key is its name's key.
  for (const [key, user] of state.users) {
    if (nameKey(user.name) !== key) fail(`user ${key} has name ${user.name}`);
    if (user.sid === null ? user.awayUntil === undefined : state.sessions.get(user.sid)?.key !== key) fail(`user ${key} is not logged in on its socket, nor away`);
  }
  // A session is never in two places: one socket a user at most, and an away user has none.
  const sessionKeys = [...state.sessions.values()].map((s) => s.key).filter((k) => k !== null);
  if (new Set(sessionKeys).size !== sessionKeys.length) fail("two sockets share a user");
  for (const [sid, session] of state.sessions) if (session.key && state.users.get(session.key)?.sid !== sid) fail(`${sid} holds ${session.key}, whose socket is elsewhere`);
  // Nothing is sent to a socket that is not there (an away user's events are kept, never sent).
  for (const effect of result.effects) {
    if (effect.type === "send" && !before.sessions.has(effect.sid) && !state.sessions.has(effect.sid)) fail(`sent to ${effect.sid}, which is not a socket`);
  }
  // Pairs are symmetric.
  for (const [key, user] of state.users) {
    if (user.peer !== null && state.users.get(user.peer)?.peer !== key) fail(`${key} -> ${user.peer} is not mutual`);
  }
  // Every request points at two online users; the outgoing index matches; nobody is two things at once.
  if (state.outgoing.size !== state.requests.size) fail("outgoing index size differs from requests");
  for (const [target, r] of state.requests) {
    if (!state.users.has(target) || !state.users.has(r.from)) fail(`request ${r.from}>${target} has an offline side`);
    if (state.outgoing.get(r.from) !== target) fail(`outgoing index misses ${r.from}>${target}`);
  }
  for (const key of state.users.keys()) {
    const roles = [state.users.get(key)!.peer !== null, state.requests.has(key), state.outgoing.has(key) || state.shadows.has(key)];
    if (roles.filter(Boolean).length > 1) fail(`${key} is in more than one of chatting/requested/requesting`);
    if (state.outgoing.has(key) && state.shadows.has(key)) fail(`${key} has two requests out`);
  }
  // A blocked pair is never connected, and neither sees a request from the other.
  const blocks = (a: string, b: string) => !!state.users.get(a)?.blocked?.has(b);
  for (const [key, user] of state.users) {
    if (user.peer && (blocks(key, user.peer) || blocks(user.peer, key))) fail(`${key} chats with ${user.peer} across a block`);
  }
  for (const [target, r] of state.requests) if (blocks(target, r.from) || blocks(r.from, target)) fail(`request ${r.from}>${target} across a block`);
  for (const effect of result.effects) {
    if (effect.type !== "send" || effect.event.type !== "incoming_request") continue;
    const target = [...before.sidOf].find(([, sid]) => sid === effect.sid)?.[0];
    if (target && blocks(target, nameKey(effect.event.from))) fail(`${target} was asked by ${effect.event.from}, whom it blocked`);
  }
  // Messages only ever go to the sender's partner (as it was when the message was sent).
  const actorKey = actor ? [...before.sidOf].find(([, sid]) => sid === actor)?.[0] : undefined;
  for (const effect of result.effects) {
    if (effect.type !== "send" || effect.event.type !== "message") continue;
    const partner = actorKey ? before.peerOf.get(actorKey) : undefined;
    if (!partner || before.sidOf.get(partner) !== effect.sid) fail(`a message went to ${effect.sid}, not the partner`);
  }
  // Every pair or request that ended is announced exactly once to each side still online.
  const after = relations(state);
  // Told: sent to its socket, or, for a user who is away, kept among what it missed.
  const told = (key: string, kinds: Set<string>) => {
    const sid = before.sidOf.get(key);
    const sent = result.effects.filter((e) => e.type === "send" && e.sid === sid && kinds.has(e.event.type) && !isAck(e.event)).length;
    const kept = (state.users.get(key)?.missed ?? []).slice(before.missedOf.get(key) ?? 0).filter((e) => kinds.has(e.type) && !isAck(e)).length;
    return sent + kept;
  };
  for (const pair of before.pairs) {
    if (after.pairs.has(pair)) continue;
    for (const key of pair.split("|")) if (state.users.has(key) && told(key, PAIR_END) !== 1) fail(`${key} not told once that ${pair} ended`);
  }
  for (const request of before.requests) {
    if (after.requests.has(request)) continue;
    for (const key of request.split(">")) {
      if (state.users.has(key) && told(key, REQUEST_END) !== 1) fail(`${key} not told once that ${request} ended`);
    }
  }
  for (const shadow of before.shadows) {
    if (after.shadows.has(shadow)) continue;
    const [from, to] = shadow.split(">") as [string, string];
    if (state.users.has(from) && told(from, REQUEST_END) !== 1) fail(`${from} not told once that ${shadow} ended`);
    const toSid = before.sidOf.get(to);
    const heard = result.effects.some(
      (e) => e.type === "send" && e.sid === toSid && REQUEST_END.has(e.event.type) && Object.values(e.event).some((v) => typeof v === "string" && nameKey(v) === from),
    );
    if (heard && !before.requests.has(`${to}>${from}`)) fail(`${to}, who blocked, heard of ${shadow}`);
  }
}

/**
 * Who was refused by whom and when, followed across steps from what the requesters were told, independently of
 * the rules' own bookkeeping: no request may reach the same person again within the first cooldown, however the
 * requester spells the name, withdraws, or reconnects (a refusal is kept by name).
 */
export class Refusals {
  private readonly at = new Map<string, number>();

  constructor(private readonly firstWaitMs: number) {}

  /** Throws when this step made a request that an earlier refusal forbids, then records this step's refusals. */
  check(before: Snapshot, state: State, result: StepResult, now: number): void {
    const keyOfSid = new Map([...before.sidOf].map(([key, sid]) => [sid, key]));
    const made = [...state.requests].map(([target, r]) => `${r.from}>${target}`).filter((r) => !before.requests.has(r));
    made.push(...[...state.shadows].map(([from, s]) => `${from}>${s.to}`).filter((r) => !before.shadows.has(r)));
    for (const request of made) {
      const refused = this.at.get(request);
      if (refused !== undefined && now < refused + this.firstWaitMs) {
        throw new Error(`invariant broken: ${request} asked again ${now - refused} ms after a refusal`);
      }
    }
    for (const effect of result.effects) {
      if (effect.type !== "send") continue;
      const requester = keyOfSid.get(effect.sid);
      const e = effect.event;
      const target =
        e.type === "request_declined" ? e.by : e.type === "cancelled" ? e.to : e.type === "request_ended" && e.role === "sent" && e.reason === "expired" ? e.name : null;
      if (requester && target) this.at.set(`${requester}>${nameKey(target)}`, now);
    }
    // A refusal belongs to the target's session: when the target leaves, it goes with it.
    for (const key of before.sidOf.keys()) {
      if (state.users.has(key)) continue;
      for (const request of this.at.keys()) if (request.endsWith(`>${key}`)) this.at.delete(request);
    }
  }
}

/** A `cancelled` without a target is the name prompt being left, not a request ending. */
function isAck(event: ServerEvent): boolean {
  return event.type === "cancelled" && event.to === null;
}
