import { describe, expect, it } from "vitest";
import { chatting, freshLobby, login, requested } from "./support/lobby";

describe("asking someone to talk (R2-R8)", () => {
  it("R2: you can't connect with yourself, whatever the case", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.send("connect ALICE");
    await alice.expect("You can't connect with yourself");
  });

  it("R3: asks you to exit the chat you are in first", async () => {
    const lobby = freshLobby();
    const [alice] = await chatting(lobby, "alice", "bob");
    await login(lobby, "carol");
    alice.send("/connect carol");
    await alice.expect("You are already connected with bob; exit that connection first");
  });

  it("R5: tells the requester the target is not online", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.send("connect bob");
    await alice.expect("bob is not online");
  });

  it("R6: tells the requester the target is busy in a conversation", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const carol = await login(lobby, "carol");
    carol.send("connect bob");
    await carol.expect("bob is busy in a conversation");
    carol.send("connect alice");
    await carol.expect("alice is busy in a conversation");
  });

  it("counts a pending request, in or out, as busy", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    const bob = await login(lobby, "bob");
    const carol = await login(lobby, "carol");
    alice.send("connect bob");
    await alice.expect("Waiting for bob to answer");
    await bob.expect("alice is trying to connect with you (y/n)");
    carol.send("connect bob");
    await carol.expect("bob is busy in a conversation");
    carol.send("connect alice");
    await carol.expect("alice is busy in a conversation");
    alice.send("connect carol");
    await alice.expect("You are already waiting for bob to answer; type cancel to withdraw that request first");
  });

  it("R7: bare connect asks for the name, and the next line is the name", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    const bob = await login(lobby, "bob");
    alice.send("CONNECT");
    await alice.expect("Who do you want to connect with?");
    alice.send("Bob");
    await alice.expect(/^Waiting for bob to answer \(the request expires in 60 s; type cancel to withdraw it\)$/);
    await bob.expect("alice is trying to connect with you (y/n)");
  });

  it("lets cancel step out of the name prompt", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.send("connect");
    await alice.expect("Who do you want to connect with?");
    alice.send("cancel");
    await alice.expect("Cancelled");
    alice.send("bob");
    await alice.expect('Unknown command "bob"');
  });

  it("R8 (no): tells the requester the target declined, and both are free again", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    bob.send("N");
    await alice.until("bob declined connection request");
    await bob.expect("You declined the request from alice");
    const carol = await login(lobby, "carol");
    alice.send("connect carol");
    await carol.expect("alice is trying to connect with you (y/n)");
    bob.send("connect carol");
    await bob.expect("carol is busy in a conversation");
  });

  it("does not let a declined requester ask the same person again for a while (no means no)", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    bob.send("n");
    await alice.until("bob declined connection request");
    await bob.expect("You declined the request from alice");
    for (const name of ["bob", "BOB", "Bob"]) {
      alice.send(`connect ${name}`);
      await alice.expect(/^You asked bob recently; you can ask again in (30|29) s$/);
    }
    // A new socket under the same name is the same requester.
    alice.send("quit");
    await alice.waitClosed();
    const again = await login(lobby, "alice");
    again.send("connect bob");
    await again.expect(/^You asked bob recently; you can ask again in \d+ s$/);
    await bob.expectQuiet();
  });

  it("re-asks until the answer is y or n", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    for (const wrong of ["maybe", "connect carol", "hello"]) {
      bob.send(wrong);
      await bob.expect("Please answer y/n: alice is trying to connect with you");
    }
    bob.send("Yes");
    await bob.expect("You are now connected with alice");
    await alice.until("You are now connected with bob");
  });

  it("R8 (yes): connects both sides when the target says y", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    await alice.expectQuiet();
    await bob.expectQuiet();
  });

  it("says when there is no request to answer", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.send("y");
    await alice.expect("There is no request to answer");
  });

  it("withdraws a request on cancel, and the target hears of it", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await requested(lobby, "alice", "bob");
    alice.send("cancel");
    await alice.until("You withdrew your request to bob");
    await bob.expect("alice withdrew the request");
    bob.send("y");
    await bob.expect("There is no request to answer");
  });

  it("lists who is online and whether each is available, busy or pending", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const carol = await login(lobby, "carol");
    const dave = await login(lobby, "dave");
    const erin = await login(lobby, "erin");
    dave.send("connect erin");
    await erin.expect("dave is trying to connect with you (y/n)");
    carol.send("who");
    await carol.expect("5 online:");
    expect([
      await carol.expect(/^  /),
      await carol.expect(/^  /),
      await carol.expect(/^  /),
      await carol.expect(/^  /),
      await carol.expect(/^  /),
    ]).toEqual([
      "  alice - busy",
      "  bob - busy",
      "  carol (you) - available",
      "  dave - pending",
      "  erin - pending",
    ]);
  });

  it("bounds the list at 100 names and counts the rest", async () => {
    const lobby = freshLobby();
    const peers = [];
    for (let i = 0; i < 103; i++) peers.push(await login(lobby, `u${String(i).padStart(3, "0")}`));
    const last = peers.at(-1)!;
    last.send("list");
    await last.expect("103 online:");
    for (let i = 0; i < 100; i++) await last.expect(/^  u\d{3}/);
    await last.expect("  ...and 3 more");
  });
});
