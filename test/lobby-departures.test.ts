import { describe, expect, it } from "vitest";
import { chatting, freshLobby, login, open, requested, withServerSocket } from "./support/lobby";

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
    const [alice, bob] = await chatting(lobby, "alice", "bob");
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
    const [alice, bob] = await requested(lobby, "alice", "bob");
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
});
