// The matchmaking rules, driven through `step` and `restore` directly: every rule (docs/RULES.md), no sockets.

import { describe, expect, it } from "vitest";
import { type Action, LIST_LIMIT } from "../public/wire/protocol.js";
import { CHAT_END_GRACE_MS } from "../public/wire/text.js";
import {
  type PendingRequest,
  type Session,
  type State,
  type StepResult,
  type User,
  chatRoute,
  emptyState,
  engaged,
  inputMode,
  nextDeadline,
  restore,
  statusOf,
  step,
} from "../src/rules";
import {
  CONFIG,
  NOW,
  act,
  answer,
  clean,
  connect,
  dirtyOf,
  errorCode,
  eventsTo,
  gone,
  lobby,
  login,
  open,
  pair,
  recipients,
  request,
  say,
  sidOf,
  tick,
  welcome,
} from "./support/rules";

// ---------------------------------------------------------------------------------------------

describe("opening a socket", () => {
  it("asks the new socket for a username", () => {
    const state = emptyState();
    const result = open(state, "s1");
    expect(result.effects).toEqual([{ type: "send", sid: "s1", event: { type: "ask_name" } }]);
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: ["s1"] });
    expect(inputMode(state, "s1")).toBe("name");
  });

  it("ignores actions from a socket it has never seen", () => {
    const { state } = lobby("alice");
    const result = act(state, "stranger", { type: "list" });
    expect(result.effects).toEqual([]);
    expect(dirtyOf(result)).toEqual(clean);
  });
});

describe("logging in", () => {
  it("tells the user the server's limits with the welcome, as configured", () => {
    const state = emptyState();
    open(state, "s1");
    const limits = {
      maxMessageBytes: 1000,
      ratePerSecond: 0.5,
      rateBurst: 3,
      heartbeatTimeoutMs: 9000,
      idleTimeoutMs: 60_000,
      maxUnreadBytes: 5000,
    };
    const result = step(state, { type: "action", sid: "s1", action: { type: "login", name: "alice" } }, NOW, { ...CONFIG, ...limits });
    expect(eventsTo(result, "s1")).toEqual([{ type: "welcome", name: "alice", limits }]);
  });

  it("welcomes a valid name and records the user", () => {
    const state = emptyState();
    open(state, "s1");
    const result = login(state, "s1", "Alice");
    expect(eventsTo(result, "s1")).toEqual([welcome("Alice")]);
    expect(state.users.get("alice")).toEqual({ name: "Alice", sid: "s1", peer: null });
    expect(state.sessions.get("s1")?.key).toBe("alice");
    // A login writes the socket's attachment only: no storage row until the user is paired.
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: ["s1"] });
    expect(inputMode(state, "s1")).toBe("command");
  });

  it("trims and NFKC-normalises the name before welcoming it", () => {
    const state = emptyState();
    open(state, "s1");
    expect(eventsTo(login(state, "s1", "  ｂｏｂ  "), "s1")).toEqual([welcome("bob")]);
  });

  it.each([
    ["empty", ""],
    ["only whitespace", "   "],
    ["longer than 32 characters", "a".repeat(33)],
    ["with a space", "alice smith"],
    ["with a control character", "al\u0007ice"],
    ["with an invisible character", "al\u200bice"],
    ["with punctuation", "alice!"],
  ])("rejects a name that is %s and asks again", (_, name) => {
    const state = emptyState();
    open(state, "s1");
    const result = login(state, "s1", name);
    const [rejected, again] = eventsTo(result, "s1");
    expect(rejected).toMatchObject({ type: "name_rejected", reason: "invalid" });
    expect(again).toEqual({ type: "ask_name" });
    expect(result.effects).toHaveLength(2);
    expect(state.users.size).toBe(0);
    expect(state.sessions.get("s1")?.key).toBeNull();
    expect(dirtyOf(result)).toEqual(clean);
    expect(inputMode(state, "s1")).toBe("name");
  });

  it("accepts a name of exactly 32 characters, counting code points", () => {
    const state = emptyState();
    open(state, "s1");
    open(state, "s2");
    expect(eventsTo(login(state, "s1", "a".repeat(32)), "s1")[0]?.type).toBe("welcome");
    // 32 astral letters are 64 UTF-16 units but 32 characters.
    expect(eventsTo(login(state, "s2", "\u{20000}".repeat(32)), "s2")[0]?.type).toBe("welcome");
  });

  it.each([
    ["the same name", "alice"],
    ["a different case", "ALICE"],
    ["a fullwidth spelling (NFKC)", "ａｌｉｃｅ"],
  ])("rejects a taken name given in %s and asks again", (_, name) => {
    const { state } = lobby("Alice");
    open(state, "s2");
    const result = login(state, "s2", name);
    expect(eventsTo(result, "s2")).toEqual([
      expect.objectContaining({ type: "name_rejected", reason: "taken" }),
      { type: "ask_name" },
    ]);
    expect(recipients(result)).toEqual(["s2"]);
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("keeps asking until the name is unique, then welcomes it", () => {
    const { state } = lobby("alice");
    open(state, "s2");
    for (const name of ["Alice", "", "ａｌｉｃｅ", "al ice"]) {
      expect(eventsTo(login(state, "s2", name), "s2").at(-1)).toEqual({ type: "ask_name" });
    }
    expect(eventsTo(login(state, "s2", "alice2"), "s2")).toEqual([welcome("alice2")]);
  });

  it("echoes the normalised name when it is taken", () => {
    const { state } = lobby("alice");
    open(state, "s2");
    expect(eventsTo(login(state, "s2", "ａｌｉｃｅ"), "s2")[0]).toMatchObject({ name: "alice", reason: "taken" });
  });

  it("refuses a second login on the same socket", () => {
    const { state, sids: [alice] } = lobby("alice");
    const result = login(state, alice!, "other");
    expect(errorCode(result, alice!)).toBe("already_logged_in");
    expect(state.users.has("other")).toBe(false);
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("refuses other actions before a name is chosen", () => {
    const state = emptyState();
    open(state, "s1");
    for (const action of [{ type: "connect", to: "bob" }, { type: "list" }, { type: "say", text: "hi" }] as Action[]) {
      expect(errorCode(act(state, "s1", action), "s1")).toBe("not_logged_in");
    }
  });

  it("treats a user named __proto__ like any other user", () => {
    const { state, sids: [proto, bob] } = lobby("__proto__", "bob");
    expect(state.users.get("__proto__")?.name).toBe("__proto__");
    open(state, "s3");
    expect(eventsTo(login(state, "s3", "__PROTO__"), "s3")[0]).toMatchObject({ reason: "taken" });

    expect(eventsTo(connect(state, bob!, "__proto__"), proto!)).toEqual([
      { type: "incoming_request", from: "bob", expiresInMs: 60_000 },
    ]);
    expect(eventsTo(answer(state, proto!, true), bob!)).toEqual([{ type: "connected", with: "__proto__" }]);
    expect(eventsTo(say(state, proto!, "hi"), bob!)).toEqual([{ type: "message", from: "__proto__", text: "hi" }]);
    expect(eventsTo(gone(state, proto!), bob!)).toEqual([
      { type: "partner_left", name: "__proto__", reason: "disconnected" },
    ]);
    expect(state.users.has("__proto__")).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "peer")).toBe(false);
  });
});

describe("connecting with a name", () => {
  it("asks the target and tells the requester it is waiting", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "Bob");
    const result = connect(state, alice!, "bob");
    expect(eventsTo(result, bob!)).toEqual([{ type: "incoming_request", from: "alice", expiresInMs: 60_000 }]);
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_sent", to: "Bob", expiresInMs: 60_000 }]);
    expect(state.requests.get("bob")).toEqual({ from: "alice", deadline: NOW + 60_000 });
    expect(state.outgoing.get("alice")).toBe("bob");
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"] });
    expect(statusOf(state, "alice")).toBe("pending");
    expect(statusOf(state, "bob")).toBe("pending");
    expect(inputMode(state, bob!)).toBe("answer");
    expect(inputMode(state, alice!)).toBe("command");
  });

  it("finds the target whatever case or width the name is typed in", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    expect(eventsTo(connect(state, alice!, " ＢＯＢ "), bob!)[0]?.type).toBe("incoming_request");
  });

  it("refuses to connect a user with themselves", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    for (const name of ["alice", "ALICE", "ａｌｉｃｅ"]) {
      const result = connect(state, alice!, name);
      expect(result.effects).toEqual([
        { type: "send", sid: alice, event: { type: "request_failed", reason: "self" } },
      ]);
      expect(dirtyOf(result)).toEqual(clean);
    }
    expect(state.requests.size).toBe(0);
  });

  it("tells a user already in a chat to exit it first, naming the partner", () => {
    const { state, sids: [alice, , carol] } = lobby("alice", "Bob", "carol");
    pair(state, "alice", "Bob");
    const result = connect(state, alice!, "carol");
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_failed", reason: "in_chat", partner: "Bob" }]);
    expect(eventsTo(result, carol!)).toEqual([]);
    expect(state.requests.size).toBe(0);
  });

  it("tells the requester when the target is not online", () => {
    const { state, sids: [alice] } = lobby("alice");
    const result = connect(state, alice!, " zed ");
    expect(result.effects).toEqual([
      { type: "send", sid: alice, event: { type: "request_failed", reason: "offline", to: "zed" } },
    ]);
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("bounds and sanitises an offline name before echoing it", () => {
    const { state, sids: [alice] } = lobby("alice");
    const long = eventsTo(connect(state, alice!, "x".repeat(100)), alice!)[0];
    expect(long).toMatchObject({ reason: "offline", to: "x".repeat(40) + "..." });
    const control = eventsTo(connect(state, alice!, "ze\u0007d"), alice!)[0];
    expect(control).toMatchObject({ reason: "offline", to: "ze?d" });
  });

  it("tells the requester when the target is chatting with someone else", () => {
    const { state, sids: [alice, bob, carol] } = lobby("alice", "Bob", "carol");
    pair(state, "Bob", "carol");
    const result = connect(state, alice!, "bob");
    expect(result.effects).toEqual([
      { type: "send", sid: alice, event: { type: "request_failed", reason: "busy", to: "Bob" } },
    ]);
    expect(recipients(result)).not.toContain(bob);
    expect(recipients(result)).not.toContain(carol);
  });

  it("tells the requester the target is busy when someone else is already asking the target", () => {
    const { state, sids: [alice] } = lobby("alice", "bob", "carol");
    request(state, "carol", "bob");
    expect(eventsTo(connect(state, alice!, "bob"), alice!)).toEqual([
      { type: "request_failed", reason: "busy", to: "bob" },
    ]);
    expect(state.requests.get("bob")?.from).toBe("carol");
  });

  it("tells the requester the target is busy when the target is waiting on a request of its own", () => {
    const { state, sids: [alice] } = lobby("alice", "bob", "carol");
    request(state, "bob", "carol");
    expect(eventsTo(connect(state, alice!, "bob"), alice!)).toEqual([
      { type: "request_failed", reason: "busy", to: "bob" },
    ]);
    expect(state.outgoing.get("bob")).toBe("carol");
  });

  it("refuses a second request while the first is pending", () => {
    const { state, sids: [alice] } = lobby("alice", "Bob", "carol");
    request(state, "alice", "bob");
    const result = connect(state, alice!, "carol");
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_failed", reason: "pending", to: "Bob" }]);
    expect(state.requests.has("carol")).toBe(false);
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("asks a user with an incoming request to answer it before a bare connect", () => {
    const { state, sids: [, bob] } = lobby("Alice", "bob", "carol");
    request(state, "alice", "bob");
    for (const to of [undefined, "  "]) {
      expect(eventsTo(connect(state, bob!, to), bob!)).toEqual([
        { type: "request_failed", reason: "answer_first", from: "Alice" },
      ]);
    }
  });

  it("lets the target of a request ask someone else, declining the request for it", () => {
    const { state, sids: [alice, bob, carol] } = lobby("Alice", "bob", "carol");
    request(state, "alice", "bob");
    const result = connect(state, bob!, "carol");
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_declined", by: "bob" }]);
    expect(eventsTo(result, bob!)).toEqual([
      { type: "you_declined", from: "Alice" },
      { type: "request_sent", to: "carol", expiresInMs: 60_000 },
    ]);
    expect(eventsTo(result, carol!)).toEqual([{ type: "incoming_request", from: "bob", expiresInMs: 60_000 }]);
    expect(state.users.get("bob")!.refused?.get("alice")?.until).toBe(NOW + 30_000);
  });

  it("reads asking the one who asked you as a yes", () => {
    const { state, sids: [alice, bob] } = lobby("Alice", "bob");
    request(state, "alice", "bob");
    const result = connect(state, bob!, "ALICE");
    expect(eventsTo(result, alice!)).toEqual([{ type: "connected", with: "bob" }]);
    expect(eventsTo(result, bob!)).toEqual([{ type: "connected", with: "Alice" }]);
  });
});

describe("connecting in two steps", () => {
  it("asks for the target after a bare connect", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    const result = connect(state, alice!);
    expect(result.effects).toEqual([{ type: "send", sid: alice, event: { type: "ask_target" } }]);
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: [alice!] });
    expect(state.sessions.get(alice!)?.awaitingTarget).toBe(true);
    expect(inputMode(state, alice!)).toBe("target");
  });

  it("treats a blank target like a bare connect", () => {
    const { state, sids: [alice] } = lobby("alice");
    expect(eventsTo(connect(state, alice!, "   "), alice!)).toEqual([{ type: "ask_target" }]);
    expect(inputMode(state, alice!)).toBe("target");
  });

  it("sends the request when the next action names the target", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    connect(state, alice!);
    const result = connect(state, alice!, "bob");
    expect(eventsTo(result, bob!)).toEqual([{ type: "incoming_request", from: "alice", expiresInMs: 60_000 }]);
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_sent", to: "bob", expiresInMs: 60_000 }]);
    expect(state.sessions.get(alice!)?.awaitingTarget).toBe(false);
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [alice!] });
  });

  it("clears the prompt when the named target cannot be asked", () => {
    const { state, sids: [alice] } = lobby("alice");
    connect(state, alice!);
    const result = connect(state, alice!, "zed");
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_failed", reason: "offline", to: "zed" }]);
    expect(inputMode(state, alice!)).toBe("command");
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: [alice!] });
  });

  it("clears the prompt on cancel", () => {
    const { state, sids: [alice] } = lobby("alice");
    connect(state, alice!);
    const result = act(state, alice!, { type: "cancel" });
    expect(eventsTo(result, alice!)).toEqual([{ type: "cancelled", to: null }]);
    expect(inputMode(state, alice!)).toBe("command");
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: [alice!] });
  });

  it("does not write the session again for a second bare connect", () => {
    const { state, sids: [alice] } = lobby("alice");
    connect(state, alice!);
    const again = connect(state, alice!);
    expect(eventsTo(again, alice!)).toEqual([{ type: "ask_target" }]);
    expect(dirtyOf(again)).toEqual(clean);
  });

  it("drops a user's own prompt when someone else's request arrives", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    connect(state, bob!);
    const result = connect(state, alice!, "bob");
    expect(state.sessions.get(bob!)?.awaitingTarget).toBe(false);
    expect(inputMode(state, bob!)).toBe("answer");
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [bob!] });
  });
});

describe("answering a request", () => {
  it("connects both sides when the target accepts", () => {
    const { state, sids: [alice, bob, carol] } = lobby("Alice", "Bob", "carol");
    request(state, "alice", "bob");
    const result = answer(state, bob!, true);
    expect(eventsTo(result, alice!)).toEqual([{ type: "connected", with: "Bob" }]);
    expect(eventsTo(result, bob!)).toEqual([{ type: "connected", with: "Alice" }]);
    expect(eventsTo(result, carol!)).toEqual([]);
    expect(state.users.get("alice")?.peer).toBe("bob");
    expect(state.users.get("bob")?.peer).toBe("alice");
    expect(state.requests.size).toBe(0);
    expect(state.outgoing.size).toBe(0);
    expect(dirtyOf(result)).toEqual({ ...clean, users: ["alice", "bob"], links: ["bob"] });
    expect(statusOf(state, "alice")).toBe("busy");
    expect(inputMode(state, alice!)).toBe("chat");
    expect(inputMode(state, bob!)).toBe("chat");
  });

  it("tells the requester when the target declines", () => {
    const { state, sids: [alice, bob] } = lobby("Alice", "Bob");
    request(state, "alice", "bob");
    const result = answer(state, bob!, false);
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_declined", by: "Bob" }]);
    expect(eventsTo(result, bob!)).toEqual([{ type: "you_declined", from: "Alice" }]);
    expect(state.users.get("alice")?.peer).toBeNull();
    expect(state.requests.size).toBe(0);
    expect(state.outgoing.size).toBe(0);
    // Bob's socket saves who it refused (see the cooldown tests).
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [bob!] });
    expect(statusOf(state, "alice")).toBe("available");
    expect(statusOf(state, "bob")).toBe("available");
  });

  it("lets the requester ask someone else at once after a decline, and the same person after the cooldown", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob", "carol");
    request(state, "alice", "bob");
    answer(state, bob!, false);
    expect(eventsTo(connect(state, alice!, "carol"), alice!)[0]?.type).toBe("request_sent");
    act(state, alice!, { type: "cancel" });
    expect(eventsTo(connect(state, alice!, "bob"), alice!)).toEqual([
      { type: "request_failed", reason: "cooldown", to: "bob", waitMs: 30_000 },
    ]);
    expect(eventsTo(connect(state, alice!, "bob", NOW + 30_000), alice!)[0]?.type).toBe("request_sent");
  });

  it("reports that there is nothing to answer", () => {
    const { state, sids: [alice] } = lobby("alice");
    const result = answer(state, alice!, true);
    expect(errorCode(result, alice!)).toBe("no_request");
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("does not let the requester answer its own request", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    expect(errorCode(answer(state, alice!, true), alice!)).toBe("no_request");
    expect(state.requests.has("bob")).toBe(true);
  });

  it("reminds a target who gives a bad answer who is asking", () => {
    const { state, sids: [, bob] } = lobby("Alice", "bob");
    request(state, "alice", "bob");
    const result = act(state, bob!, { type: "invalid", code: "bad_answer", message: "Please answer y/n" });
    const [event] = eventsTo(result, bob!);
    expect(event).toMatchObject({ type: "error", code: "bad_answer" });
    expect(event?.type === "error" && event.message).toContain("Alice");
    expect(state.requests.has("bob")).toBe(true);
  });

  it("passes any other invalid input through as an error frame", () => {
    const { state, sids: [alice] } = lobby("alice");
    const result = act(state, alice!, { type: "invalid", code: "unknown_command", message: "Unknown command" });
    expect(result.effects).toEqual([
      { type: "send", sid: alice, event: { type: "error", code: "unknown_command", message: "Unknown command" } },
    ]);
  });
});

describe("chatting", () => {
  it("relays a message only to the partner, leaving storage alone", () => {
    const { state, sids: [alice, bob, carol] } = lobby("Alice", "bob", "carol");
    pair(state, "alice", "bob");
    const result = say(state, alice!, "hello bob");
    expect(result.effects).toEqual([
      { type: "send", sid: bob, event: { type: "message", from: "Alice", text: "hello bob" } },
    ]);
    expect(recipients(result)).not.toContain(carol);
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("relays messages both ways in the order they were said", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    const script: [string, string][] = [
      [alice!, "one"],
      [bob!, "two"],
      [alice!, "three"],
      [alice!, "four"],
    ];
    const delivered = script.flatMap(([sid, text]) => say(state, sid, text).effects);
    expect(delivered).toEqual([
      { type: "send", sid: bob, event: { type: "message", from: "alice", text: "one" } },
      { type: "send", sid: alice, event: { type: "message", from: "bob", text: "two" } },
      { type: "send", sid: bob, event: { type: "message", from: "alice", text: "three" } },
      { type: "send", sid: bob, event: { type: "message", from: "alice", text: "four" } },
    ]);
  });

  it("relays the text exactly, spaces and line breaks included", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    expect(eventsTo(say(state, alice!, "  two\nlines "), bob!)).toEqual([
      { type: "message", from: "alice", text: "  two\nlines " },
    ]);
  });

  it.each(["", "   ", "\n\t"])("does not send an empty message (%j)", (text) => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    const result = say(state, alice!, text);
    expect(recipients(result)).toEqual([alice]);
    expect(errorCode(result, alice!)).toBe("empty_message");
  });

  it("tells a user who is not in a chat that there is nobody to talk to", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    expect(errorCode(say(state, alice!, "hello?"), alice!)).toBe("not_in_chat");
    request(state, "alice", "bob");
    const result = say(state, alice!, "hello?");
    expect(recipients(result)).toEqual([alice]);
    expect(errorCode(result, alice!)).toBe("not_in_chat");
    expect(eventsTo(result, bob!)).toEqual([]);
  });
});

describe("a chat's route (what the Lobby keeps per socket between steps)", () => {
  it("points each side at the other, under the sender's display name, only while they chat", () => {
    const { state, sids: [alice, bob, carol] } = lobby("Alice", "bob", "carol");
    expect(chatRoute(state, alice!)).toBeNull();
    request(state, "alice", "bob");
    expect(chatRoute(state, alice!)).toBeNull();
    answer(state, bob!, true);
    expect(chatRoute(state, alice!)).toEqual({ to: bob, from: "Alice" });
    expect(chatRoute(state, bob!)).toEqual({ to: alice, from: "bob" });
    expect(chatRoute(state, carol!)).toBeNull();
    act(state, bob!, { type: "exit" });
    expect(chatRoute(state, alice!)).toBeNull();
    expect(chatRoute(state, "no-such-socket")).toBeNull();
  });

  it("is where relay() sends a line, for every line it sends", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    expect(say(state, alice!, "hi").effects).toEqual([
      { type: "send", sid: chatRoute(state, alice!)!.to, event: { type: "message", from: chatRoute(state, alice!)!.from, text: "hi" } },
    ]);
    expect(chatRoute(state, bob!)!.to).toBe(alice);
  });
});

describe("exiting a chat", () => {
  it("tells the partner the user has left and frees both", () => {
    const { state, sids: [alice, bob, carol] } = lobby("Alice", "Bob", "carol");
    pair(state, "alice", "bob");
    const result = act(state, alice!, { type: "exit" });
    expect(eventsTo(result, bob!)).toEqual([{ type: "partner_left", name: "Alice", reason: "exit" }]);
    expect(eventsTo(result, alice!)).toEqual([{ type: "you_left", with: "Bob" }]);
    expect(eventsTo(result, carol!)).toEqual([]);
    // The partner's session remembers when the chat ended (see the next test).
    expect(dirtyOf(result)).toEqual({ ...clean, users: ["alice", "bob"], links: ["bob"], sessions: [bob!] });
    expect(statusOf(state, "alice")).toBe("available");
    expect(statusOf(state, "bob")).toBe("available");
    expect(inputMode(state, alice!)).toBe("command");
    expect(inputMode(state, bob!)).toBe("command");
  });

  it("refuses the partner's bare lines for a moment after the chat ends: they were typed for the leaver", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    act(state, alice!, { type: "exit" }, NOW);
    expect(inputMode(state, bob!, NOW + 1)).toBe("ended");
    expect(inputMode(state, bob!, NOW + CHAT_END_GRACE_MS - 1)).toBe("ended");
    expect(inputMode(state, bob!, NOW + CHAT_END_GRACE_MS)).toBe("command");
    // The one who typed exit knows the chat is over.
    expect(inputMode(state, alice!, NOW + 1)).toBe("command");
    // A request that arrives meanwhile is answered as usual.
    connect(state, alice!, "bob", NOW + 10);
    expect(inputMode(state, bob!, NOW + 20)).toBe("answer");
  });

  it("lets both connect again afterwards, with each other or someone else", () => {
    const { state, sids: [alice, bob, carol] } = lobby("alice", "bob", "carol");
    pair(state, "alice", "bob");
    act(state, alice!, { type: "exit" });
    expect(eventsTo(connect(state, bob!, "carol"), carol!)[0]?.type).toBe("incoming_request");
    answer(state, carol!, false);
    expect(eventsTo(connect(state, alice!, "bob"), bob!)[0]?.type).toBe("incoming_request");
  });

  it("does not deliver messages after the chat has ended", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    act(state, bob!, { type: "exit" });
    const result = say(state, alice!, "still there?");
    expect(recipients(result)).toEqual([alice]);
    expect(errorCode(result, alice!)).toBe("not_in_chat");
  });

  it("reports that there is nothing to exit outside a chat", () => {
    const { state, sids: [alice] } = lobby("alice");
    const result = act(state, alice!, { type: "exit" });
    expect(errorCode(result, alice!)).toBe("nothing_to_exit");
    expect(dirtyOf(result)).toEqual(clean);
  });

  it("points a waiting requester who types exit at cancel instead", () => {
    const { state, sids: [alice] } = lobby("alice", "Bob");
    request(state, "alice", "bob");
    const [event] = eventsTo(act(state, alice!, { type: "exit" }), alice!);
    expect(event).toMatchObject({ type: "error", code: "nothing_to_exit" });
    expect(event?.type === "error" && event.message).toMatch(/cancel.*Bob/);
    expect(state.requests.has("bob")).toBe(true);
  });
});

describe("cancelling a request", () => {
  it("withdraws the request and tells the target", () => {
    const { state, sids: [alice, bob] } = lobby("Alice", "Bob");
    request(state, "alice", "bob");
    const result = act(state, alice!, { type: "cancel" });
    expect(eventsTo(result, bob!)).toEqual([
      { type: "request_ended", name: "Alice", role: "received", reason: "withdrawn" },
    ]);
    expect(eventsTo(result, alice!)).toEqual([{ type: "cancelled", to: "Bob" }]);
    expect(state.requests.size).toBe(0);
    expect(state.outgoing.size).toBe(0);
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [bob!] });
    expect(inputMode(state, bob!)).toBe("command");
    expect(nextDeadline(state)).toBeNull();
  });

  it("leaves the target unable to answer the withdrawn request", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    act(state, alice!, { type: "cancel" });
    const result = answer(state, bob!, true);
    expect(errorCode(result, bob!)).toBe("no_request");
    expect(eventsTo(result, alice!)).toEqual([]);
  });

  it("reports that there is nothing to cancel", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    expect(errorCode(act(state, alice!, { type: "cancel" }), alice!)).toBe("nothing_to_cancel");
    // The target of a request has nothing of its own to cancel.
    request(state, "alice", "bob");
    expect(errorCode(act(state, bob!, { type: "cancel" }), bob!)).toBe("nothing_to_cancel");
    expect(state.requests.has("bob")).toBe(true);
  });
});

describe("a socket going away (R12)", () => {
  it("tells the partner mid-chat and frees the partner", () => {
    const { state, sids: [alice, bob] } = lobby("Alice", "bob");
    pair(state, "alice", "bob");
    const result = gone(state, alice!);
    expect(result.effects).toEqual([
      { type: "send", sid: bob, event: { type: "partner_left", name: "Alice", reason: "disconnected" } },
    ]);
    expect(state.users.has("alice")).toBe(false);
    expect(state.sessions.has(alice!)).toBe(false);
    expect(state.users.get("bob")?.peer).toBeNull();
    expect(statusOf(state, "bob")).toBe("available");
    expect(dirtyOf(result)).toEqual({ ...clean, users: ["alice", "bob"], links: ["bob"], sessions: [alice!, bob!].sort() });
  });

  it("frees the name for a new login", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    gone(state, alice!);
    open(state, "new-socket");
    expect(eventsTo(login(state, "new-socket", "ALICE"), "new-socket")).toEqual([welcome("ALICE")]);
  });

  it("lets the partner connect with someone else afterwards", () => {
    const { state, sids: [alice, bob, carol] } = lobby("alice", "bob", "carol");
    pair(state, "alice", "bob");
    gone(state, alice!);
    expect(eventsTo(connect(state, bob!, "carol"), carol!)[0]?.type).toBe("incoming_request");
  });

  it("tells the target when the requester goes away mid-request", () => {
    const { state, sids: [alice, bob] } = lobby("Alice", "bob");
    request(state, "alice", "bob");
    const result = gone(state, alice!);
    expect(result.effects).toEqual([
      { type: "send", sid: bob, event: { type: "request_ended", name: "Alice", role: "received", reason: "offline" } },
    ]);
    expect(state.requests.size).toBe(0);
    expect(state.outgoing.size).toBe(0);
    expect(inputMode(state, bob!)).toBe("command");
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [alice!] });
  });

  it("tells the requester when the target goes away mid-request", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "Bob");
    request(state, "alice", "bob");
    const result = gone(state, bob!);
    expect(result.effects).toEqual([
      { type: "send", sid: alice, event: { type: "request_ended", name: "Bob", role: "sent", reason: "offline" } },
    ]);
    expect(state.requests.size).toBe(0);
    expect(state.outgoing.size).toBe(0);
    expect(statusOf(state, "alice")).toBe("available");
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [bob!] });
  });

  it("does nothing the second time the same socket goes away", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    gone(state, alice!);
    const again = gone(state, alice!);
    expect(again.effects).toEqual([]);
    expect(dirtyOf(again)).toEqual(clean);
  });

  it("forgets a socket that never chose a name without telling anyone", () => {
    const { state } = lobby("alice");
    open(state, "anon");
    const result = gone(state, "anon");
    expect(result.effects).toEqual([]);
    expect(state.sessions.has("anon")).toBe(false);
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: ["anon"] });
  });

  it("ignores a socket it has never seen", () => {
    const { state } = lobby("alice");
    const result = gone(state, "stranger");
    expect(result.effects).toEqual([]);
    expect(dirtyOf(result)).toEqual(clean);
  });
});

describe("request expiry", () => {
  it("does nothing before the deadline", () => {
    const { state } = lobby("alice", "bob");
    request(state, "alice", "bob");
    const result = tick(state, NOW + 59_999);
    expect(result.effects).toEqual([]);
    expect(dirtyOf(result)).toEqual(clean);
    expect(state.requests.has("bob")).toBe(true);
  });

  it.each([
    ["at", 0],
    ["after", 5_000],
  ])("ends the request on both sides %s the deadline", (_, late) => {
    const { state, sids: [alice, bob] } = lobby("Alice", "Bob");
    request(state, "alice", "bob");
    const result = tick(state, NOW + 60_000 + late);
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_ended", name: "Bob", role: "sent", reason: "expired" }]);
    expect(eventsTo(result, bob!)).toEqual([
      { type: "request_ended", name: "Alice", role: "received", reason: "expired" },
    ]);
    expect(state.requests.size).toBe(0);
    expect(state.outgoing.size).toBe(0);
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob"], sessions: [bob!] });
    expect(inputMode(state, bob!)).toBe("command");
  });

  it("expires only the requests that are due", () => {
    const { state, sids: [alice, , carol, dave] } = lobby("alice", "bob", "carol", "dave");
    request(state, "alice", "bob", NOW);
    request(state, "carol", "dave", NOW + 10_000);
    const result = tick(state, NOW + 60_000);
    expect(recipients(result)).toEqual([alice, sidOf("bob")].sort());
    expect(state.requests.has("dave")).toBe(true);
    expect(eventsTo(result, carol!)).toEqual([]);
    expect(eventsTo(result, dave!)).toEqual([]);
  });

  it("reports the earliest deadline, or null when nothing is pending", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob", "carol", "dave");
    expect(nextDeadline(state)).toBeNull();
    request(state, "carol", "dave", NOW + 10_000);
    request(state, "alice", "bob", NOW);
    expect(nextDeadline(state)).toBe(NOW + 60_000);
    answer(state, bob!, true);
    expect(nextDeadline(state)).toBe(NOW + 70_000);
    tick(state, NOW + 70_000);
    expect(nextDeadline(state)).toBeNull();
    expect(state.users.get("alice")?.peer).toBe("bob");
    expect(inputMode(state, alice!)).toBe("chat");
  });
});

describe("input mode", () => {
  it("follows each state a socket can be in", () => {
    const state = emptyState();
    expect(inputMode(state, "unknown")).toBe("name");
    open(state, "a");
    expect(inputMode(state, "a")).toBe("name");
    login(state, "a", "alice");
    expect(inputMode(state, "a")).toBe("command");
    connect(state, "a");
    expect(inputMode(state, "a")).toBe("target");
    open(state, "b");
    login(state, "b", "bob");
    connect(state, "a", "bob");
    expect(inputMode(state, "a")).toBe("command");
    expect(inputMode(state, "b")).toBe("answer");
    answer(state, "b", true);
    expect(inputMode(state, "a")).toBe("chat");
    expect(inputMode(state, "b")).toBe("chat");
  });
});

describe("listing users", () => {
  function usersEvent(result: StepResult, sid: string) {
    const [event] = eventsTo(result, sid);
    if (event?.type !== "users") throw new Error(`expected a users event, got ${JSON.stringify(event)}`);
    return event;
  }

  it("lists everyone sorted case-insensitively, with their status", () => {
    const { state, sids: [carol] } = lobby("carol", "Bob", "alice", "dave", "Erin", "frank");
    pair(state, "alice", "Bob");
    request(state, "dave", "erin");
    const result = act(state, carol!, { type: "list" });
    expect(usersEvent(result, carol!)).toEqual({
      type: "users",
      you: "carol",
      total: 6,
      users: [
        { name: "alice", status: "busy" },
        { name: "Bob", status: "busy" },
        { name: "carol", status: "available" },
        { name: "dave", status: "pending" },
        { name: "Erin", status: "pending" },
        { name: "frank", status: "available" },
      ],
    });
    expect(recipients(result)).toEqual([carol]);
    expect(dirtyOf(result)).toEqual(clean);
  });

  it(`caps the list at ${LIST_LIMIT} users and reports the total`, () => {
    const names = Array.from({ length: LIST_LIMIT + 5 }, (_, i) => `user${String(i).padStart(3, "0")}`);
    const { state, sids } = lobby(...names);
    const event = usersEvent(act(state, sids[0]!, { type: "list" }), sids[0]!);
    expect(event.total).toBe(LIST_LIMIT + 5);
    expect(event.users).toHaveLength(LIST_LIMIT);
    expect(event.users.map((u) => u.name)).toEqual(names.slice(0, LIST_LIMIT));
  });

  it("works while chatting and leaves the chat untouched", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    const result = act(state, alice!, { type: "list" });
    expect(usersEvent(result, alice!).users).toHaveLength(2);
    expect(eventsTo(result, bob!)).toEqual([]);
    expect(state.users.get("alice")?.peer).toBe("bob");
  });
});

describe("help and quit", () => {
  it("answers help before and after login without changing anything", () => {
    const state = emptyState();
    open(state, "s1");
    const before = act(state, "s1", { type: "help" });
    expect(before.effects).toEqual([{ type: "send", sid: "s1", event: { type: "help" } }]);
    expect(dirtyOf(before)).toEqual(clean);
    login(state, "s1", "alice");
    expect(eventsTo(act(state, "s1", { type: "help" }), "s1")).toEqual([{ type: "help" }]);
  });

  it("says goodbye, closes the socket and departs on quit", () => {
    const { state, sids: [alice, bob] } = lobby("Alice", "bob");
    pair(state, "alice", "bob");
    const result = act(state, alice!, { type: "quit" });
    expect(result.effects).toEqual([
      { type: "send", sid: alice, event: { type: "bye" } },
      { type: "close", sid: alice, code: 1000, reason: "bye" },
      { type: "send", sid: bob, event: { type: "partner_left", name: "Alice", reason: "disconnected" } },
    ]);
    expect(state.users.has("alice")).toBe(false);
    expect(state.sessions.has(alice!)).toBe(false);
    expect(statusOf(state, "bob")).toBe("available");
    // The close event that follows finds nothing left to do.
    expect(gone(state, alice!).effects).toEqual([]);
  });

  it("lets a socket quit before choosing a name", () => {
    const state = emptyState();
    open(state, "s1");
    const result = act(state, "s1", { type: "quit" });
    expect(result.effects).toEqual([
      { type: "send", sid: "s1", event: { type: "bye" } },
      { type: "close", sid: "s1", code: 1000, reason: "bye" },
    ]);
    expect(state.sessions.size).toBe(0);
  });

  it("withdraws a pending request when the requester quits", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    const result = act(state, alice!, { type: "quit" });
    expect(eventsTo(result, bob!)).toEqual([
      { type: "request_ended", name: "alice", role: "received", reason: "offline" },
    ]);
    expect(state.requests.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe("status changes for presence", () => {
  const touchedBy = (result: StepResult) => [...result.touched.entries()].sort();

  it("names a user who logs in", () => {
    const { state } = lobby("alice");
    open(state, "s-bob");
    expect(touchedBy(login(state, "s-bob", "Bob"))).toEqual([["bob", "Bob"]]);
  });

  it("names both sides of a request, an answer, an exit and an expiry", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    const both = [["alice", "alice"], ["bob", "bob"]];
    expect(touchedBy(connect(state, alice!, "bob"))).toEqual(both);
    expect(touchedBy(answer(state, bob!, true))).toEqual(both);
    expect(touchedBy(act(state, alice!, { type: "exit" }))).toEqual(both);
    connect(state, alice!, "bob");
    expect(touchedBy(tick(state, NOW + 60_000))).toEqual(both);
  });

  it("names a departing user under the name it had, and its partner", () => {
    const { state, sids: [alice] } = lobby("Alice", "bob");
    pair(state, "alice", "bob");
    expect(touchedBy(gone(state, alice!))).toEqual([["alice", "Alice"], ["bob", "bob"]]);
  });

  it("names nobody for a relayed message, a list or a refused request", () => {
    const { state, sids: [alice, , carol] } = lobby("alice", "bob", "carol");
    pair(state, "alice", "bob");
    expect(touchedBy(say(state, alice!, "hi"))).toEqual([]);
    expect(touchedBy(act(state, alice!, { type: "list" }))).toEqual([]);
    expect(touchedBy(connect(state, carol!, "bob"))).toEqual([]);
  });
});

describe("restore after hibernation", () => {
  /**
   * What the Lobby would read back after a wake: the stored users and requests (copies), and sessions only for
   * the sockets that are still alive.
   */
  function wake(state: State, liveSids: string[], now = NOW) {
    const sessions = new Map<string, Session>();
    for (const sid of liveSids) {
      const session = state.sessions.get(sid);
      if (session) sessions.set(sid, { ...session });
    }
    const users = new Map<string, User>([...state.users].map(([k, u]) => [k, { ...u }]));
    const requests = new Map<string, PendingRequest>([...state.requests].map(([k, r]) => [k, { ...r }]));
    return restore(sessions, users, requests, now, CONFIG);
  }

  it("rebuilds a consistent state without effects or writes", () => {
    const { state, sids } = lobby("alice", "bob", "carol", "dave", "erin");
    pair(state, "alice", "bob");
    request(state, "carol", "dave");
    connect(state, sidOf("erin"));
    const { state: restored, result } = wake(state, sids);
    expect(result.effects).toEqual([]);
    expect(dirtyOf(result)).toEqual(clean);
    expect(restored.users).toEqual(state.users);
    expect(restored.requests).toEqual(state.requests);
    expect(restored.sessions).toEqual(state.sessions);
    expect(inputMode(restored, sidOf("erin"))).toBe("target");
  });

  it("rebuilds the outgoing index from the requests", () => {
    const { state, sids } = lobby("alice", "Bob", "carol");
    request(state, "alice", "bob");
    const { state: restored } = wake(state, sids);
    expect(restored.outgoing).toEqual(new Map([["alice", "bob"]]));
    expect(statusOf(restored, "alice")).toBe("pending");
    // The index is live: a second request is refused and cancel finds the first.
    expect(eventsTo(connect(restored, sids[0]!, "carol"), sids[0]!)).toEqual([
      { type: "request_failed", reason: "pending", to: "Bob" },
    ]);
    expect(eventsTo(act(restored, sids[0]!, { type: "cancel" }), sids[1]!)).toEqual([
      { type: "request_ended", name: "alice", role: "received", reason: "withdrawn" },
    ]);
  });

  it("departs a user whose socket died while the object was down and tells the partner", () => {
    const { state, sids: [alice, bob, carol] } = lobby("Alice", "bob", "carol");
    pair(state, "alice", "bob");
    const { state: restored, result } = wake(state, [bob!, carol!]);
    expect(eventsTo(result, bob!)).toEqual([{ type: "partner_left", name: "Alice", reason: "disconnected" }]);
    expect(eventsTo(result, carol!)).toEqual([]);
    expect(restored.users.has("alice")).toBe(false);
    expect(restored.sessions.has(alice!)).toBe(false);
    expect(restored.users.get("bob")?.peer).toBeNull();
    expect(dirtyOf(result)).toMatchObject({ users: ["alice", "bob"], links: ["bob"] });
    // The ghost's name is free again.
    open(restored, "s-new");
    expect(eventsTo(login(restored, "s-new", "alice"), "s-new")[0]?.type).toBe("welcome");
  });

  it("tells the target when a ghost had asked it", () => {
    const { state, sids: [, bob] } = lobby("Alice", "bob");
    request(state, "alice", "bob");
    const { state: restored, result } = wake(state, [bob!]);
    expect(eventsTo(result, bob!)).toEqual([
      { type: "request_ended", name: "Alice", role: "received", reason: "offline" },
    ]);
    expect(restored.requests.size).toBe(0);
    expect(restored.outgoing.size).toBe(0);
    expect(inputMode(restored, bob!)).toBe("command");
    expect(dirtyOf(result)).toMatchObject({ users: [], links: ["bob"] });
  });

  it("tells the requester when a ghost had been asked", () => {
    const { state, sids: [alice] } = lobby("alice", "Bob");
    request(state, "alice", "bob");
    const { state: restored, result } = wake(state, [alice!]);
    expect(eventsTo(result, alice!)).toEqual([{ type: "request_ended", name: "Bob", role: "sent", reason: "offline" }]);
    expect(restored.requests.size).toBe(0);
    expect(restored.outgoing.size).toBe(0);
    expect(statusOf(restored, "alice")).toBe("available");
  });

  it("departs every ghost when the whole lobby went down", () => {
    const { state } = lobby("alice", "bob", "carol");
    pair(state, "alice", "bob");
    const { state: restored } = wake(state, []);
    expect(restored.users.size).toBe(0);
    expect(restored.sessions.size).toBe(0);
    expect(restored.requests.size).toBe(0);
  });

  it("drops stale requests that point at missing users", () => {
    const { state, sids } = lobby("alice", "bob");
    const requests = new Map<string, PendingRequest>([
      ["zed", { from: "alice", deadline: NOW }],
      ["bob", { from: "nobody", deadline: NOW }],
    ]);
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { state: restored, result } = restore(sessions, new Map(state.users), requests, NOW, CONFIG);
    expect(restored.requests.size).toBe(0);
    expect(restored.outgoing.size).toBe(0);
    expect(dirtyOf(result)).toEqual({ ...clean, links: ["bob", "zed"] });
    expect(statusOf(restored, "alice")).toBe("available");
    expect(inputMode(restored, sids[1]!)).toBe("command");
  });

  it("tells the target of a stored request whose requester has no user row", () => {
    const { state, sids: [, bob] } = lobby("alice", "bob");
    const requests = new Map<string, PendingRequest>([["bob", { from: "nobody", deadline: NOW }]]);
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { result } = restore(sessions, new Map(state.users), requests, NOW, CONFIG);
    expect(eventsTo(result, bob!)).toEqual([{ type: "request_ended", name: "nobody", role: "received", reason: "offline" }]);
  });

  it("departs a ghost without touching a live socket that shares its socket id", () => {
    const { state, sids: [alice] } = lobby("alice");
    open(state, "s-live");
    const users = new Map<string, User>([
      ["alice", { name: "alice", sid: alice!, peer: null }],
      ["ghost", { name: "ghost", sid: "s-live", peer: null }],
    ]);
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { state: restored } = restore(sessions, users, new Map(), NOW, CONFIG);
    expect(restored.users.has("ghost")).toBe(false);
    expect(restored.sessions.get("s-live")).toEqual({ key: null, awaitingTarget: false });
    expect(inputMode(restored, "s-live")).toBe("name");
  });

  it("keeps only one outgoing request per requester", () => {
    const { state } = lobby("alice", "bob", "carol");
    const requests = new Map<string, PendingRequest>([
      ["bob", { from: "alice", deadline: NOW }],
      ["carol", { from: "alice", deadline: NOW }],
    ]);
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { state: restored, result } = restore(sessions, new Map(state.users), requests, NOW, CONFIG);
    expect(restored.requests.size).toBe(1);
    expect(restored.outgoing).toEqual(new Map([["alice", [...restored.requests.keys()][0]]]));
    expect(result.dirty.links.size).toBe(1);
  });

  it("clears a chat only one side remembers and tells that side", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "Bob");
    const users = new Map<string, User>([
      ["alice", { name: "alice", sid: alice!, peer: "bob" }],
      ["bob", { name: "Bob", sid: bob!, peer: null }],
    ]);
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { state: restored, result } = restore(sessions, users, new Map(), NOW, CONFIG);
    expect(result.effects).toEqual([
      { type: "send", sid: alice, event: { type: "partner_left", name: "Bob", reason: "disconnected" } },
    ]);
    expect(restored.users.get("alice")?.peer).toBeNull();
    expect(dirtyOf(result)).toEqual({ ...clean, users: ["alice"] });
    expect(inputMode(restored, alice!)).toBe("command");
  });

  it("clears a chat with a partner who has no user row", () => {
    const { state, sids: [alice] } = lobby("alice");
    const users = new Map<string, User>([["alice", { name: "alice", sid: alice!, peer: "zed" }]]);
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { state: restored, result } = restore(sessions, users, new Map(), NOW, CONFIG);
    expect(eventsTo(result, alice!)).toEqual([{ type: "partner_left", name: "zed", reason: "disconnected" }]);
    expect(restored.users.get("alice")?.peer).toBeNull();
  });

  it("asks a live socket whose user row was lost to choose a name again", () => {
    const { state, sids: [alice] } = lobby("alice");
    const sessions = new Map([...state.sessions].map(([sid, s]) => [sid, { ...s }]));
    const { state: restored, result } = restore(sessions, new Map(), new Map(), NOW, CONFIG);
    expect(result.effects).toEqual([{ type: "send", sid: alice, event: { type: "ask_name" } }]);
    expect(restored.sessions.get(alice!)?.key).toBeNull();
    expect(dirtyOf(result)).toEqual({ ...clean, sessions: [alice!] });
    expect(inputMode(restored, alice!)).toBe("name");
  });

  it("expires a request whose deadline passed while the object slept", () => {
    const { state, sids } = lobby("alice", "bob");
    request(state, "alice", "bob");
    const { state: restored } = wake(state, sids, NOW + 120_000);
    // restore keeps the request; the next tick, which the alarm drives, ends it on both sides.
    const result = tick(restored, NOW + 120_000);
    expect(recipients(result)).toEqual([...sids].sort());
    expect(restored.requests.size).toBe(0);
  });
});

describe("engaged", () => {
  it("is true while a request is pending or a chat goes on, so that the Lobby sweeps often", () => {
    const { state } = lobby("alice", "bob");
    expect(engaged(state)).toBe(false);
    request(state, "alice", "bob");
    // A pending request alone: a silent target keeps its requester waiting.
    expect(engaged(state)).toBe(true);
  });
});
