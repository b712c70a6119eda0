import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Lobby } from "../src/lobby";
import type { State } from "../src/rules";
import { chatting, freshLobby, lobbyStub, login, open, requested } from "./support/lobby";

const stateOf = (lobby: Lobby) => (lobby as unknown as { state: State }).state;

describe("surviving hibernation, eviction and restarts", () => {
  it("rebuilds users, pairs, pending requests and open prompts from storage and the live sockets", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const carol = await login(lobby, "carol");
    const dave = await login(lobby, "dave");
    carol.send("connect dave");
    await dave.expect("carol is trying to connect with you (y/n)");
    const erin = await login(lobby, "erin");
    erin.send("connect");
    await erin.expect("Who do you want to connect with?");
    const naming = await open(lobby, "naming");
    await naming.expect("username");

    await runInDurableObject(lobbyStub(lobby), (instance, state) => {
      // What the constructor builds when the object wakes from hibernation or after an eviction.
      const rebuilt = new Lobby(state, env);
      // Request budgets are kept in memory only (a rate limit: a wake may refill them).
      expect({ ...stateOf(rebuilt), requestBuckets: null }).toEqual({ ...stateOf(instance), requestBuckets: null });
      expect(stateOf(rebuilt).users.size).toBe(5);
      expect(stateOf(rebuilt).sessions.size).toBe(6);
      expect(stateOf(rebuilt).requests.get("dave")?.from).toBe("carol");
      expect(stateOf(rebuilt).users.get("alice")?.peer).toBe("bob");
      expect(stateOf(rebuilt).sessions.get(stateOf(rebuilt).users.get("erin")!.sid!)?.awaitingTarget).toBe(true);
    });
  });

  it("stores what two users share, and only that: a chat and a pending request, one row each", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const [carol] = await requested(lobby, "carol", "dave");
    await login(lobby, "erin");
    // One row a link: the request, and the chat it became, kept under the key of the one who was asked.
    const rows = await runInDurableObject(lobbyStub(lobby), (_instance, state) =>
      state.storage.sql.exec("SELECT a, b, chat FROM links ORDER BY a").toArray(),
    );
    expect(rows).toEqual([
      { a: "bob", b: "alice", chat: 1 },
      { a: "dave", b: "carol", chat: 0 },
    ]);
    carol.send("cancel");
    await carol.expect("You withdrew your request to dave");
  });

  it("leaves no ghost users or stale requests after a restart that closed every socket", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    const carol = await login(lobby, "carol");
    const dave = await login(lobby, "dave");
    carol.send("connect dave");
    await dave.expect("carol is trying to connect with you (y/n)");

    // A deploy or crash: the object is reset and every socket is dropped (1006), with no close handler run.
    await runInDurableObject(lobbyStub(lobby), (_instance, state) => state.abort("a restart, simulated by lobby-restore.test.ts")).catch(() => {});
    for (const peer of [alice, bob, carol, dave]) expect((await peer.waitClosed()).code).toBe(1006);

    const again = await login(lobby, "alice");
    again.send("list");
    await again.expect("1 online:");
    await again.expect("  alice (you) - available");
    // The stored pair (alice, bob) and request (carol -> dave) belonged to sockets that are gone: they are deleted
    // and nothing is left. The tables stay, empty: creating them again would cost rows (src/store.ts).
    const rows = await runInDurableObject(lobbyStub(lobby), (_instance, state) =>
      state.storage.sql.exec("SELECT (SELECT count(*) FROM links) + (SELECT count(*) FROM away) AS n").one(),
    );
    expect(rows.n).toBe(0);
  });
});
