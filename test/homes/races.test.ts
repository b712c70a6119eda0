// Races between homes: two things a user can do (or the platform can do to them) at the same moment, on different
// homes, must end in exactly one of the outcomes one Lobby could give, with everyone left in a state they can go on
// from. Runs in both projects, "workers" (one Lobby) and "homes" (HOMES=4), with the same expectations; the tests
// about a home or the directory shard restarting, or a lease ending, only mean something with homes.

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { nameKey } from "../../public/wire/names.js";
import { DEFAULT_DIRECTORY_CONFIG } from "../../src/config";
import type { Directory } from "../../src/directory";
import type { Lobby } from "../../src/lobby";
import { chattingAcross, dropOn, freshLobby, homeOf, homeStub, loginOn, modeHomes, namesOn, openOn, requestedAcross, runTimersEverywhere, user } from "../support/homes";
import type { Peer } from "../support/peer";

// As in seed.test.ts: longer than a Peer's 5 s wait, so a frame that never comes fails with the transcript.
vi.setConfig({ testTimeout: 30_000 });

const LEASE = DEFAULT_DIRECTORY_CONFIG.claimLeaseMs;
/** A race is run this many times (each in a fresh namespace), so that either side gets a chance to win it. */
const ROUNDS = 3;

/** The distinct Lobby objects of a namespace in this project: four homes, or the one Lobby. */
const lobbies = () => (modeHomes() > 1 ? Array.from({ length: modeHomes() }, (_, k) => k) : [0]);

/** Every name logged in across the namespace, once per socket that holds it. */
async function everyName(ns: string): Promise<string[]> {
  return (await Promise.all(lobbies().map((k) => namesOn(ns, k)))).flat();
}

/**
 * Runs every home's timers at `now` at once rather than one home after another (runTimersEverywhere), so that the
 * home keeping a request's deadline meets a frame racing it at an unknown point.
 */
async function runTimersAtOnce(ns: string, now: number): Promise<void> {
  await Promise.all(lobbies().map((k) => runInDurableObject(homeStub(ns, k), (instance: Lobby) => instance.runTimers(now))));
}

/** The next line of `peer`, which must be one of `outcomes`; returns which. */
async function oneOf<K extends string>(peer: Peer, outcomes: Record<K, RegExp>): Promise<K> {
  const line = await peer.next();
  const hit = (Object.keys(outcomes) as K[]).filter((k) => outcomes[k].test(line));
  if (hit.length !== 1) throw new Error(`[${peer.label}] expected one of ${Object.values(outcomes).map(String).join(", ")} but got ${JSON.stringify(line)}\n  transcript:\n${peer.received.join("\n")}`);
  return hit[0]!;
}

/** `a` asks `b` and `b` accepts; then a line each way proves the chat works. */
async function chatWorks(a: Peer, b: Peer): Promise<void> {
  a.send(`connect ${b.label}`);
  await a.expect(`Waiting for ${b.label} to answer`); // first: a failure then shows what the requester was told
  await b.expect(`${a.label} is trying to connect with you (y/n)`);
  await accepted(a, b);
}

/** `b`, asked by `a`, says y; both are told and a line goes each way. */
async function accepted(a: Peer, b: Peer): Promise<void> {
  b.send("y");
  await b.expect(new RegExp(`^You are now connected with ${a.label}$`));
  await a.expect(new RegExp(`^You are now connected with ${b.label}$`));
  a.send(`hello ${b.label}`);
  await b.expect(new RegExp(`^${a.label}: hello ${b.label}$`));
  b.send(`hello ${a.label}`);
  await a.expect(new RegExp(`^${b.label}: hello ${a.label}$`));
}

/** `peer`'s `list`, as its entry lines. */
async function listed(peer: Peer): Promise<string[]> {
  peer.send("/list");
  const total = Number((await peer.expect(/^\d+ online:$/)).split(" ")[0]);
  const lines: string[] = [];
  for (let i = 0; i < total; i++) lines.push(await peer.expect(/^  /));
  return lines;
}

describe("two logins racing for one name on two homes", () => {
  it("welcomes exactly one of them and tells the other the name is taken, for each of 10 names", async () => {
    const ns = freshLobby();
    const names = Array.from({ length: 10 }, (_, i) => `racer${i}`);
    // Two sockets per name, on two different homes (which pair of homes varies with the name).
    const pairs = await Promise.all(names.map((_, i) => Promise.all([openOn(ns, i % 4, `p${i}`), openOn(ns, (i + 1) % 4, `q${i}`)])));
    for (const [p, q] of pairs) {
      await p.expect("Please enter a username:");
      await q.expect("Please enter a username:");
    }
    // Every login leaves in the same tick: nothing is awaited between them.
    names.forEach((name, i) => {
      pairs[i]![0].send(name);
      pairs[i]![1].send(name.toUpperCase());
    });
    for (const [i, name] of names.entries()) {
      const [p, q] = pairs[i]!;
      const answers = await Promise.all([
        oneOf(p, { welcome: new RegExp(`^Welcome, ${name}!$`), taken: new RegExp(`^Username ${name} is taken$`) }),
        oneOf(q, { welcome: new RegExp(`^Welcome, ${name.toUpperCase()}!$`), taken: new RegExp(`^Username ${name.toUpperCase()} is taken$`) }),
      ]);
      expect([...answers].sort(), name).toEqual(["taken", "welcome"]);
      const loser = answers[0] === "taken" ? p : q;
      await loser.expect(/^Please enter a username:$/);
    }
    // Each name is held by one socket in the whole namespace (as its key: look-alike letters folded, 0 as o).
    const held = await everyName(ns);
    expect(held.sort()).toEqual(names.map(nameKey).sort());
  });
});

describe("a request across homes racing an exit", () => {
  it("either finds the target busy or asks it after its exit, exactly one, and everyone can go on", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [alice, carol] = await chattingAcross(ns, "alice", "carol");
      const bob = await user(ns, "bob");
      const dave = await user(ns, "dave");
      bob.send("connect alice"); // the same tick: the target leaves its chat
      alice.send("exit");
      await alice.expect(/^You left the chat with carol$/);
      await carol.expect(/^alice has left the chat$/);
      const outcome = await oneOf(bob, { busy: /^alice is busy in a conversation$/, asked: /^Waiting for alice to answer/ });
      if (outcome === "asked") {
        await alice.expect(/^bob is trying to connect with you \(y\/n\)$/);
        expect(await listed(carol)).toEqual(["  alice - pending", "  bob - pending", "  carol (you) - available", "  dave - available"]);
        await accepted(bob, alice);
      } else {
        await alice.expectQuiet(); // asked nothing
        expect(await listed(carol)).toEqual(["  alice - available", "  bob - available", "  carol (you) - available", "  dave - available"]);
        await chatWorks(bob, alice);
      }
      await chatWorks(carol, dave);
    }
  });

  it("either finds the requester still in its chat or lets it ask once its partner exits, exactly one", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [bob, dave] = await chattingAcross(ns, "bob", "dave"); // bob's record visits dave's home
      const alice = await user(ns, "alice");
      const carol = await user(ns, "carol");
      bob.send("connect alice"); // the same tick: the requester's partner leaves
      dave.send("exit");
      await dave.expect(/^You left the chat with bob$/);
      const lines = [await bob.next(), await bob.next()];
      expect(lines.filter((l) => /^dave has left the chat$/.test(l)), lines.join(" | ")).toHaveLength(1);
      const refused = lines.filter((l) => /^You are already connected with dave; exit that connection first$/.test(l));
      const asked = lines.filter((l) => /^Waiting for alice to answer/.test(l));
      expect(refused.length + asked.length, lines.join(" | ")).toBe(1);
      if (asked.length === 1) {
        await alice.expect(/^bob is trying to connect with you \(y\/n\)$/);
        await accepted(bob, alice);
      } else {
        await alice.expectQuiet();
        await chatWorks(bob, alice);
      }
      await chatWorks(dave, carol);
    }
  });

  it("runs a requester's exit and its next connect, sent back to back, as one of their two orders", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [bob, dave] = await chattingAcross(ns, "bob", "dave"); // bob's record visits dave's home
      const alice = await user(ns, "alice");
      // Back to back on one socket; the test harness may reorder them (see lobby-chat.test.ts), so either order goes.
      bob.send("exit");
      bob.send("connect alice");
      await dave.expect(/^bob has left the chat$/);
      const lines = [await bob.next(), await bob.next()];
      const inOrder = /^You left the chat with dave$/.test(lines[0]!) && /^Waiting for alice to answer/.test(lines[1]!);
      const reversed = /^You are already connected with dave; exit that connection first$/.test(lines[0]!) && /^You left the chat with dave$/.test(lines[1]!);
      expect(inOrder || reversed, lines.join(" | ")).toBe(true);
      if (inOrder) {
        await alice.expect(/^bob is trying to connect with you \(y\/n\)$/);
        await accepted(bob, alice);
      } else {
        await alice.expectQuiet();
        await chatWorks(bob, alice);
      }
    }
  });
});

describe("a request racing its expiry", () => {
  it("either connects both sides or expires for both, never one of each", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [alice, bob] = await requestedAcross(ns, "alice", "bob");
      // Which leaves first varies by round; neither is awaited before the other leaves.
      if (round % 2 === 1) bob.send("y");
      const timers = runTimersAtOnce(ns, Date.now() + 60_001);
      if (round % 2 === 0) bob.send("y");
      await timers;
      const forBob = await oneOf(bob, { connected: /^You are now connected with alice$/, expired: /^The request from alice expired$/ });
      const forAlice = await oneOf(alice, { connected: /^You are now connected with bob$/, expired: /^Your request to bob expired without an answer$/ });
      expect(forAlice).toBe(forBob);
      if (forBob === "connected") {
        alice.send("still here?");
        await bob.expect(/^alice: still here\?$/);
        bob.send("yes");
        await alice.expect(/^bob: yes$/);
      } else {
        await bob.expect(/^There is no request to answer$/);
        await chatWorks(bob, alice); // not alice again: an expired request starts her cooldown toward bob
      }
    }
  });
});

describe("a request racing a drop", () => {
  it("when the requester's connection resets as the target says y: connected then left, or offline then nothing to answer", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [alice, bob] = await requestedAcross(ns, "alice", "bob", { a: { halfOpen: true } });
      bob.send("y");
      await dropOn(ns, homeOf("alice"), "alice");
      const outcome = await oneOf(bob, { connected: /^You are now connected with alice$/, offline: /^alice went offline$/ });
      await bob.expect(outcome === "connected" ? /^alice has left the chat \(disconnected\)$/ : /^There is no request to answer$/);
      expect((await alice.waitClosed()).code).toBe(1011);
      const carol = await user(ns, "carol");
      await chatWorks(bob, carol);
      await loginOn(ns, homeOf("dave"), "alice"); // the name is free again
    }
  });

  it("when the target's connection resets as it says y: the requester hears connected then left, or offline", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [alice, bob] = await requestedAcross(ns, "alice", "bob", { b: { halfOpen: true } });
      bob.send("y");
      await dropOn(ns, homeOf("bob"), "bob");
      const outcome = await oneOf(alice, { connected: /^You are now connected with bob$/, offline: /^bob went offline$/ });
      if (outcome === "connected") await alice.expect(/^bob has left the chat \(disconnected\)$/);
      expect((await bob.waitClosed()).code).toBe(1011);
      const carol = await user(ns, "carol");
      await chatWorks(alice, carol);
      await loginOn(ns, homeOf("dave"), "bob");
    }
  });

  it("when the target's connection resets as the requester cancels: withdrawn, or offline then nothing to cancel", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ns = freshLobby();
      const [alice, bob] = await requestedAcross(ns, "alice", "bob", { b: { halfOpen: true } });
      alice.send("cancel");
      await dropOn(ns, homeOf("bob"), "bob");
      const outcome = await oneOf(alice, { withdrawn: /^You withdrew your request to bob$/, offline: /^bob went offline$/ });
      if (outcome === "offline") await alice.expect(/^You have no request to cancel$/);
      expect((await bob.waitClosed()).code).toBe(1011);
      await alice.expectQuiet();
      const carol = await user(ns, "carol");
      await chatWorks(alice, carol);
    }
  });
});

// The tests below restart a home or the directory shard, or end a lease: neither exists with one Lobby (a restart
// of the one Lobby is lobby-restore.test.ts's), so they run in the "homes" project only.
describe("a home restarted mid-chat (homes only)", () => {
  const abortHome = (ns: string, k: number) =>
    runInDurableObject(homeStub(ns, k), (_instance, state) => state.abort("a restart, simulated by races.test.ts")).catch(() => {});

  it.runIf(modeHomes() > 1)("tells the visitor its partner left when the partner's home (holding the chat) restarts, and frees it", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob"); // alice's record is on home 1
    await abortHome(ns, homeOf("bob"));
    expect((await bob.waitClosed()).code).toBe(1006);
    // What wakes home 1 in production is its alarm (it renews bob's claim); here, its timers run now.
    await runTimersEverywhere(ns, Date.now());
    await alice.expect(/^bob has left the chat( \(disconnected\))?$/);
    const carol = await user(ns, "carol");
    await chatWorks(alice, carol);
    expect(await everyName(ns)).toEqual(expect.arrayContaining(["alice", "carol"]));
  });

  it.runIf(modeHomes() > 1)("lets the visitor reach a user on the restarted home afterwards", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    await abortHome(ns, homeOf("bob"));
    expect((await bob.waitClosed()).code).toBe(1006);
    await runTimersEverywhere(ns, Date.now());
    await alice.expect(/^bob has left the chat( \(disconnected\))?$/);
    // bob comes back on his home, which runs again; alice's home last reached it before the restart.
    const again = await loginOn(ns, homeOf("bob"), "bob");
    await chatWorks(alice, again);
  });

  it.runIf(modeHomes() > 1)("tells the visitor its partner left at its next line when the partner's home restarts", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    await abortHome(ns, homeOf("bob"));
    expect((await bob.waitClosed()).code).toBe(1006);
    alice.send("are you there?"); // forwarded to home 1, which wakes for it
    await alice.until(/^bob has left the chat( \(disconnected\))?$/);
    expect(alice.closed).toBeNull();
    const carol = await user(ns, "carol");
    alice.send("connect carol");
    await carol.until(/^alice is trying to connect with you \(y\/n\)$/);
    await alice.until(/^Waiting for carol to answer/);
    await accepted(alice, carol);
  });

  it.runIf(modeHomes() > 1)("tells the partner the visitor left when the visitor's own home restarts, at the latest at the next timers", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    await abortHome(ns, homeOf("alice"));
    expect((await alice.waitClosed()).code).toBe(1006);
    await runTimersEverywhere(ns, Date.now());
    await bob.expect(/^alice has left the chat( \(disconnected\))?$/);
    const carol = await user(ns, "carol");
    await chatWorks(bob, carol);
  });

  it.runIf(modeHomes() > 1)("frees the name of a user whose home restarted, for her login on another home at once", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    await abortHome(ns, homeOf("alice"));
    expect((await alice.waitClosed()).code).toBe(1006);
    // The shard still names home 0 (its claim has a lease to run); asked, home 0 finds nobody using the name and
    // lets it go, so alice is not told her own name is taken while the lease runs out.
    const again = await loginOn(ns, homeOf("carol"), "alice");
    expect(await listed(again)).toEqual(["  alice (you) - available"]);
    const shard = env.DIRECTORY.get(env.DIRECTORY.idFromName(`${ns}#dir-0`));
    expect(await shard.lookup("alice")).toEqual({ home: `home-${homeOf("carol")}`, name: "alice" });
  });
});

describe("the directory shard restarted (homes only)", () => {
  const shard = (ns: string) => env.DIRECTORY.get(env.DIRECTORY.idFromName(`${ns}#dir-0`));
  const restartShard = (ns: string) =>
    runInDurableObject(shard(ns), (_instance: Directory, state) => state.abort("a restart, simulated by races.test.ts")).catch(() => {});
  const expiryOf = (ns: string, key: string) =>
    runInDurableObject(shard(ns), (_instance: Directory, state) => state.storage.sql.exec<{ expires: number }>("SELECT expires FROM claims WHERE key = ?", key).one().expires);

  it.runIf(modeHomes() > 1)("still refuses a held name on another home that had used the shard before", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    const bob = await user(ns, "bob"); // home 1 has talked to the shard before its restart
    await restartShard(ns);
    const other = await openOn(ns, homeOf("bob"), "other");
    await other.expect("Please enter a username:");
    other.send("alice");
    await other.expect(/^Username alice is taken$/);
    await other.expect(/^Please enter a username:$/);
    other.send("erin");
    await other.expect(/^Welcome, erin!$/);
    await chatWorks(alice, bob);
  });

  it.runIf(modeHomes() > 1)("still refuses a held name on a home that never used the shard", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    await restartShard(ns);
    const other = await openOn(ns, homeOf("carol"), "other");
    await other.expect("Please enter a username:");
    other.send("alice");
    await other.expect(/^Username alice is taken$/);
    const bob = await user(ns, "bob");
    await chatWorks(alice, bob);
  });

  it.runIf(modeHomes() > 1)("lets the holder's home renew the name at the restarted shard, so the lease does not end under it", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    const before = await expiryOf(ns, "alice");
    await restartShard(ns);
    // Home 0's renewal is due a third of a lease after its claim; it must reach the shard as it is now.
    await runInDurableObject(homeStub(ns, homeOf("alice")), (instance: Lobby) => instance.runTimers(Date.now() + LEASE / 3 + 1));
    // The renewal runs after runTimers returns (nothing to await from outside): its write is polled for.
    await vi.waitFor(async () => expect(await expiryOf(ns, "alice")).toBeGreaterThan(before), { timeout: 5000, interval: 50 });
    expect(alice.closed).toBeNull();
    const bob = await user(ns, "bob");
    await chatWorks(alice, bob);
  });
});

describe("a lease that ends (homes only)", () => {
  it.runIf(modeHomes() > 1)("lets another home claim the name, then closes the old holder's socket at its next renewal", async () => {
    const ns = freshLobby();
    const old = await loginOn(ns, 0, "alice");
    // The shard's clock moves past the lease, as if home 0 had not renewed for that long.
    await runInDurableObject(env.DIRECTORY.get(env.DIRECTORY.idFromName(`${ns}#dir-0`)), (instance: Directory) => {
      (instance as unknown as { clock: () => number }).clock = () => Date.now() + LEASE + 1;
    });
    const fresh = await loginOn(ns, 1, "alice");
    // Home 0's renewal learns it lost the name: the old socket closes, so the name is never used twice for long.
    await runInDurableObject(homeStub(ns, 0), (instance: Lobby) => instance.runTimers(Date.now() + LEASE));
    expect(await old.waitClosed()).toEqual({ code: 1011, reason: "name lease lost" });
    expect(await everyName(ns)).toEqual(["alice"]);
    expect(await namesOn(ns, 1)).toEqual(["alice"]);
    expect(await listed(fresh)).toEqual(["  alice (you) - available"]);
  });
});
