import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { QUIET_MS } from "../src/timers";
import { chatting, freshLobby, lobbyStub, login, requested } from "./support/lobby";

/** Let the lobby's quiet period pass, so that the runtime answers pings again (see QUIET_MS). */
const quiet = (lobby: string) =>
  runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + QUIET_MS));

describe("timers: request expiry and the heartbeat sweep (one alarm)", () => {
  it("sets an alarm no later than the request's deadline", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    const bob = await login(lobby, "bob");
    const before = Date.now();
    alice.send("connect bob");
    await bob.expect("alice is trying to connect with you (y/n)");
    const alarm = await runInDurableObject(lobbyStub(lobby), (_lobby, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(before + 60_000 + 1000);
  });

  it("expires an unanswered request after the timeout and tells both sides", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 60_001));
    await alice.expect("Your request to bob expired without an answer");
    await bob.expect("The request from alice expired");
    bob.send("y");
    await bob.expect("There is no request to answer");
    // An unanswered request counts as a no: the requester waits before asking again.
    alice.send("connect bob");
    await alice.expect(/^You asked bob recently; you can ask again in \d+ s$/);
  });

  it("keeps a request that is not yet due when the alarm fires", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    expect(await runDurableObjectAlarm(lobbyStub(lobby))).toBe(true);
    bob.send("y");
    await bob.expect("You are now connected with alice");
  });

  it("answers ping with pong from the runtime once the lobby is quiet, and records the heartbeat", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    await quiet(lobby);
    alice.send("ping");
    await alice.expect(/^pong$/);
    const pinged = await runInDurableObject(lobbyStub(lobby), (_lobby, state) =>
      state.getWebSockets().map((ws) => state.getWebSocketAutoResponseTimestamp(ws) !== null),
    );
    expect(pinged).toEqual([true]);
  });

  it("never runs the Lobby's message handler for a heartbeat in a quiet lobby", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    await quiet(lobby);
    const stub = lobbyStub(lobby);
    const spy = await runInDurableObject(stub, (instance) => vi.spyOn(instance, "webSocketMessage"));
    for (let i = 0; i < 50; i++) {
      alice.send("ping");
      await alice.expect(/^pong$/);
    }
    expect(spy).not.toHaveBeenCalled();
    alice.send("list");
    await alice.expect("1 online:");
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it("answers pings itself while the lobby is active, under the rate limit, so a ping flood costs its socket", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("ping");
    await alice.expect(/^pong$/);
    for (let i = 0; i < 200; i++) bob.send("ping");
    await bob.until("slow down");
    expect(await bob.waitClosed()).toEqual({ code: 1008, reason: "flooding" });
    await alice.until("bob has left the chat (disconnected)");
  });

  it("sweeps a socket that pinged and then went silent, and tells its partner", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    bob.send("ping");
    await bob.expect("pong");
    // Not yet: silent for less than the 45 s timeout.
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 30_000));
    await alice.expectQuiet();
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 46_000));
    expect(await bob.waitClosed()).toEqual({ code: 4000, reason: "heartbeat timeout" });
    await alice.expect("bob has left the chat (disconnected)");
  });

  it("holds a client that never pings to the idle timeout only (10 minutes), then frees its name", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 9 * 60_000));
    alice.send("still here");
    await bob.expect("alice: still here");
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 10 * 60_000 + 1000));
    expect(await bob.waitClosed()).toEqual({ code: 4001, reason: "idle" });
    expect(await alice.waitClosed()).toEqual({ code: 4001, reason: "idle" });
    const again = await login(lobby, "alice");
    again.send("list");
    await again.expect("1 online:");
  });

  it("gives an idle lobby no alarm but the idle sweep, however many are logged in, and sweeps while a chat is on", async () => {
    const lobby = freshLobby();
    const stub = lobbyStub(lobby);
    const alarm = () => runInDurableObject(stub, (_lobby, state) => state.storage.getAlarm());
    for (const name of ["alice", "bob", "carol"]) await login(lobby, name);
    // Right after a frame the alarm ends the quiet period (QUIET_MS); after it, only the idle sweep is left.
    const before = Date.now();
    expect(await alarm()).toBeLessThanOrEqual(before + QUIET_MS);
    await quiet(lobby);
    expect(await alarm()).toBeGreaterThanOrEqual(before + 10 * 60_000 - 1000);
    await chatting(lobby, "dave", "erin");
    expect(await alarm()).toBeLessThanOrEqual(Date.now() + 15_000);
  });

  it("clears the alarm once the lobby is empty", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.close(1000, "bye");
    await alice.waitClosed();
    const stub = lobbyStub(lobby);
    // The alarm set at login (the quiet period, the idle sweep) fires and finds nobody: no further alarm is set.
    await quiet(lobby);
    expect(await runInDurableObject(stub, (_lobby, state) => state.storage.getAlarm())).toBeNull();
  });
});
