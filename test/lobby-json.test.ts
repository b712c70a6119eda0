import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, limitsOf } from "../src/config";
import { LIST_LIMIT } from "../public/wire/protocol.js";
import type { Peer } from "./support/peer";
import { freshLobby, lobbyStub, login, open } from "./support/lobby";

/** The next JSON event that is not a presence push (those are tested on their own below). */
async function next(peer: Peer): Promise<Record<string, unknown>> {
  for (;;) {
    const event = await peer.json();
    if (event.type !== "presence") return event;
  }
}

async function jsonLogin(lobby: string, name: string): Promise<Peer> {
  const peer = await open(lobby, name, { json: true });
  expect(await peer.json()).toEqual({ type: "ask_name" });
  peer.send(JSON.stringify({ type: "login", name }));
  // The limits are the pool's (vitest.config.ts leaves these at their defaults).
  // A JSON client gets a credential to resume its session with (PROTOCOL.md, "Resuming").
  expect(await next(peer)).toEqual({
    type: "welcome",
    name,
    limits: limitsOf(DEFAULT_CONFIG),
    resume: { token: expect.stringMatching(/^[\w-]{22}$/), graceMs: 30_000 },
  });
  return peer;
}

describe("the JSON dialect (subprotocol parley.v1.json)", () => {
  it("runs the whole flow with typed events, next to a text-dialect user", async () => {
    const lobby = freshLobby();
    const bot = await jsonLogin(lobby, "bot");

    const alice = await login(lobby, "alice");
    alice.send("connect bot");
    expect(await next(bot)).toEqual({ type: "incoming_request", from: "alice", expiresInMs: 60_000 });
    bot.send(JSON.stringify({ type: "answer", accept: true }));
    expect(await next(bot)).toEqual({ type: "connected", with: "alice" });
    await alice.until("You are now connected with bot");

    alice.send("hello, bot");
    expect(await next(bot)).toEqual({ type: "message", from: "alice", text: "hello, bot" });
    bot.send(JSON.stringify({ type: "say", text: "hello, alice" }));
    await alice.expect("bot: hello, alice");

    alice.send("exit");
    expect(await next(bot)).toEqual({ type: "partner_left", name: "alice", reason: "exit" });
  });

  it("answers malformed JSON and wrong field types with error codes", async () => {
    const lobby = freshLobby();
    const bot = await open(lobby, "bot", { json: true });
    await bot.json();
    const cases: [string, string][] = [
      ["not json", "bad_json"],
      ["[1,2]", "bad_action"],
      ['{"type":"login","name":42}', "bad_action"],
      ['{"type":"teleport"}', "bad_action"],
      ['{"__proto__":{"type":"list"}}', "bad_action"],
      ['{"type":"list"}', "not_logged_in"],
    ];
    for (const [frame, code] of cases) {
      bot.send(frame);
      expect(await bot.json()).toMatchObject({ type: "error", code });
    }
  });

  it("pushes presence changes to JSON clients, batched, without being asked", async () => {
    const lobby = freshLobby();
    const watcher = await jsonLogin(lobby, "watcher");
    const alice = await login(lobby, "alice");
    const bob = await login(lobby, "bob");
    alice.send("connect bob");
    await bob.expect("(y/n)");
    bob.send("y");
    await alice.until("You are now connected with bob");

    // Fold the pushes into a view until it shows the chat; each push carries the latest status per user.
    const view = new Map<string, string>();
    let pushes = 0;
    while (view.get("alice") !== "busy" || view.get("bob") !== "busy") {
      const event = (await watcher.json()) as { type: string; changes: { name: string; status: string }[] };
      expect(event.type).toBe("presence");
      pushes++;
      for (const change of event.changes) view.set(change.name, change.status);
    }
    // Logins, a request and a pairing: six status changes, folded into fewer pushes.
    expect(pushes).toBeLessThan(6);
    bob.close(1000, "bye");
    for (;;) {
      const event = (await watcher.json()) as { type: string; changes: { name: string; status: string }[] };
      for (const change of event.changes) view.set(change.name, change.status);
      if (view.get("bob") === "offline") break;
    }
    expect(view.get("alice")).toBe("available");
  });

  it(`above ${LIST_LIMIT} users online, pushes a JSON client only the presence of the people its last list showed`, async () => {
    const lobby = freshLobby();
    // 105 text users, then the watcher, whose name sorts first: its list shows itself and n000..n098.
    const names = Array.from({ length: LIST_LIMIT + 5 }, (_, i) => `n${String(i).padStart(3, "0")}`);
    const users = new Map<string, Peer>();
    for (let i = 0; i < names.length; i += 15) {
      const batch = await Promise.all(names.slice(i, i + 15).map((name) => login(lobby, name)));
      batch.forEach((peer, j) => users.set(names[i + j]!, peer));
    }
    const watcher = await jsonLogin(lobby, "a-watcher");
    watcher.send(JSON.stringify({ type: "list" }));
    const list = (await next(watcher)) as { type: string; total: number; users: { name: string }[] };
    expect(list).toMatchObject({ type: "users", total: LIST_LIMIT + 6 });
    expect(list.users.map((u) => u.name)).toEqual(["a-watcher", ...names.slice(0, LIST_LIMIT - 1)]);
    // A second watcher whose list shows the same people (it sorts last): the two share what they watch.
    const second = await jsonLogin(lobby, "zz-watcher");
    second.send(JSON.stringify({ type: "list" }));
    expect(((await next(second)) as { users: { name: string }[] }).users).toEqual(list.users);

    // Outside the list: a request between n104 and n103, and a newcomer. Inside it: a request from n000 to n001.
    users.get("n104")!.send("connect n103");
    await users.get("n103")!.expect("n104 is trying to connect with you (y/n)");
    await login(lobby, "zed");
    users.get("n000")!.send("connect n001");
    await users.get("n001")!.expect("n000 is trying to connect with you (y/n)");

    for (const peer of [watcher, second]) {
      const heard = new Map<string, string>();
      while (heard.get("n000") !== "pending" || heard.get("n001") !== "pending") {
        const event = (await peer.json()) as { type: string; changes: { name: string; status: string }[] };
        expect(event.type).toBe("presence");
        for (const change of event.changes) heard.set(change.name, change.status);
      }
      expect([...heard.keys()].sort()).toEqual(["n000", "n001"]);
    }
  });

  it("pushes at most one presence frame per interval, however many users change at once", async () => {
    const lobby = freshLobby();
    const watcher = await jsonLogin(lobby, "watcher");
    const names = Array.from({ length: 10 }, (_, i) => `u${i}`);
    await Promise.all(names.map((name) => login(lobby, name)));
    const heard = new Set<string>();
    const arrivals: number[] = [];
    while (!names.every((name) => heard.has(name))) {
      const event = await watcher.event<{ changes: { name: string }[] }>("presence");
      arrivals.push(Date.now());
      for (const change of event.changes) heard.add(change.name);
    }
    // Ten logins, one change each: unbatched, that is ten pushes a few milliseconds apart.
    expect(arrivals.length).toBeLessThan(names.length);
    for (let i = 1; i < arrivals.length; i++) {
      expect(arrivals[i]! - arrivals[i - 1]!, `push ${i} came too soon after the one before`).toBeGreaterThanOrEqual(DEFAULT_CONFIG.presenceIntervalMs / 2);
    }
  });

  it("sends no presence to text-dialect users, while a JSON client hears it", async () => {
    const lobby = freshLobby();
    // A JSON client is there, so status changes are collected and pushed (without one, nothing is).
    const watcher = await jsonLogin(lobby, "watcher");
    const alice = await login(lobby, "alice");
    await login(lobby, "bob");
    for (;;) {
      const event = await watcher.event<{ changes: { name: string }[] }>("presence");
      if (event.changes.some((c) => c.name === "bob")) break;
    }
    // The push that told the watcher about bob went to nobody else.
    await alice.expectQuiet();
  });

  it("lets a JSON client swept for a stopped heartbeat resume: its network dropped, so its partner waits", async () => {
    const lobby = freshLobby();
    const alice = await jsonLogin(lobby, "alice");
    const bob = await open(lobby, "bob", { json: true });
    await bob.event("ask_name");
    bob.send(JSON.stringify({ type: "login", name: "bob" }));
    const { resume } = await bob.event<{ resume: { token: string } }>("welcome");
    alice.send(JSON.stringify({ type: "connect", to: "bob" }));
    await bob.event("incoming_request");
    bob.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.event("connected");
    bob.send("ping");
    await bob.until(/^pong$/);
    await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(Date.now() + 46_000));
    expect(await bob.waitClosed()).toEqual({ code: 4000, reason: "heartbeat timeout" });
    expect(await alice.event("partner_away")).toMatchObject({ name: "bob" });
    const back = await open(lobby, "bob again", { json: true });
    await back.event("ask_name");
    back.send(JSON.stringify({ type: "resume", token: resume.token }));
    await back.event("resumed");
    await alice.event("partner_back");
  });

  it("stops collecting presence once the last JSON client has left (nobody is there to push it to)", async () => {
    const lobby = freshLobby();
    const jsonListeners = () => runInDurableObject(lobbyStub(lobby), (instance) => (instance as unknown as { sockets: { jsonCount: number } }).sockets.jsonCount);
    const bot = await jsonLogin(lobby, "bot");
    const alice = await login(lobby, "alice");
    expect(await jsonListeners()).toBe(1);
    bot.send(JSON.stringify({ type: "quit" }));
    await bot.waitClosed();
    alice.send("list");
    await alice.expect("1 online:");
    expect(await jsonListeners()).toBe(0);
  });

  it("refuses a blank say in a chat, as every other path does, instead of relaying it", async () => {
    const lobby = freshLobby();
    const bot = await jsonLogin(lobby, "bot");
    const alice = await login(lobby, "alice");
    alice.send("connect bot");
    await bot.event("incoming_request");
    bot.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.until("You are now connected with bot");
    bot.send(JSON.stringify({ type: "say", text: "   " }));
    expect(await bot.event("error")).toMatchObject({ code: "empty_message" });
    bot.send(JSON.stringify({ type: "say", text: "a real line" }));
    await alice.expect("bot: a real line");
  });

  it("refuses a JSON frame over the size limit with too_big, in a chat too, and relays nothing of it", async () => {
    const lobby = freshLobby();
    const bot = await jsonLogin(lobby, "bot");
    const alice = await login(lobby, "alice");
    alice.send("connect bot");
    await bot.event("incoming_request");
    bot.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.until("You are now connected with bot");
    bot.send(JSON.stringify({ type: "say", text: "x".repeat(DEFAULT_CONFIG.maxMessageBytes + 1) }));
    expect(await bot.event("error")).toMatchObject({ code: "too_big" });
    await alice.expectQuiet();
  });

  it("passes a numbered say's number on to a JSON partner (exactly-once clients need it)", async () => {
    const lobby = freshLobby();
    const alice = await jsonLogin(lobby, "alice");
    const bob = await jsonLogin(lobby, "bob");
    alice.send(JSON.stringify({ type: "connect", to: "bob" }));
    await bob.event("incoming_request");
    bob.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.event("connected");
    alice.send(JSON.stringify({ type: "say", text: "one", seq: 7 }));
    expect(await bob.event("message")).toEqual({ type: "message", from: "alice", text: "one", seq: 7 });
    alice.send(JSON.stringify({ type: "say", text: "two", seq: 8 }));
    expect(await bob.event("message")).toEqual({ type: "message", from: "alice", text: "two", seq: 8 });
  });
});
