// Consent that sticks, over real sockets in both dialects: blocks that read as declines, not taking requests,
// typing notices with a budget of their own, and cooldowns in the JSON dialect (docs/RULES.md, rules 13-17).

import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BLOCKED_ANSWER_MS } from "../src/rules";
import { chatting, freshLobby, lobbyStub, login, open } from "./support/lobby";
import type { Peer } from "./support/peer";

async function jsonLogin(lobby: string, name: string): Promise<Peer> {
  const peer = await open(lobby, name, { json: true });
  await peer.event("ask_name");
  peer.send(JSON.stringify({ type: "login", name }));
  await peer.event("welcome");
  return peer;
}

const later = (lobby: string, ms: number) => runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + ms));

describe("block, in the text dialect", () => {
  it("tells a blocked requester no after a pause, as a decline, and the blocker sees nothing", async () => {
    const lobby = freshLobby();
    const tom = await login(lobby, "tom");
    const mallory = await login(lobby, "mallory");
    tom.send("block Mallory");
    await tom.expect("You blocked mallory; when they ask to chat they are told no, as if you declined");
    mallory.send("connect tom");
    await mallory.expect("Waiting for tom to answer (the request expires in 60 s; type cancel to withdraw it)");
    await later(lobby, BLOCKED_ANSWER_MS[1]);
    await mallory.expect("tom declined connection request");
    mallory.send("connect tom");
    await mallory.expect(/^You asked tom recently; you can ask again in \d+ s$/);
    await tom.expectQuiet();
    tom.send("blocked");
    await tom.expect("Blocked: mallory");
    tom.send("unblock mallory");
    await tom.expect("You unblocked mallory");
  });

  it("ends a chat with the person blocked, as exit does", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("/block bob");
    await alice.expect("You left the chat with bob");
    await alice.expect("You blocked bob");
    await bob.expect(/^alice has left the chat$/);
  });
});

describe("block, in the JSON dialect", () => {
  it("answers block, blocked and unblock with the list, and declines the blocked requester the same way", async () => {
    const lobby = freshLobby();
    const tom = await jsonLogin(lobby, "tom");
    const mallory = await jsonLogin(lobby, "mallory");
    tom.send(JSON.stringify({ type: "block", name: "mallory" }));
    expect(await tom.event("blocked")).toEqual({ type: "blocked", names: ["mallory"], changed: { name: "mallory", blocked: true } });
    mallory.send(JSON.stringify({ type: "connect", to: "tom" }));
    expect(await mallory.event("request_sent")).toEqual({ type: "request_sent", to: "tom", expiresInMs: 60_000 });
    await later(lobby, BLOCKED_ANSWER_MS[1]);
    expect(await mallory.event("request_declined")).toEqual({ type: "request_declined", by: "tom" });
    mallory.send(JSON.stringify({ type: "connect", to: "TOM" }));
    expect(await mallory.event("request_failed")).toMatchObject({ reason: "cooldown", to: "tom", waitMs: expect.any(Number) });
    tom.send(JSON.stringify({ type: "blocked" }));
    expect(await tom.event("blocked")).toEqual({ type: "blocked", names: ["mallory"] });
  });
});

describe("not taking requests", () => {
  it("answers whoever asks, in either dialect, and shows it in list", async () => {
    const lobby = freshLobby();
    const tom = await login(lobby, "tom");
    const alice = await login(lobby, "alice");
    const bot = await jsonLogin(lobby, "bot");
    tom.send("away");
    await tom.expect("You are not taking requests; whoever asks is told so. Type back when you are");
    alice.send("connect tom");
    await alice.expect("tom is not taking requests right now");
    bot.send(JSON.stringify({ type: "connect", to: "tom" }));
    expect(await bot.event("request_failed")).toEqual({ type: "request_failed", reason: "unavailable", to: "tom" });
    alice.send("list");
    await alice.until("  tom - unavailable");
    tom.send("back");
    await tom.expect("You are taking requests again");
    alice.send("connect tom");
    await tom.expect("alice is trying to connect with you (y/n)");
  });
});

describe("typing", () => {
  it("tells a JSON partner, never a text one, and costs nothing of the chat's rate budget", async () => {
    const lobby = freshLobby();
    const alice = await jsonLogin(lobby, "alice");
    const bob = await jsonLogin(lobby, "bob");
    alice.send(JSON.stringify({ type: "connect", to: "bob" }));
    await bob.event("incoming_request");
    bob.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.event("connected");
    await bob.event("connected");
    // Typing notices, then as many lines at once as the burst has left (40, less the login and the connect): every
    // line goes through, so the notices took nothing from it. (Frames sent back to back may be reordered by the
    // test pool, so the lines are compared as a set.)
    for (let i = 0; i < 3; i++) alice.send('{"type":"typing"}');
    expect(await bob.event("typing")).toEqual({ type: "typing", from: "alice" });
    for (let i = 0; i < 38; i++) alice.send(JSON.stringify({ type: "say", text: `line ${i}` }));
    const texts = new Set<string>();
    while (texts.size < 38) texts.add((await bob.event<{ text: string }>("message")).text);
    expect(alice.received.some((f) => f.includes("rate_limited"))).toBe(false);

    const lobby2 = freshLobby();
    const carol = await login(lobby2, "carol");
    const bot = await jsonLogin(lobby2, "bot");
    bot.send(JSON.stringify({ type: "connect", to: "carol" }));
    await carol.expect("bot is trying to connect with you (y/n)");
    carol.send("y");
    await bot.event("connected");
    await carol.expect("You are now connected with bot");
    bot.send('{"type":"typing"}');
    bot.send(JSON.stringify({ type: "say", text: "hello" }));
    await carol.expect("bot: hello");
    // A text user who types the JSON of a typing notice is just saying it.
    carol.send('{"type":"typing"}');
    expect(await bot.event("message")).toEqual({ type: "message", from: "carol", text: '{"type":"typing"}' });
  });
});
