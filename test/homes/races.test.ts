// Races between homes: two things a user can do (or the platform can do to them) at the same moment, on different
// homes, must end in exactly one of the outcomes one Lobby could give, with everyone left in a state they can go on
// from. Runs in both projects, "workers" (one Lobby) and "homes" (HOMES=4), with the same expectations; a home or the
// directory shard restarting, or a lease ending, only exist with homes: test/homes/only/restarts.test.ts.

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { nameKey } from "../../public/wire/names.js";
import { DEFAULT_DIRECTORY_CONFIG } from "../../src/config";
import type { Directory } from "../../src/directory";
import type { Lobby } from "../../src/lobby";
import { accepted, chatWorks, chattingAcross, dropOn, everyName, freshLobby, homeOf, homeStub, listed, lobbies, loginOn, modeHomes, namesOn, openOn, requestedAcross, runTimersEverywhere, user } from "../support/homes";
import type { Peer } from "../support/peer";

// As in seed.test.ts: longer than a Peer's 5 s wait, so a frame that never comes fails with the transcript.
vi.setConfig({ testTimeout: 30_000 });

const LEASE = DEFAULT_DIRECTORY_CONFIG.claimLeaseMs;
/** A race is run this many times (each in a fresh namespace), so that either side gets a chance to win it. */
const ROUNDS = 3;

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
