import { describe, expect, it } from "vitest";
import { freshLobby, login, open } from "./support/lobby";

describe("the JSON dialect (subprotocol parley.v1.json)", () => {
  it("runs the whole flow with typed events, next to a text-dialect user", async () => {
    const lobby = freshLobby();
    const bot = await open(lobby, "bot", { json: true });
    expect(await bot.json()).toEqual({ type: "ask_name" });
    bot.send(JSON.stringify({ type: "login", name: "bot" }));
    expect(await bot.json()).toEqual({ type: "welcome", name: "bot" });

    const alice = await login(lobby, "alice");
    alice.send("connect bot");
    expect(await bot.json()).toEqual({ type: "incoming_request", from: "alice", expiresInMs: 60_000 });
    bot.send(JSON.stringify({ type: "answer", accept: true }));
    expect(await bot.json()).toEqual({ type: "connected", with: "alice" });
    await alice.until("You are now connected with bot");

    alice.send("hello, bot");
    expect(await bot.json()).toEqual({ type: "message", from: "alice", text: "hello, bot" });
    bot.send(JSON.stringify({ type: "say", text: "hello, alice" }));
    await alice.expect("bot: hello, alice");

    alice.send("exit");
    expect(await bot.json()).toEqual({ type: "partner_left", name: "alice", reason: "exit" });
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
});
