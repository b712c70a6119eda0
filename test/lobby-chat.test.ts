import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { chatting, freshLobby, lobbyStub, login } from "./support/lobby";

describe("chatting (R8, R10, R11)", () => {
  it("relays every line both ways, prefixed with the sender's name", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    // In lockstep: the test harness wraps the Lobby so that each event first awaits a module import, which can
    // reorder frames sent back to back. Pipelined ordering is tested against wrangler dev (test/e2e).
    for (let i = 0; i < 20; i++) {
      alice.send(`a${i}`);
      await bob.expect(`alice: a${i}`);
      bob.send(`b${i}`);
      await alice.expect(`bob: b${i}`);
    }
  });

  it("treats words that are commands elsewhere as chat, except exit, connect [name] and /commands", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    for (const line of ["help", "list", "connect with me later", "y", "quit", "cancel", "block bob"]) {
      alice.send(line);
      await bob.expect(`alice: ${line}`);
    }
    alice.send("/help");
    await alice.expect("connect <name>");
  });

  it("answers connect in a chat, alone or with a name, with exit-first, and relays nothing (rule 3)", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    await login(lobby, "carol");
    for (const line of ["connect", "connect carol", "CONNECT Carol"]) {
      alice.send(line);
      await alice.expect("You are already connected with bob; exit that connection first");
    }
    await bob.expectQuiet();
  });

  it("splits a multi-line message so that every line shows who sent it", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("hi\nbob has left the chat");
    await bob.expect("alice: hi");
    await bob.expect("alice: bob has left the chat");
  });

  it("R11: exit ends the chat, tells the partner, and both can connect again", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("exit");
    await alice.expect("You left the chat with bob");
    await bob.expect(/^alice has left the chat$/);
    // A line typed just after the chat ended was meant for alice: refused, not run as a command. A whole
    // command runs at once: the freed user can connect with someone else straight away.
    bob.send("quit teasing me");
    await bob.expect("Your chat has just ended, so that line was not sent");
    bob.send("quit");
    await bob.expect("Your chat has just ended, so that line was not sent");
    const carol = await login(lobby, "carol");
    bob.send("connect carol");
    await carol.expect("bob is trying to connect with you (y/n)");
    carol.send("n");
    await bob.until("carol declined connection request");
    alice.send("/connect bob");
    await bob.expect("alice is trying to connect with you (y/n)");
  });

  it("sends a user's lines to each new partner in turn, and to no one between chats", async () => {
    // The Lobby keeps each socket's route between steps: every pairing and parting must move it.
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("to bob");
    await bob.expect("alice: to bob");
    bob.send("exit");
    await alice.expect(/^bob has left the chat$/);
    await bob.expect("You left the chat with alice");
    alice.send("/list");
    await alice.until("alice (you) - available");
    alice.send("/help");
    await alice.until("connect <name>");
    const carol = await login(lobby, "carol");
    alice.send("/connect carol");
    await carol.expect("alice is trying to connect with you (y/n)");
    carol.send("y");
    await carol.expect("You are now connected with alice");
    await alice.until("You are now connected with carol");
    alice.send("to carol");
    await carol.expect("alice: to carol");
    carol.send("/quit");
    await alice.expect("carol has left the chat (disconnected)");
    alice.send("after carol");
    await alice.expect("Your chat has just ended, so that line was not sent");
    expect(bob.unread()).toEqual([]);
  });

  it("says there is nothing to exit outside a chat", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.send("exit");
    await alice.expect("You are not in a chat; there is nothing to exit");
  });

  it("does not deliver a message to anyone but the partner", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    const [carol, dave] = await chatting(lobby, "carol", "dave");
    alice.send("for bob only");
    carol.send("for dave only");
    await bob.expect("alice: for bob only");
    await dave.expect("carol: for dave only");
    await alice.expectQuiet();
    await carol.expectQuiet();
    expect(bob.unread()).toEqual([]);
  });

  it("sends a plain chat line on the fast path, without a step of the rules, once the chat has begun", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    const run = await runInDurableObject(lobbyStub(lobby), (instance) => vi.spyOn(instance as unknown as { run: () => void }, "run"));
    alice.send("one");
    await bob.expect("alice: one");
    bob.send("two");
    await alice.expect("bob: two");
    expect(run).not.toHaveBeenCalled();
    // Anything else is a step of the rules.
    alice.send("exit");
    await bob.expect(/^alice has left the chat$/);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("relays a text user's line that reads like a JSON typing notice as the line it is", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send('{"type":"typing"}');
    await bob.expect('alice: {"type":"typing"}');
  });
});
