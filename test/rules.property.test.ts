// Property tests: random interleavings of logins, requests, answers, chats, exits, cancels, expiries and
// departures for up to 8 sockets never break the matchmaking invariants (see test/support/scenarios.ts).

import { env } from "cloudflare:test";
import fc from "fast-check";
import { DEFAULT_CONFIG } from "../src/config";
import { describe, expect, it } from "vitest";
import { type Input, emptyState, firstBy, nextDeadline, step } from "../src/rules";
import { type Command, Refusals, SLOTS, checkInvariants, resolve, scenario, snapshot } from "./support/scenarios";

const CONFIG = DEFAULT_CONFIG;
const RUNS = Number(env.FUZZ_RUNS) > 0 ? Number(env.FUZZ_RUNS) : 500;
/** Fixed by default so CI is repeatable; FUZZ_SEED=random (or a number) explores other scenarios. */
const SEED = env.FUZZ_SEED === "random" ? Date.now() : Number(env.FUZZ_SEED) || 20261126;

/** Runs a scenario through the rules, checking the invariants after every step. */
function play(commands: Command[], stats?: Stats): void {
  const state = emptyState();
  const sids: (string | null)[] = Array(SLOTS).fill(null);
  let generation = 0;
  let now = 1_700_000_000_000;
  const refusals = new Refusals(CONFIG.requestCooldownsMs[0]!);
  /** Every credential handed out, in order: a resume may use any of them, most of them stale. */
  const tokens: string[] = [];
  const steps: Input[] = [];
  for (const c of commands) {
    // Time passes between steps too, so that cooldowns run out now and then, and not always.
    now += 1000;
    steps.length = 0;
    if (c.kind === "tick") {
      now += CONFIG.requestTimeoutMs + 1;
      steps.push({ type: "tick" });
    } else if (c.kind === "open" || c.kind === "resume") {
      if (sids[c.slot]) continue;
      const sid = `s${c.slot}.${generation++}`;
      sids[c.slot] = sid;
      // Every socket here may resume, as a JSON client's does.
      steps.push({ type: "open", sid, resumable: true });
      const token = tokens[c.kind === "resume" ? c.pick % Math.max(1, tokens.length) : 0];
      if (c.kind === "resume" && token) steps.push({ type: "action", sid, action: { type: "resume", token }, fresh: `t${generation}` });
    } else {
      const resolved = resolve(c, sids.filter((x): x is string => x !== null), state);
      if (!resolved) continue;
      const { sid, action } = resolved;
      steps.push(action ? { type: "action", sid, action, fresh: `t${generation++}` } : { type: "gone", sid, resumable: c.pick % 2 === 0 });
      if (!action || action.type === "quit") sids[sids.indexOf(sid)] = null;
    }
    for (const input of steps) {
      const before = snapshot(state);
      const result = step(state, input, now, CONFIG);
      for (const e of result.effects) {
        if (e.type === "send" && (e.event.type === "welcome" || e.event.type === "resumed") && e.event.resume) tokens.push(e.event.resume.token);
        // A socket the rules closed (a session resumed elsewhere) is gone from its slot.
        if (e.type === "close" && sids.includes(e.sid)) sids[sids.indexOf(e.sid)] = null;
      }
      check(before, input, result);
    }
  }

  function check(before: ReturnType<typeof snapshot>, input: Input, result: ReturnType<typeof step>): void {
    checkInvariants(before, state, result, "sid" in input ? input.sid : undefined);
    refusals.check(before, state, result, now);
    // Expiry is complete: after a tick nothing is overdue.
    if (input.type === "tick") expect(nextDeadline(state) === null || nextDeadline(state)! > now).toBe(true);
    if (stats) for (const e of result.effects) if (e.type === "send") stats.events.add(e.event.type);
  }
}

interface Stats {
  events: Set<string>;
}

describe("matchmaking invariants under random scenarios", () => {
  it(`hold for ${RUNS} random scenarios of up to 60 steps, which reach every kind of event`, () => {
    const stats: Stats = { events: new Set() };
    fc.assert(fc.property(scenario(60), (commands) => play(commands, stats)), { numRuns: RUNS, seed: SEED });
    // The generator reaches deep states (chats, answers, expiries, departures), not just failed logins.
    for (const type of [
      "connected", "message", "partner_left", "you_left", "request_declined", "request_ended", "cancelled", "blocked", "typing",
      "availability", "partner_away", "partner_back", "resumed", "resume_failed",
    ]) {
      expect(stats.events).toContain(type);
    }
  });

  it("are checked for real: a broken rule is caught", () => {
    // Guard against a checker that passes everything: corrupt a pair and expect the checker to object.
    const state = emptyState();
    step(state, { type: "open", sid: "a" }, 0, CONFIG);
    step(state, { type: "action", sid: "a", action: { type: "login", name: "alice" } }, 0, CONFIG);
    const before = snapshot(state);
    state.users.get("alice")!.peer = "bob";
    expect(() => checkInvariants(before, state, { effects: [], dirty: { users: new Set(), links: new Set(), sessions: new Set(), away: new Set() }, touched: new Map() })).toThrow(
      /not mutual/,
    );
  });
});

describe("the new invariants are checked for real", () => {
  const nothing = { effects: [], dirty: { users: new Set<string>(), links: new Set<string>(), sessions: new Set<string>(), away: new Set<string>() }, touched: new Map() };
  const two = () => {
    const state = emptyState();
    for (const [sid, name] of [["a", "alice"], ["b", "bob"]] as const) {
      step(state, { type: "open", sid }, 0, CONFIG);
      step(state, { type: "action", sid, action: { type: "login", name } }, 0, CONFIG);
    }
    return state;
  };

  it("objects to a chat across a block", () => {
    const state = two();
    const before = snapshot(state);
    state.users.get("alice")!.peer = "bob";
    state.users.get("bob")!.peer = "alice";
    state.users.get("bob")!.blocked = new Map([["alice", "alice"]]);
    expect(() => checkInvariants(before, state, nothing)).toThrow(/across a block/);
  });

  it("objects to a request made again within the cooldown, and not to one after it", () => {
    const state = two();
    const refusals = new Refusals(30_000);
    const declined = step(state, { type: "action", sid: "a", action: { type: "connect", to: "bob" } }, 0, CONFIG);
    refusals.check(snapshot(emptyState()), state, declined, 0);
    let before = snapshot(state);
    refusals.check(before, state, step(state, { type: "action", sid: "b", action: { type: "answer", accept: false } }, 0, CONFIG), 0);
    before = snapshot(state);
    // Forge what a broken rule would do: the request made again at once.
    state.requests.set("bob", { from: "alice", deadline: 60_000 });
    state.outgoing.set("alice", "bob");
    expect(() => refusals.check(before, state, nothing, 1000)).toThrow(/asked again 1000 ms after a refusal/);
    expect(() => refusals.check(before, state, nothing, 30_000)).not.toThrow();
  });
});

describe("firstBy, which picks the names `list` shows", () => {
  it("returns what sorting everything and taking the first `limit` would", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 60 }), fc.integer({ min: 0, max: 70 }), (keys, limit) => {
        const items = keys.map((key, i) => ({ key, i }));
        const expected = [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, limit);
        expect(firstBy(items, limit, (item) => item.key)).toEqual(expected);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
