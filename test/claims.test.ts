// The directory's rules over claims, without a runtime: who may take, renew and release a name key, and the lease
// rule that keeps a name on one home at a time however calls and replies interleave.

import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nameKey } from "../public/wire/names.js";
import { fnv1a } from "../public/wire/shard.js";
import {
  type Claim,
  MAX_RENEW_KEYS,
  badClaim,
  badHome,
  badKey,
  badKeys,
  claim,
  directoryName,
  leaseEnd,
  live,
  lookup,
  release,
  renew,
  shardOf,
} from "../src/claims";

const LEASE = 90_000;
const RUNS = Number(env.FUZZ_RUNS) > 0 ? Number(env.FUZZ_RUNS) : 500;
const SEED = env.FUZZ_SEED === "random" ? Date.now() : Number(env.FUZZ_SEED) || 20261202;

const row = (key: string, home: string, expires: number, name = key): Claim => ({ key, name, home, expires });

describe("claim", () => {
  it("grants a free key for one lease", () => {
    expect(claim(null, "alice", "Alice", "home-0", 1000, LEASE)).toEqual({ ok: true, row: row("alice", "home-0", 1000 + LEASE, "Alice") });
  });

  it("refuses a key another home holds, naming the holder", () => {
    expect(claim(row("alice", "home-0", 5000), "alice", "alice", "home-1", 4999, LEASE)).toEqual({ ok: false, holder: "home-0" });
  });

  it("renews the holder's own claim, with the name it gives now", () => {
    expect(claim(row("alice", "home-0", 5000), "alice", "ALICE", "home-0", 4000, LEASE)).toEqual({
      ok: true,
      row: row("alice", "home-0", 4000 + LEASE, "ALICE"),
    });
  });

  it("lets another home take a key whose lease has ended, from the moment it ends", () => {
    expect(claim(row("alice", "home-0", 5000), "alice", "alice", "home-1", 5000, LEASE)).toEqual({
      ok: true,
      row: row("alice", "home-1", 5000 + LEASE),
    });
  });
});

describe("lookup and live", () => {
  it("answers the holder while its lease runs, and nobody after", () => {
    const held = row("bob", "home-2", 5000);
    expect(lookup(held, 4999)).toBe(held);
    expect(lookup(held, 5000)).toBeNull();
    expect(lookup(null, 0)).toBeNull();
    expect(live(undefined, 0)).toBe(false);
  });
});

describe("renew", () => {
  it("renews every live key of the home in one call and names the ones it no longer holds", () => {
    const rows = [
      row("a", "home-0", 2000),
      row("b", "home-0", 1000), // ended: lost even though nobody took it
      row("c", "home-1", 2000), // someone else's
      row("e", "home-0", 2000), // the home's, not listed: left to expire
    ];
    const { renewed, lost } = renew(rows, "home-0", ["a", "b", "c", "d", "a"], 1000, LEASE);
    expect(renewed).toEqual([row("a", "home-0", 1000 + LEASE)]);
    expect(lost).toEqual(["b", "c", "d"]);
  });

  it("keeps the name each key was claimed with", () => {
    expect(renew([row("alice", "home-0", 2000, "Alice")], "home-0", ["alice"], 1500, LEASE).renewed[0]?.name).toBe("Alice");
  });

  it("renews nothing and loses nothing for an empty list", () => {
    expect(renew([row("a", "home-0", 2000)], "home-0", [], 1000, LEASE)).toEqual({ renewed: [], lost: [] });
  });
});

describe("release", () => {
  it("drops the holder's row", () => {
    expect(release(row("a", "home-0", 2000), "home-0", 1000)).toEqual({ ok: true, drop: true });
  });

  it("refuses a home that does not hold the key", () => {
    expect(release(row("a", "home-0", 2000), "home-1", 1000)).toEqual({ ok: false, holder: "home-0" });
  });

  it("succeeds, changing nothing, for a key nobody holds (a release sent twice)", () => {
    expect(release(null, "home-0", 1000)).toEqual({ ok: true, drop: false });
  });

  it("drops a dead row whoever asks: it holds nothing", () => {
    expect(release(row("a", "home-0", 1000), "home-1", 1000)).toEqual({ ok: true, drop: true });
  });
});

describe("shards", () => {
  it("hashes with 32-bit FNV-1a (its published test vectors)", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("picks the shard as the hash modulo the count, and shard 0 for a count that is not one", () => {
    expect(shardOf("foobar", 3)).toBe(0xbf9cf968 % 3);
    expect(directoryName("foobar", 3)).toBe(`dir-${0xbf9cf968 % 3}`);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(shardOf("foobar", bad)).toBe(0);
  });

  it("spreads keys over every shard", () => {
    const seen = new Set(Array.from({ length: 200 }, (_, i) => shardOf(nameKey(`user${i}`), 7)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});

describe("lease end, as a home counts it", () => {
  it("runs from the send, less the clock margin", () => {
    expect(leaseEnd(1000, LEASE)).toBe(1000 + LEASE);
    expect(leaseEnd(1000, LEASE, 500)).toBe(500 + LEASE);
  });
});

describe("malformed calls", () => {
  it("refuses empty or non-string keys and homes, and overlong ones", () => {
    for (const bad of ["", 7, null, undefined, {}, ["a"]]) {
      expect(badKey(bad)).toMatch(/key/);
      expect(badHome(bad)).toMatch(/home/);
    }
    expect(badKey("k".repeat(257))).toMatch(/at most 256/);
    expect(badHome("h".repeat(65))).toMatch(/at most 64/);
    expect(badKey("alice")).toBeNull();
    expect(badHome("home-0")).toBeNull();
  });

  it("takes a claim only for a valid name in checked form, under that name's own key", () => {
    expect(badClaim("alice", "Alice", "home-0")).toBeNull();
    expect(badClaim("bob", "Alice", "home-0")).toMatch(/not the name's key/);
    expect(badClaim("alice", " Alice", "home-0")).toMatch(/the form checkName gives/);
    expect(badClaim("a b", "a b", "home-0")).toMatch(/not a valid name: spaces/);
    expect(badClaim("alice", 5, "home-0")).toMatch(/name is a string/);
    expect(badClaim("", "alice", "home-0")).toMatch(/key/);
    expect(badClaim("alice", "alice", "")).toMatch(/home/);
  });

  it("folds look-alike names onto one key, so their claims meet", () => {
    const names = ["alice", "Alice", "ALICE", "\u0430\u04cf\u0456\u0441\u0435" /* all Cyrillic */];
    for (const name of names) expect(badClaim("alice", name, "home-0")).toBeNull();
    const first = claim(null, "alice", "Alice", "home-0", 0, LEASE);
    const cyrillic = "\u0430\u04cf\u0456\u0441\u0435";
    expect(first.ok && claim(first.row, nameKey(cyrillic), cyrillic, "home-1", 1, LEASE)).toEqual({ ok: false, holder: "home-0" });
    expect(nameKey("rnary")).toBe(nameKey("mary"));
  });

  it("refuses a renewal list that is not an array of keys, or too long", () => {
    expect(badKeys("alice")).toMatch(/array/);
    expect(badKeys(["alice", ""])).toMatch(/key/);
    expect(badKeys(["alice", 3])).toMatch(/key/);
    expect(badKeys(Array(MAX_RENEW_KEYS + 1).fill("a"))).toMatch(/at most/);
    expect(badKeys([])).toBeNull();
  });
});

// The model: homes send calls that the shard runs later, in the order each home sent them (one stub each), and read
// the replies later still. A home follows the lease rule (src/claims.ts): it counts a lease from the send, ends its
// use of a key when that lease ends, drops a key the moment it sends its release, and ignores a success for a key
// it released after sending the call. Time passes between any two steps.

const HOMES = ["home-0", "home-1", "home-2"];
const NAMES = ["alice", "bob"];

/** `seq`: the order the home sent its calls in, to tell a reply older than a release. */
type Call = { sentAt: number; seq: number } & ({ op: "claim" | "release"; key: string } | { op: "renew"; keys: string[] });
type Reply = { call: Call; won: string[] };

interface Home {
  name: string;
  calls: Call[];
  replies: Reply[];
  /** The keys it uses, each until its lease end. */
  holds: Map<string, number>;
  /** The number of its latest release of each key. */
  released: Map<string, number>;
}

type Step =
  | { kind: "tick"; ms: number }
  | { kind: "claim" | "release"; home: number; name: number }
  | { kind: "renew" | "run" | "read"; home: number }
  | { kind: "sweep" };

const home = fc.nat(HOMES.length - 1);
const name = fc.nat(NAMES.length - 1);
/** Weighted so that a run often gets a call from send to reply and back before its lease ends. */
const step: fc.Arbitrary<Step> = fc.oneof(
  // Up to a third of a lease at a time: a home's alarm renews about that often, and leases still end in a run.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: LEASE / 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("claim" as const), home, name }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), home, name }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("renew" as const), home }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("run" as const), home }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("read" as const), home }) },
  { weight: 1, arbitrary: fc.constant({ kind: "sweep" as const }) },
);

/** Long runs (fast-check's default size would stop at about ten steps), so that leases end, and are taken over. */
const steps = fc.array(step, { minLength: 1, maxLength: 120, size: "max" });

interface Tally {
  takeovers: number;
  renewals: number;
  refusals: number;
}

/** A home that breaks one of its obligations, to show the check catches it. */
type Mutant = "counts from the reply" | "revives a released key";

function play(steps: Step[], tally: Tally, mutant?: Mutant): void {
  const table = new Map<string, Claim>();
  const homes: Home[] = HOMES.map((name) => ({ name, calls: [], replies: [], holds: new Map(), released: new Map() }));
  let now = 0;
  let seq = 0;

  const check = () => {
    for (const name of NAMES) {
      const key = nameKey(name);
      const users = homes.filter((h) => (h.holds.get(key) ?? -Infinity) > now);
      expect(users.length, `${key} used by ${users.map((h) => h.name)} at ${now}`).toBeLessThanOrEqual(1);
      // Whoever uses a key is the shard's live holder of it: no other home could take it now.
      if (users[0]) expect(lookup(table.get(key) ?? null, now)?.home, `${key} at ${now}`).toBe(users[0].name);
    }
  };

  for (const s of steps) {
    if (s.kind === "tick") now += s.ms;
    else if (s.kind === "sweep") {
      for (const [key, r] of table) if (!live(r, now)) table.delete(key);
    } else {
      const home = homes[s.home]!;
      if (s.kind === "claim") home.calls.push({ op: "claim", key: nameKey(NAMES[s.name]!), sentAt: now, seq: seq++ });
      else if (s.kind === "release") {
        const key = nameKey(NAMES[s.name]!);
        home.holds.delete(key);
        home.released.set(key, seq);
        home.calls.push({ op: "release", key, sentAt: now, seq: seq++ });
      } else if (s.kind === "renew") {
        const keys = [...home.holds].filter(([, until]) => until > now).map(([key]) => key);
        home.calls.push({ op: "renew", keys, sentAt: now, seq: seq++ });
      } else if (s.kind === "run") {
        const call = home.calls.shift();
        if (!call) continue;
        let won: string[] = [];
        if (call.op === "claim") {
          const before = table.get(call.key) ?? null;
          const result = claim(before, call.key, call.key, home.name, now, LEASE);
          if (result.ok) {
            if (before && before.home !== home.name) tally.takeovers++;
            table.set(call.key, result.row);
            won = [call.key];
          } else tally.refusals++;
        } else if (call.op === "renew") {
          const { renewed, lost } = renew([...table.values()], home.name, call.keys, now, LEASE);
          for (const r of renewed) table.set(r.key, r);
          won = renewed.map((r) => r.key);
          tally.renewals += renewed.length;
          expect([...won, ...lost].sort()).toEqual([...new Set(call.keys)].sort());
        } else {
          const result = release(table.get(call.key) ?? null, home.name, now);
          if (result.ok && result.drop) table.delete(call.key);
        }
        home.replies.push({ call, won });
      } else {
        const reply = home.replies.shift();
        if (!reply) continue;
        const { call } = reply;
        if (call.op === "renew") for (const key of call.keys) if (!reply.won.includes(key)) home.holds.delete(key);
        for (const key of reply.won) {
          if ((home.released.get(key) ?? -1) > call.seq && mutant !== "revives a released key") continue;
          const until = mutant === "counts from the reply" ? now + LEASE : leaseEnd(call.sentAt, LEASE);
          home.holds.set(key, Math.max(home.holds.get(key) ?? -Infinity, until));
        }
      }
    }
    check();
  }
}

describe("the lease rule, over random interleavings", () => {
  it("never lets two homes use one key, and keeps a renewed key with its home until the lease ends", () => {
    const tally: Tally = { takeovers: 0, renewals: 0, refusals: 0 };
    fc.assert(
      fc.property(steps, (steps) => play(steps, tally)),
      { numRuns: RUNS, seed: SEED },
    );
    // The runs reached the cases that matter: homes refused, leases renewed, and keys taken over after they ended.
    expect(tally.refusals).toBeGreaterThan(0);
    expect(tally.renewals).toBeGreaterThan(0);
    expect(tally.takeovers).toBeGreaterThan(0);
  });

  it.each<Mutant>(["counts from the reply", "revives a released key"])("catches a home that %s (the check can fail)", (mutant) => {
    const tally: Tally = { takeovers: 0, renewals: 0, refusals: 0 };
    const run = fc.check(fc.property(steps, (steps) => play(steps, tally, mutant)), { numRuns: RUNS * 4, seed: SEED });
    expect(run.failed).toBe(true);
    // What failed is the invariant: a home using a key that the shard does not give it.
    expect(String(run.errorInstance)).toMatch(/(alice|bob) (used by|at)/);
  });
});
