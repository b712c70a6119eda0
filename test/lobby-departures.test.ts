import { describe, expect, it } from "vitest";
import { chatting, freshLobby, login, open, requested, withConn, withServerSocket } from "./support/lobby";
import type { Peer } from "./support/peer";

/**
 * Alice asks bob, whose client never answers a close frame (`halfOpen`): what bob's partner hears then comes from
 * the event the Lobby handles, not from the close handshake that would follow it.
 */
async function withHalfOpenBob(lobby: string, accept: boolean): Promise<[Peer, Peer]> {
  const alice = await login(lobby, "alice");
  const bob = await login(lobby, "bob", { halfOpen: true });
  alice.send("connect bob");
  await bob.expect("alice is trying to connect with you (y/n)");
  await alice.expect("Waiting for bob");
  if (accept) {
    bob.send("y");
    await alice.expect("You are now connected with bob");
    await bob.expect("You are now connected with alice");
  }
  return [alice, bob];
}

describe("a side that leaves, crashes or drops (R12)", () => {
  it("tells the partner at once when the other side closes mid-chat, and frees both", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.close(1001, "tab closed");
    await bob.expect(/^alice has left the chat \(disconnected\)$/);
    const carol = await login(lobby, "carol");
    bob.send("/connect carol");
    await carol.expect("bob is trying to connect with you (y/n)");
    const again = await login(lobby, "alice");
    again.send("list");
    await again.expect("3 online:");
  });

  it("tells the partner when the other side's socket errors (an abrupt drop)", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await withHalfOpenBob(lobby, true);
    await withServerSocket(lobby, "bob", (lobbyObject, ws) => lobbyObject.webSocketError(ws, new Error("connection reset")));
    await alice.expect("bob has left the chat (disconnected)");
    expect((await bob.waitClosed()).code).toBe(1011);
    alice.send("still there?");
    await alice.expect("Your chat has just ended, so that line was not sent");
  });

  it("treats quit like a departure: the partner is told and the socket closes cleanly", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    bob.send("/quit");
    await bob.expect("Goodbye");
    expect(await bob.waitClosed()).toEqual({ code: 1000, reason: "bye" });
    await alice.expect("bob has left the chat (disconnected)");
  });

  it("withdraws a pending request when the requester goes offline", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    alice.close(1000, "gone");
    await bob.expect("alice went offline");
    bob.send("y");
    await bob.expect("There is no request to answer");
  });

  it("tells the requester when the target goes offline before answering", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await withHalfOpenBob(lobby, false);
    await withServerSocket(lobby, "bob", (lobbyObject, ws) => lobbyObject.webSocketError(ws, new Error("reset")));
    await alice.expect("bob went offline");
    alice.send("connect bob");
    await alice.expect("bob is not online");
  });

  it("forgets a socket that leaves before choosing a name", async () => {
    const lobby = freshLobby();
    const p = await open(lobby, "p");
    await p.expect("username");
    p.close(1000, "never mind");
    await p.waitClosed();
    const alice = await login(lobby, "alice");
    alice.send("list");
    await alice.expect("1 online:");
  });

  it("announces a departure once, even when close and error both arrive", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    await withServerSocket(lobby, "bob", async (lobbyObject, ws) => {
      await lobbyObject.webSocketError(ws, new Error("reset"));
      await lobbyObject.webSocketClose(ws, 1006, "", false);
    });
    await alice.expect("bob has left the chat (disconnected)");
    await alice.expectQuiet();
  });

  it("treats a send that fails as a departure: the socket is closed and its partner told", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    // Bob's socket breaks under the Lobby: the next frame to it throws.
    await withConn(lobby, "bob", (_lobby, conn) => {
      conn.ws.send = () => {
        throw new Error("the socket is gone");
      };
    });
    alice.send("are you there?");
    await alice.expect("bob has left the chat (disconnected)");
    expect(await bob.waitClosed()).toEqual({ code: 1011, reason: "send failed" });
    alice.send("list");
    await alice.expect("1 online:");
  });
});
