// @ts-check
// The tools' client against the wire: every event it acts on, worded by the wire as the server sends it, reads
// back into the same facts in both dialects, and every action it sends reads back as that action through the
// server's own parsers. A wording changed on one side only fails here.

import { describe, expect, it } from "vitest";
import { parseAction } from "../../public/wire/protocol.js";
import { parseText, render, say } from "../../public/wire/text.js";
import { barrier, decode, encode } from "./client.mjs";

/** @type {import("../../public/wire/protocol.js").ServerEvent[]} */
const EVENTS = [
  { type: "ask_name" },
  { type: "welcome", name: "alice", limits: { maxMessageBytes: 4096, ratePerSecond: 20, rateBurst: 40, heartbeatTimeoutMs: 45_000, idleTimeoutMs: 600_000, maxUnreadBytes: 262_144 } },
  { type: "name_rejected", name: "alice", reason: "taken", detail: "" },
  { type: "name_rejected", name: "аlice", reason: "confusable", detail: "it looks like alice" },
  { type: "name_rejected", name: "a b", reason: "invalid", detail: "use letters, digits, _ . -" },
  { type: "request_sent", to: "bob", expiresInMs: 60_000 },
  { type: "incoming_request", from: "bob", expiresInMs: 60_000 },
  { type: "connected", with: "bob" },
  { type: "message", from: "bob", text: "m12.3 and more: words" },
  { type: "partner_left", name: "bob", reason: "exit" },
  { type: "partner_left", name: "bob", reason: "disconnected" },
  { type: "you_left", with: "bob" },
  { type: "users", you: "alice", users: [{ name: "alice", status: "available" }, { name: "bob", status: "busy" }], total: 3 },
  { type: "check", token: "0427", unread: 140_000 },
  { type: "bye" },
];

describe("the tools' client reads what the server says", () => {
  it.each(EVENTS.map((e) => [`${e.type} ${JSON.stringify(e).slice(0, 60)}`, e]))("%s, in either dialect", (_, event) => {
    const [json] = decode(render(event, "json"), "json");
    expect(json).toEqual(event);
    const text = decode(render(event, "text"), "text");
    expect(text).toHaveLength(1);
    // The text dialect carries fewer facts (no limits, no expiry in ms): those it carries are the JSON event's.
    const read = /** @type {Record<string, unknown>} */ (text[0]);
    expect(read).toEqual(Object.fromEntries(Object.keys(read).map((k) => [k, /** @type {Record<string, unknown>} */ (event)[k]])));
  });

  it("reads a text error as its sentence, with the word it echoes", () => {
    const line = say("unknown_command", { word: "m3.4" });
    expect(decode(line, "text")).toEqual([{ type: "said", sentence: "unknown_command", fields: { word: "m3.4" }, line }]);
    expect(decode(render({ type: "error", code: "not_in_chat", message: say("not_in_chat") }, "json"), "json")).toEqual([
      { type: "error", code: "not_in_chat", message: say("not_in_chat") },
    ]);
  });

  it("calls a frame it cannot read `other`", () => {
    expect(decode("hello u1", "text")).toEqual([{ type: "other", raw: "hello u1" }]);
    expect(decode("hello u1", "json")).toEqual([{ type: "other", raw: "hello u1" }]);
    expect(decode('{"type":"no_such_event"}', "json")).toEqual([{ type: "other", raw: '{"type":"no_such_event"}' }]);
  });
});

describe("the server reads what the tools' client sends", () => {
  /** @type {[import("../../public/wire/protocol.js").ClientAction, import("../../public/wire/text.js").InputMode][]} */
  const ACTIONS = [
    [{ type: "login", name: "alice" }, "name"],
    [{ type: "say", text: "m1.2" }, "chat"],
    [{ type: "connect", to: "bob" }, "command"],
    [{ type: "connect" }, "command"],
    [{ type: "answer", accept: true }, "answer"],
    [{ type: "answer", accept: false }, "chat"],
    [{ type: "checked", token: "0427" }, "chat"],
    [{ type: "exit" }, "chat"],
    [{ type: "cancel" }, "target"],
    [{ type: "list" }, "ended"],
    [{ type: "help" }, "command"],
    [{ type: "quit" }, "chat"],
  ];
  it.each(ACTIONS)("%j, in either dialect", (action, mode) => {
    expect(parseAction(encode(action, "json"))).toEqual(action);
    expect(parseText(encode(action, "text"), mode)).toEqual(action);
  });
});

describe("the load test's ramp barrier", () => {
  it("opens when every party is ready, or at the timeout, whichever is first", async () => {
    const early = barrier(2, 60_000);
    let opened = false;
    void early.all.then(() => (opened = true));
    early.ready();
    await Promise.resolve();
    expect(opened).toBe(false);
    early.ready();
    await early.all;

    const late = barrier(3, 10);
    late.ready();
    await late.all; // the timeout opened it with one party of three
  });
});
