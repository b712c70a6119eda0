import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { State } from "../src/rules";
import { QUIET_MS } from "../src/timers";
import { chatting, freshLobby, lobbyStub, login, requested, withConn, withServerSocket } from "./support/lobby";

/** Let the lobby's quiet period pass, so that the runtime answers pings again (see QUIET_MS). */
const quiet = (lobby: string) =>
  runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + QUIET_MS));

describe("timers: request expiry and the heartbeat sweep (one alarm)", () => {
  it("sets the alarm at the request's deadline when that is the earliest timer, and expires it then", async () => {
    const lobby = freshLobby();
    const stub = lobbyStub(lobby);
    const [alice, bob] = await requested(lobby, "alice", "bob");
    const deadline = await runInDurableObject(stub, (instance) => [...(instance as unknown as { state: State }).state.requests.values()][0]!.deadline);
    // A second before the deadline: the heartbeat sweep of a lobby with a request open would be 15 s later, the
    // idle sweep minutes later. Only the deadline can put the alarm here.
    await runInDurableObject(stub, (instance) => instance.runTimers(deadline - 1000));
    expect(await runInDurableObject(stub, (_lobby, state) => state.storage.getAlarm())).toBe(deadline);
    await alice.expectQuiet();
    await runInDurableObject(stub, (instance) => instance.runTimers(deadline));
    await alice.expect("Your request to bob expired without an answer");
    await bob.expect("The request from alice expired");
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

  it("sweeps a socket whose pings the runtime answered (the Lobby never saw them) once it goes silent", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    await quiet(lobby);
    bob.send("ping");
    await bob.expect(/^pong$/);
    expect(await withServerSocket(lobby, "bob", (_lobby, ws, state) => state.getWebSocketAutoResponseTimestamp(ws))).not.toBeNull();
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
    const stub = lobbyStub(lobby);
    const alarm = () => runInDurableObject(stub, (_lobby, state) => state.storage.getAlarm());
    const alice = await login(lobby, "alice");
    // Set at login: the end of the quiet period, then the idle sweep.
    expect(await alarm()).not.toBeNull();
    alice.close(1000, "bye");
    await alice.waitClosed();
    // The next timer run finds nobody: the alarm is deleted, not left to fire for nothing.
    await quiet(lobby);
    expect(await alarm()).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });

  it("counts a chat line as hearing from its client: one that pinged once and then chats is not swept", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    bob.send("ping");
    await bob.expect(/^pong$/);
    // The Lobby answered that ping (the lobby is active), so the sweep reads it from the attachment alone.
    expect(await withServerSocket(lobby, "bob", (_lobby, ws, state) => state.getWebSocketAutoResponseTimestamp(ws))).toBeNull();
    // As if the ping was 40 s ago (the attachment's time is written at most every 11 s, so move it back by hand).
    await withConn(lobby, "bob", (_lobby, conn) => {
      conn.att.heardAt -= 40_000;
    });
    bob.send("still here");
    await alice.expect("bob: still here");
    // 30 s on: 70 s after the ping, 30 s after the chat line. Only the ping is past the 45 s heartbeat timeout.
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 30_000));
    alice.send("and you?");
    await bob.expect("alice: and you?");
    await bob.expectQuiet();
    expect(bob.closed).toBeNull();
  });
});
