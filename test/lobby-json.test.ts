import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, limitsOf } from "../src/config";
import type { Peer } from "./support/peer";
import { freshLobby, login, open } from "./support/lobby";

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
  expect(await next(peer)).toEqual({ type: "welcome", name, limits: limitsOf(DEFAULT_CONFIG) });
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

  it("sends no presence to text-dialect users", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    await login(lobby, "bob");
    await alice.expectQuiet();
  });
});
