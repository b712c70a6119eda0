// A socket that has left (quit, swept, closed for flooding) never comes back as a user, even when its client
// ignores our close frame and the socket is still there when the Lobby is rebuilt after hibernation.

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type Attachment, Lobby } from "../src/lobby";
import type { State } from "../src/rules";
import { freshLobby, lobbyStub, login, withConn, withServerSocket } from "./support/lobby";

const stateOf = (lobby: Lobby) => (lobby as unknown as { state: State }).state;

/** Builds the Lobby the way a wake from hibernation does, and reports who it finds. */
const rebuilt = (lobby: string) =>
  runInDurableObject(lobbyStub(lobby), (_instance, state) => {
    const woken = stateOf(new Lobby(state, env));
    const sockets = state.getWebSockets().map((ws) => ws.deserializeAttachment() as Attachment);
    return { users: [...woken.users.keys()].sort(), sessions: woken.sessions.size, sockets: sockets.length };
  });

describe("departed sockets stay departed", () => {
  it("does not bring back a user who quit but never answered the close", async () => {
    const lobby = freshLobby();
    const ghost = await login(lobby, "ghost", { halfOpen: true });
    await login(lobby, "alice");
    ghost.send("quit");
    await ghost.until("Goodbye");
    expect(await rebuilt(lobby)).toEqual({ users: ["alice"], sessions: 1, sockets: 2 });
    const again = await login(lobby, "ghost");
    again.send("list");
    await again.expect("2 online:");
  });

  it("does not bring back a socket swept by the heartbeat timeout that ignores the close", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    const swept = await login(lobby, "swept", { halfOpen: true });
    alice.send("connect swept");
    await swept.until("alice is trying to connect with you (y/n)");
    swept.send("ping");
    await swept.until(/^pong$/);
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 46_000));
    await alice.until("swept went offline");
    // The client got the close and never answered it: the socket is still there, and still not a user.
    expect(await rebuilt(lobby)).toEqual({ users: ["alice"], sessions: 1, sockets: 2 });
    await login(lobby, "swept");
  });

  it("keeps counting a departed socket toward its address until the close event", async () => {
    const lobby = freshLobby();
    const headers = { "CF-Connecting-IP": "203.0.113.50" };
    const peers = [];
    for (let i = 0; i < 4; i++) peers.push(await login(lobby, `q${i}`, { halfOpen: true, headers }));
    for (const p of peers) {
      p.send("quit");
      await p.until("Goodbye");
    }
    // All four have quit, none has answered: the address still holds four sockets (MAX_SOCKETS_PER_IP = 4).
    await expect(login(lobby, "fifth", { headers })).rejects.toThrow(/429/);
    for (const p of peers) p.close(1000, "now");
    for (const p of peers) await p.waitClosed();
    await login(lobby, "fifth", { headers });
  });

  it("closes a silent socket holding a name the moment someone logs in with that name (workerd#1187)", async () => {
    const lobby = freshLobby();
    const old = await login(lobby, "alice");
    await login(lobby, "bob");
    old.send("ping");
    await old.until(/^pong$/);
    // The Lobby answered that ping; as if it was a minute ago, past the 45 s heartbeat timeout, with no sweep since.
    expect(await withServerSocket(lobby, "alice", (_lobby, ws, state) => state.getWebSocketAutoResponseTimestamp(ws))).toBeNull();
    await withConn(lobby, "alice", (_lobby, conn) => {
      conn.att.heardAt -= 60_000;
    });
    const again = await login(lobby, "alice");
    expect(await old.waitClosed()).toEqual({ code: 4000, reason: "heartbeat timeout" });
    again.send("list");
    await again.expect("2 online:");
  });
});
