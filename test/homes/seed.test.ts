// Every case of the original requirements (shared seed), end to end through the worker, with the people of each
// scenario on different homes on purpose. Runs in two projects: "workers" (one Lobby: the `home` parameter is
// ignored) and "homes" (HOMES=4), with the same expectations, so spreading sockets over objects changes nothing
// a user can see.

import { describe, expect, it, vi } from "vitest";
import { DEFAULT_CONFIG, limitsOf } from "../../src/config";
import {
  chattingAcross,
  dropOn,
  freshLobby,
  homeOf,
  loginOn,
  modeHomes,
  namesOn,
  openOn,
  requestedAcross,
  runTimersEverywhere,
  user,
} from "../support/homes";
import type { Peer } from "../support/peer";

// Longer than a Peer's 5 s wait, so that a frame that never comes fails with the socket's transcript rather than as
// a bare test timeout; and a scenario on several homes crosses objects at nearly every step.
vi.setConfig({ testTimeout: 20_000 });

/** The next JSON event that is not a presence push (pushes are batched on a timer, so their place varies). */
async function next(peer: Peer): Promise<Record<string, unknown>> {
  for (;;) {
    const event = await peer.json();
    if (event.type !== "presence") return event;
  }
}

/**
 * Logs in a JSON-dialect client on `home`; the welcome carries a credential to resume with. With homes it starts
 * with the number of the home that holds the name (`2.`), where a resume on any other home is sent.
 */
async function jsonLoginOn(ns: string, home: number, name: string): Promise<Peer> {
  const peer = await openOn(ns, home, name, { json: true });
  expect(await peer.json()).toEqual({ type: "ask_name" });
  peer.send(JSON.stringify({ type: "login", name }));
  const token = modeHomes() > 1 ? new RegExp(`^${home}\\.[\\w-]{22}$`) : /^[\w-]{22}$/;
  expect(await next(peer)).toEqual({
    type: "welcome",
    name,
    limits: limitsOf(DEFAULT_CONFIG),
    resume: { token: expect.stringMatching(token), graceMs: 30_000 },
  });
  return peer;
}

/** Reads a `list` answer: the total, and every entry line as sent. */
async function listOf(peer: Peer): Promise<{ total: number; lines: string[] }> {
  peer.send("list");
  const total = Number((await peer.expect(/^\d+ online:$/)).split(" ")[0]);
  const lines: string[] = [];
  for (let i = 0; i < Math.min(total, 100) + (total > 100 ? 1 : 0); i++) lines.push(await peer.expect(/^  /));
  return { total, lines };
}

describe("the placement these tests rely on", () => {
  it("puts alice, bob, carol and dave on four different homes", () => {
    expect(new Set(["alice", "bob", "carol", "dave"].map(homeOf)).size).toBe(4);
    expect(modeHomes()).toBeGreaterThanOrEqual(1);
  });

  it("holds each socket on the home it asked for (with one Lobby, all in that Lobby)", async () => {
    const ns = freshLobby();
    for (const name of ["alice", "bob", "carol", "dave"]) await user(ns, name);
    for (const name of ["alice", "bob", "carol", "dave"]) expect(await namesOn(ns, homeOf(name))).toContain(name);
  });
});

describe("seed: the first message is the username, asked again until it is unique", () => {
  it("asks for a username, welcomes the user and lists the commands", async () => {
    const ns = freshLobby();
    const alice = await openOn(ns, homeOf("alice"), "alice");
    await alice.expect(/^Please enter a username:$/);
    alice.send("alice");
    await alice.expect(/^Welcome, alice!$/);
    await alice.expect(/^Commands: connect <name>, list/);
  });

  it("refuses a name held on another home, whatever its case, and keeps asking", async () => {
    const ns = freshLobby();
    await user(ns, "alice");
    const other = await openOn(ns, homeOf("bob"), "other");
    await other.expect("Please enter a username:");
    for (const attempt of ["alice", "ALICE", "Alice"]) {
      other.send(attempt);
      await other.expect(new RegExp(`^Username ${attempt} is taken$`));
      await other.expect(/^Please enter a username:$/);
    }
    other.send("bob");
    await other.expect(/^Welcome, bob!$/);
  });

  it("refuses a look-alike of a name held on another home, and says why", async () => {
    const ns = freshLobby();
    await loginOn(ns, 0, "cop");
    await loginOn(ns, 1, "alice");
    const p = await openOn(ns, 2, "p");
    await p.expect("Please enter a username:");
    p.send("сор"); // Cyrillic letters
    await p.expect(/^Username сор is taken: it looks the same as cop, who is online$/);
    await p.expect(/^Please enter a username:$/);
    p.send("ａｌｉｃｅ"); // fullwidth: NFKC makes it alice
    await p.expect(/^Username alice is taken$/);
    await p.expect(/^Please enter a username:$/);
    p.send("carol");
    await p.expect(/^Welcome, carol!$/);
  });

  it("frees a name once its holder leaves, for a login on another home", async () => {
    const ns = freshLobby();
    const first = await user(ns, "alice");
    first.close(1000, "bye");
    await first.waitClosed();
    const again = await openOn(ns, homeOf("bob"), "again");
    await again.expect("Please enter a username:");
    again.send("alice");
    await again.expect(/^Welcome, alice!$/);
  });

  it("frees a name whose holder quit, and the name is taken again while the new holder is online", async () => {
    const ns = freshLobby();
    const first = await user(ns, "alice");
    first.send("quit");
    await first.expect("Goodbye");
    expect(await first.waitClosed()).toEqual({ code: 1000, reason: "bye" });
    await loginOn(ns, homeOf("carol"), "Alice");
    const p = await openOn(ns, homeOf("dave"), "p");
    await p.expect("Please enter a username:");
    p.send("alice");
    await p.expect(/^Username alice is taken$/);
  });

  it("gives a name claimed at the same moment on two homes to exactly one of them", async () => {
    const ns = freshLobby();
    const [p, q] = await Promise.all([openOn(ns, 0, "p"), openOn(ns, 1, "q")]);
    await p.expect("Please enter a username:");
    await q.expect("Please enter a username:");
    p.send("zed");
    q.send("ZED");
    const answers = [await p.next(), await q.next()];
    expect(answers.filter((a) => /^Welcome, (zed|ZED)!$/.test(a))).toHaveLength(1);
    expect(answers.filter((a) => /^Username (zed|ZED) is taken$/.test(a))).toHaveLength(1);
  });
});

describe("seed 7.1: connect, and the server's answers", () => {
  it("case 1: tells the requester someone is not online", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    alice.send("connect bob");
    await alice.expect(/^bob is not online$/);
  });

  it("asks for the name after a bare connect, and the next line is the name of someone on another home", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    const bob = await user(ns, "bob");
    alice.send("connect");
    await alice.expect(/^Who do you want to connect with\?$/);
    alice.send("Bob");
    await alice.expect(/^Waiting for bob to answer \(the request expires in 60 s; type cancel to withdraw it\)$/);
    await bob.expect(/^alice is trying to connect with you \(y\/n\)$/);
  });

  it("7.1.1: you can't connect with yourself, whatever the case", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    await user(ns, "bob");
    alice.send("connect ALICE");
    await alice.expect(/^You can't connect with yourself$/);
  });

  it("7.1.2: asks you to exit the chat you are in first, and relays nothing", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    const carol = await user(ns, "carol");
    for (const line of ["connect carol", "/connect carol", "connect"]) {
      alice.send(line);
      await alice.expect(/^You are already connected with bob; exit that connection first$/);
    }
    await bob.expectQuiet();
    await carol.expectQuiet();
  });

  it("case 2 / 7.1.3: tells the requester that someone chatting with a third user is busy", async () => {
    const ns = freshLobby();
    await chattingAcross(ns, "alice", "bob");
    const carol = await user(ns, "carol");
    carol.send("connect bob");
    await carol.expect(/^bob is busy in a conversation$/);
    carol.send("connect alice");
    await carol.expect(/^alice is busy in a conversation$/);
  });

  it("counts a pending request, in or out, as busy", async () => {
    const ns = freshLobby();
    const [alice] = await requestedAcross(ns, "alice", "bob");
    const carol = await user(ns, "carol");
    carol.send("connect bob");
    await carol.expect(/^bob is busy in a conversation$/);
    carol.send("connect alice");
    await carol.expect(/^alice is busy in a conversation$/);
    alice.send("connect carol");
    await alice.expect(/^You are already waiting for bob to answer; type cancel to withdraw that request first$/);
  });

  it("case 3: asks the target (y/n), and asks again until the answer is y or n", async () => {
    const ns = freshLobby();
    const [alice, bob] = await requestedAcross(ns, "alice", "bob");
    for (const wrong of ["maybe", "hello"]) {
      bob.send(wrong);
      await bob.expect(/^Please answer y\/n: alice is trying to connect with you$/);
    }
    bob.send("Y");
    await bob.expect(/^You are now connected with alice$/);
    await alice.expect(/^You are now connected with bob$/);
  });

  it("case 31: tells the requester the target declined, and both are free again", async () => {
    const ns = freshLobby();
    const [alice, bob] = await requestedAcross(ns, "alice", "bob");
    bob.send("n");
    await alice.expect(/^bob declined connection request$/);
    await bob.expect(/^You declined the request from alice$/);
    const carol = await user(ns, "carol");
    const dave = await user(ns, "dave");
    alice.send("connect carol");
    await carol.expect(/^alice is trying to connect with you \(y\/n\)$/);
    bob.send("connect dave");
    await dave.expect(/^bob is trying to connect with you \(y\/n\)$/);
  });

  it("withdraws a pending request on cancel, and the target hears of it", async () => {
    const ns = freshLobby();
    const [alice, bob] = await requestedAcross(ns, "alice", "bob");
    alice.send("cancel");
    await alice.expect(/^You withdrew your request to bob$/);
    await bob.expect(/^alice withdrew the request$/);
    bob.send("y");
    await bob.expect(/^There is no request to answer$/);
    const carol = await user(ns, "carol");
    bob.send("connect carol");
    await carol.expect(/^bob is trying to connect with you \(y\/n\)$/);
  });

  it("expires an unanswered request after the timeout and tells both sides", async () => {
    const ns = freshLobby();
    const [alice, bob] = await requestedAcross(ns, "alice", "bob");
    await runTimersEverywhere(ns, Date.now() + 60_001);
    await alice.expect(/^Your request to bob expired without an answer$/);
    await bob.expect(/^The request from alice expired$/);
    bob.send("y");
    await bob.expect(/^There is no request to answer$/);
  });
});

describe("seed case 32: a chat, both ways", () => {
  it("connects both sides on y and relays every line both ways, in order, prefixed with the sender's name", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    const carol = await user(ns, "carol");
    // In lockstep: the test harness wraps each Lobby so that every event first awaits a module import, which can
    // reorder frames sent back to back (test/lobby-chat.test.ts). Pipelined order is tested against wrangler dev.
    for (let i = 0; i < 10; i++) {
      alice.send(`a${i}`);
      await bob.expect(new RegExp(`^alice: a${i}$`));
      bob.send(`b${i}`);
      await alice.expect(new RegExp(`^bob: b${i}$`));
    }
    alice.send("one\ntwo");
    await bob.expect(/^alice: one$/);
    await bob.expect(/^alice: two$/);
    await carol.expectQuiet();
    expect(carol.unread()).toEqual([]);
  });

  it("keeps two chats on four homes apart", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    const [carol, dave] = await chattingAcross(ns, "carol", "dave");
    alice.send("for bob only");
    carol.send("for dave only");
    await bob.expect(/^alice: for bob only$/);
    await dave.expect(/^carol: for dave only$/);
    await alice.expectQuiet();
    await carol.expectQuiet();
    expect(bob.unread()).toEqual([]);
    expect(dave.unread()).toEqual([]);
  });
});

describe("seed case 5: exit", () => {
  it("ends the chat, tells the partner, and both can connect with others again", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    alice.send("exit");
    await alice.expect(/^You left the chat with bob$/);
    await bob.expect(/^alice has left the chat$/);
    const carol = await user(ns, "carol");
    const dave = await user(ns, "dave");
    bob.send("/connect carol");
    await bob.expect(/^Waiting for carol to answer/);
    await carol.expect(/^bob is trying to connect with you \(y\/n\)$/);
    carol.send("y");
    await carol.expect(/^You are now connected with bob$/);
    await bob.expect(/^You are now connected with carol$/);
    alice.send("/connect dave");
    await alice.expect(/^Waiting for dave to answer/);
    await dave.expect(/^alice is trying to connect with you \(y\/n\)$/);
    dave.send("y");
    await dave.expect(/^You are now connected with alice$/);
    await alice.expect(/^You are now connected with dave$/);
    alice.send("hi dave");
    await dave.expect(/^alice: hi dave$/);
    bob.send("hi carol");
    await carol.expect(/^bob: hi carol$/);
  });

  it("says there is nothing to exit outside a chat", async () => {
    const ns = freshLobby();
    const alice = await user(ns, "alice");
    alice.send("exit");
    await alice.expect(/^You are not in a chat; there is nothing to exit$/);
  });
});

describe("seed case 4: a side that crashes or disconnects mid-chat", () => {
  it("tells the partner at once when the other side's connection resets, and frees both", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob", { b: { halfOpen: true } });
    await dropOn(ns, homeOf("bob"), "bob");
    await alice.expect(/^bob has left the chat \(disconnected\)$/);
    expect((await bob.waitClosed()).code).toBe(1011);
    const carol = await user(ns, "carol");
    alice.send("connect carol");
    await carol.expect(/^alice is trying to connect with you \(y\/n\)$/);
    // The name is free again, on any home.
    const again = await loginOn(ns, homeOf("dave"), "bob");
    again.send("connect alice");
    await again.expect(/^alice is busy in a conversation$/);
  });

  it("tells the partner at once when the other side closes its socket (a tab closed)", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    alice.close(1001, "tab closed");
    await bob.expect(/^alice has left the chat \(disconnected\)$/);
    const carol = await user(ns, "carol");
    bob.send("/connect carol");
    await carol.expect(/^bob is trying to connect with you \(y\/n\)$/);
    const again = await loginOn(ns, homeOf("dave"), "alice");
    const { total } = await listOf(again);
    expect(total).toBe(3);
  });

  it("treats quit like a departure: the partner is told and the socket closes cleanly", async () => {
    const ns = freshLobby();
    const [alice, bob] = await chattingAcross(ns, "alice", "bob");
    bob.send("/quit");
    await bob.expect(/^Goodbye$/);
    expect(await bob.waitClosed()).toEqual({ code: 1000, reason: "bye" });
    await alice.expect(/^bob has left the chat \(disconnected\)$/);
    alice.send("connect bob");
    await alice.expect(/^bob is not online$/);
  });

  it("withdraws a pending request when the requester's socket closes, and tells the target", async () => {
    const ns = freshLobby();
    const [alice, bob] = await requestedAcross(ns, "alice", "bob");
    alice.close(1000, "gone");
    await bob.expect(/^alice went offline$/);
    bob.send("y");
    await bob.expect(/^There is no request to answer$/);
  });

  it("withdraws a pending request when the requester's connection resets, and tells the target", async () => {
    const ns = freshLobby();
    const [, bob] = await requestedAcross(ns, "alice", "bob", { a: { halfOpen: true } });
    await dropOn(ns, homeOf("alice"), "alice");
    await bob.expect(/^alice went offline$/);
    const carol = await user(ns, "carol");
    bob.send("connect carol");
    await carol.expect(/^bob is trying to connect with you \(y\/n\)$/);
  });

  it("tells the requester when the target's connection resets before it answers", async () => {
    const ns = freshLobby();
    const [alice] = await requestedAcross(ns, "alice", "bob", { b: { halfOpen: true } });
    await dropOn(ns, homeOf("bob"), "bob");
    await alice.expect(/^bob went offline$/);
    alice.send("connect bob");
    await alice.expect(/^bob is not online$/);
  });
});

describe("list: who is online, across homes", () => {
  it("counts everyone and shows each one's status", async () => {
    const ns = freshLobby();
    await chattingAcross(ns, "alice", "bob");
    const carol = await user(ns, "carol");
    const dave = await user(ns, "dave");
    const erin = await loginOn(ns, 3, "erin");
    dave.send("connect erin");
    await erin.expect(/^dave is trying to connect with you \(y\/n\)$/);
    const { total, lines } = await listOf(carol);
    expect(total).toBe(5);
    expect(lines).toEqual(["  alice - busy", "  bob - busy", "  carol (you) - available", "  dave - pending", "  erin - pending"]);
  });

  it("bounds the list at 100 names and counts the rest", async () => {
    const ns = freshLobby();
    const peers: Peer[] = [];
    for (let i = 0; i < 103; i++) peers.push(await loginOn(ns, i % 4, `u${String(i).padStart(3, "0")}`));
    const { total, lines } = await listOf(peers.at(-1)!);
    expect(total).toBe(103);
    expect(lines).toHaveLength(101);
    expect(lines.at(-1)).toBe("  ...and 3 more");
    const names = lines.slice(0, 100);
    for (const line of names) expect(line).toMatch(/^  u\d{3}( \(you\))? - available$/);
    expect(new Set(names).size).toBe(100);
  });
});

describe("the JSON dialect next to the text dialect, on another home", () => {
  it("runs a request, a chat both ways and an exit between a text user and a JSON client", async () => {
    const ns = freshLobby();
    const bot = await jsonLoginOn(ns, homeOf("bob"), "bot");
    const alice = await user(ns, "alice");
    alice.send("connect bot");
    expect(await next(bot)).toEqual({ type: "incoming_request", from: "alice", expiresInMs: 60_000 });
    bot.send(JSON.stringify({ type: "answer", accept: true }));
    expect(await next(bot)).toEqual({ type: "connected", with: "alice" });
    await alice.until(/^You are now connected with bot$/);
    alice.send("hello, bot");
    expect(await next(bot)).toEqual({ type: "message", from: "alice", text: "hello, bot" });
    bot.send(JSON.stringify({ type: "say", text: "hello, alice" }));
    await alice.expect(/^bot: hello, alice$/);
    alice.send("exit");
    expect(await next(bot)).toEqual({ type: "partner_left", name: "alice", reason: "exit" });
  });

  it("tells a JSON requester that a text user on another home declined, or is not online", async () => {
    const ns = freshLobby();
    const bot = await jsonLoginOn(ns, homeOf("alice"), "bot");
    bot.send(JSON.stringify({ type: "connect", to: "bob" }));
    expect(await next(bot)).toEqual({ type: "request_failed", reason: "offline", to: "bob" });
    const bob = await user(ns, "bob");
    bot.send(JSON.stringify({ type: "connect", to: "bob" }));
    expect(await next(bot)).toEqual({ type: "request_sent", to: "bob", expiresInMs: 60_000 });
    await bob.expect(/^bot is trying to connect with you \(y\/n\)$/);
    bob.send("n");
    await bob.expect(/^You declined the request from bot$/);
    expect(await next(bot)).toEqual({ type: "request_declined", by: "bob" });
  });
});
