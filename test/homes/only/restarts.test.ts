// What only exists with homes (the "homes" project, HOMES=4; test/lobby-restore.test.ts covers one Lobby's
// restart): a home restarted mid-chat, a directory shard restarted, a lease that ends. The other homes, and the
// users on them, must see what one Lobby's users see when a partner's connection drops, and no name may be used
// twice.

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_DIRECTORY_CONFIG } from "../../../src/config";
import type { Directory } from "../../../src/directory";
import type { Lobby } from "../../../src/lobby";
import { accepted, chatWorks, chattingAcross, everyName, freshLobby, homeOf, homeStub, listed, loginOn, namesOn, openOn, runTimersEverywhere, user } from "../../support/homes";

vi.setConfig({ testTimeout: 30_000 });

const LEASE = DEFAULT_DIRECTORY_CONFIG.claimLeaseMs;

describe("a home restarted mid-chat", () => {
  const abortHome = (ns: string, k: number) =>
    runInDurableObject(homeStub(ns, k), (_instance, state) => state.abort("a restart, simulated by restarts.test.ts")).catch(() => {});

  it("tells the visitor its partner left when the partner's home (holding the chat) restarts, and frees it", async () => {
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

  it("lets the visitor reach a user on the restarted home afterwards", async () => {
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

  it("tells the visitor its partner left at its next line when the partner's home restarts", async () => {
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

  it("tells the partner the visitor left when the visitor's own home restarts, at the latest at the next timers", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    await abortHome(ns, homeOf("alice"));
    expect((await alice.waitClosed()).code).toBe(1006);
    await runTimersEverywhere(ns, Date.now());
    await bob.expect(/^alice has left the chat( \(disconnected\))?$/);
    const carol = await user(ns, "carol");
    await chatWorks(bob, carol);
  });

  it("frees the name of a user whose home restarted, for her login on another home at once", async () => {
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

describe("the directory shard restarted", () => {
  const shard = (ns: string) => env.DIRECTORY.get(env.DIRECTORY.idFromName(`${ns}#dir-0`));
  const restartShard = (ns: string) =>
    runInDurableObject(shard(ns), (_instance: Directory, state) => state.abort("a restart, simulated by restarts.test.ts")).catch(() => {});
  const expiryOf = (ns: string, key: string) =>
    runInDurableObject(shard(ns), (_instance: Directory, state) => state.storage.sql.exec<{ expires: number }>("SELECT expires FROM claims WHERE key = ?", key).one().expires);

  it("still refuses a held name on another home that had used the shard before", async () => {
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

  it("still refuses a held name on a home that never used the shard", async () => {
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

  it("lets the holder's home renew the name at the restarted shard, so the lease does not end under it", async () => {
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

describe("a lease that ends", () => {
  it("lets another home claim the name, then closes the old holder's socket at its next renewal", async () => {
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
