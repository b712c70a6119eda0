// The wire protocol: parsing both dialects, rendering every event, names and frame sizes.

import { describe, expect, it } from "vitest";
import { type Action, type ServerEvent, messageJson, parseAction as parseJson, utf8Length } from "../public/wire/protocol.js";
import { type InputMode, messageLine, parseText, partnerText as chatLine, render, renderText } from "../public/wire/text.js";
import { NAME_MAX_CHARS, checkName, nameKey } from "../public/wire/names.js";
import { relayedFrame } from "../src/relay";
import { DEFAULT_CONFIG, limitsOf } from "../src/config";

const LIMITS = limitsOf(DEFAULT_CONFIG);
const invalid = (code: string) => ({ type: "invalid", code, message: expect.any(String) });

describe("parseText in command mode", () => {
  const parse = (line: string) => parseText(line, "command");

  it.each<[string, Action]>([
    ["connect bob", { type: "connect", to: "bob" }],
    ["CONNECT Bob", { type: "connect", to: "Bob" }],
    ["/connect bob", { type: "connect", to: "bob" }],
    ["  /Connect   Bob  ", { type: "connect", to: "Bob" }],
    ["connect\tbob", { type: "connect", to: "bob" }],
    ["c bob", { type: "connect", to: "bob" }],
    ["connect", { type: "connect" }],
    ["/connect", { type: "connect" }],
    ["list", { type: "list" }],
    ["LIST", { type: "list" }],
    ["/who", { type: "list" }],
    ["help", { type: "help" }],
    ["/HELP", { type: "help" }],
    ["?", { type: "help" }],
    ["exit", { type: "exit" }],
    ["Exit", { type: "exit" }],
    ["cancel", { type: "cancel" }],
    ["/CANCEL", { type: "cancel" }],
    ["quit", { type: "quit" }],
    ["Quit", { type: "quit" }],
    ["y", { type: "answer", accept: true }],
    ["YES", { type: "answer", accept: true }],
    ["n", { type: "answer", accept: false }],
    ["No", { type: "answer", accept: false }],
  ])("reads %j as a command", (line, action) => {
    expect(parse(line)).toEqual(action);
  });

  it("strips a trailing line ending before reading the command", () => {
    expect(parse("connect bob\r\n")).toEqual({ type: "connect", to: "bob" });
    expect(parse("list\n")).toEqual({ type: "list" });
  });

  it("keeps the rest of the line as the target name", () => {
    expect(parse("connect bob smith")).toEqual({ type: "connect", to: "bob smith" });
  });

  it.each(["dance", "hello there", "/dance", "connectbob"])("answers %j with unknown_command", (line) => {
    expect(parse(line)).toEqual(invalid("unknown_command"));
  });

  it("names the unknown command in the error", () => {
    const action = parse("dance with me");
    expect(action.type === "invalid" && action.message).toContain('"dance"');
  });

  it("keeps control characters and length out of the echoed command", () => {
    const action = parse(`be\u0007ep${"x".repeat(100)}`);
    expect(action.type).toBe("invalid");
    const message = action.type === "invalid" ? action.message : "";
    expect(message).not.toMatch(/\p{C}/u);
    expect(message).toContain('"be?ep');
    expect(message.length).toBeLessThan(100);
  });

  it.each(["", "   ", "/", "\r\n"])("answers an empty command %j with unknown_command", (line) => {
    expect(parse(line)).toEqual(invalid("unknown_command"));
  });
});

describe("parseText in name mode", () => {
  const parse = (line: string) => parseText(line, "name");

  it("reads the line as the name to log in with", () => {
    expect(parse("Alice")).toEqual({ type: "login", name: "Alice" });
    expect(parse("Alice\r\n")).toEqual({ type: "login", name: "Alice" });
    expect(parse("alice smith")).toEqual({ type: "login", name: "alice smith" });
  });

  it("still understands help and quit, in any case, with or without a slash", () => {
    expect(parse("help")).toEqual({ type: "help" });
    expect(parse("HELP")).toEqual({ type: "help" });
    expect(parse("Quit\n")).toEqual({ type: "quit" });
    expect(parse("/quit")).toEqual({ type: "quit" });
  });

  it("reads a slash command as a command, for the rules to refuse before login", () => {
    expect(parse("/list")).toEqual({ type: "list" });
    expect(parse("/connect bob")).toEqual({ type: "connect", to: "bob" });
  });
});

describe("echoing input back", () => {
  const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

  it("never cuts an echoed word inside a surrogate pair (that frame would not be UTF-8)", () => {
    for (let pad = 0; pad < 4; pad++) {
      const word = "x".repeat(pad) + "😀".repeat(40);
      const text = parseText(word, "command");
      expect(text.type === "invalid" && text.message).not.toMatch(loneSurrogate);
      const json = parseJson(JSON.stringify({ type: word }));
      expect(json.type === "invalid" && json.message).not.toMatch(loneSurrogate);
    }
  });
});

describe("parseText: sentences that start with a command word", () => {
  it.each(["quit teasing me", "no way", "yes please", "exit stage left", "/quit now", "help me out", "list them"])(
    "refuses %j in command mode instead of running the command",
    (line) => {
      const action = parseText(line, "command");
      expect(action).toMatchObject({ type: "invalid", code: "unknown_command" });
      expect(action.type === "invalid" && action.message).toContain("takes nothing after it");
    },
  );

  it("still reads connect with a name, and lone commands", () => {
    expect(parseText("connect bob", "command")).toEqual({ type: "connect", to: "bob" });
    expect(parseText("quit", "command")).toEqual({ type: "quit" });
    expect(parseText(" No ", "command")).toEqual({ type: "answer", accept: false });
  });
});

describe("parseText just after a chat ended", () => {
  it.each(["quit", "exit", "see you!", "quit teasing me", "connect", "y", "no way", "connect with me later"])(
    "refuses %j, which was typed for the partner who left",
    (line) => {
      expect(parseText(line, "ended")).toMatchObject({ type: "invalid", code: "chat_ended" });
    },
  );

  it.each<[string, Action]>([
    ["connect carol", { type: "connect", to: "carol" }],
    ["/connect carol", { type: "connect", to: "carol" }],
    ["list", { type: "list" }],
    ["/who", { type: "list" }],
    ["help", { type: "help" }],
    ["cancel", { type: "cancel" }],
    ["block tom", { type: "block", name: "tom" }],
    ["away", { type: "away" }],
    ["/quit", { type: "quit" }],
  ])("runs %j, a whole command or a /command, at once", (line, action) => {
    expect(parseText(line, "ended")).toEqual(action);
  });
});

describe("parseText in target mode", () => {
  const parse = (line: string) => parseText(line, "target");

  it("reads the line as the name to connect with", () => {
    expect(parse("bob")).toEqual({ type: "connect", to: "bob" });
    expect(parse("  Bob \r\n")).toEqual({ type: "connect", to: "Bob" });
  });

  it.each<[string, Action]>([
    ["cancel", { type: "cancel" }],
    ["CANCEL", { type: "cancel" }],
    ["help", { type: "help" }],
    ["quit", { type: "quit" }],
    ["List", { type: "list" }],
    ["who", { type: "list" }],
    ["/exit", { type: "exit" }],
    ["/connect carol", { type: "connect", to: "carol" }],
    ["connect carol", { type: "connect", to: "carol" }],
    ["Connect  Carol", { type: "connect", to: "Carol" }],
  ])("still reads %j as a command", (line, action) => {
    expect(parse(line)).toEqual(action);
  });
});

describe("parseText in answer mode", () => {
  const parse = (line: string) => parseText(line, "answer");

  it.each(["y", "Y", "yes", "YES", "Yes", " y ", "y\r\n"])("reads %j as accept", (line) => {
    expect(parse(line)).toEqual({ type: "answer", accept: true });
  });

  it.each(["n", "N", "no", "NO", "No", "n\n"])("reads %j as decline", (line) => {
    expect(parse(line)).toEqual({ type: "answer", accept: false });
  });

  it.each(["maybe", "yep", "", "ok"])("answers %j with bad_answer", (line) => {
    expect(parse(line)).toEqual(invalid("bad_answer"));
  });

  it("still reads a slash command as a command", () => {
    expect(parse("/help")).toEqual({ type: "help" });
    expect(parse("/list")).toEqual({ type: "list" });
    expect(parse("/quit")).toEqual({ type: "quit" });
  });
});

describe("parseText in chat mode", () => {
  const parse = (line: string) => parseText(line, "chat");

  it.each(["exit", "EXIT", " Exit ", "exit\r\n", "/exit"])("reads %j as leaving the chat", (line) => {
    expect(parse(line)).toEqual({ type: "exit" });
  });

  it.each(["hello", "help me", "list", "quit", "y", "connect with me later", "exit now", "I said exit", "block tom"])(
    "sends %j to the partner as a message",
    (line) => {
      expect(parse(line)).toEqual({ type: "say", text: line });
    },
  );

  it.each<[string, Action]>([
    ["connect", { type: "connect" }],
    ["connect carol", { type: "connect", to: "carol" }],
    [" Connect  Carol ", { type: "connect", to: "Carol" }],
  ])("reads %j as the command, which the rules answer with exit-first", (line, action) => {
    expect(parse(line)).toEqual(action);
  });

  it("keeps the message as typed apart from the trailing line ending", () => {
    expect(parse("  spaced out  \r\n")).toEqual({ type: "say", text: "  spaced out  " });
    expect(parse("two\nlines\n")).toEqual({ type: "say", text: "two\nlines" });
  });

  it("reads a slash command as a command even inside a chat", () => {
    expect(parse("/list")).toEqual({ type: "list" });
    expect(parse("/help")).toEqual({ type: "help" });
    expect(parse("/QUIT")).toEqual({ type: "quit" });
    expect(parse("/shrug")).toEqual(invalid("unknown_command"));
  });
});

describe("the relay's shortcuts agree with the general path", () => {
  const lines = [
    "hello", "help me", "exit now", "  spaced out  \r\n", "two\nlines\n", "tab\there", "exit", " EXIT\n", "/list",
    "/exit", "", "   ", "\n", "\u001b[2J", "rtl \u202e", "ünïcødé 🙂", "/", "exit\r\n",
  ];

  it.each(lines)("partnerText(%j) is the text parseText sends, or null where it sends nothing", (frame) => {
    const action = parseText(frame, "chat");
    const sent = action.type === "say" && action.text.trim() !== "" ? action.text : null;
    expect(chatLine(frame)).toBe(sent);
  });

  it.each(lines)("messageJson(from, %j) is render's JSON frame, and messageLine its text frame or null", (text) => {
    for (const from of ["bob", 'b"ob\\', "🙂 ünï"]) {
      const event = { type: "message", from, text } as const;
      expect(messageJson(from, text)).toBe(render(event, "json"));
      expect(JSON.parse(messageJson(from, text))).toEqual(event);
      const line = messageLine(from, text);
      if (line === null) expect(render(event, "text")).not.toEqual(`${from}: ${text}`);
      else expect(render(event, "text")).toEqual(line);
    }
  });

  it.each(lines)("relayedFrame(%j) is what parsing and rendering would send the partner, or null", (text) => {
    // A JSON line comes numbered (clients that resume) or not; the number goes on to the partner.
    for (const [from, seq] of [["text", undefined], ["json", undefined], ["json", 7]] as const) {
      const frame = from === "text" ? text : JSON.stringify({ type: "say", text, seq });
      const action = from === "text" ? parseText(frame, "chat") : parseJson(frame);
      const said = action.type === "say" && action.text.trim() !== "" ? action : null;
      for (const toDialect of ["text", "json"] as const) {
        const out = relayedFrame(frame, from, { to: null, toDialect, from: "alice" });
        const message: ServerEvent | null = said && (said.seq === undefined ? { type: "message", from: "alice", text: said.text } : { type: "message", from: "alice", text: said.text, seq: said.seq });
        if (from === "json" && seq !== undefined && said) expect(said.seq).toBe(seq);
        const general = message === null ? null : render(message, toDialect);
        // Null may only mean "take the general path": then that path must do more than a plain one-line relay.
        if (out === null) expect(general === null || toDialect === "text").toBe(true);
        else expect(out).toBe(general);
      }
    }
  });

  it.each(lines.filter((l) => l.trim() !== ""))("messageLine(bob, %j) is renderText's one frame, or null where it splits or cleans", (text) => {
    const frames = renderText({ type: "message", from: "bob", text });
    const line = messageLine("bob", text);
    if (line === null) expect(frames.length > 1 || frames[0] !== `bob: ${text}`).toBe(true);
    else expect(frames).toEqual([line]);
  });
});

describe("parseText in every mode", () => {
  const modes: InputMode[] = ["name", "target", "answer", "chat", "command"];

  it.each(modes)("reads /help and /quit as commands in %s mode", (mode) => {
    expect(parseText("/help", mode)).toEqual({ type: "help" });
    expect(parseText("/Quit\r\n", mode)).toEqual({ type: "quit" });
  });
});

describe("parseJson", () => {
  it.each<[string, Action]>([
    ['{"type":"login","name":"alice"}', { type: "login", name: "alice" }],
    ['{"type":"connect","to":"bob"}', { type: "connect", to: "bob" }],
    ['{"type":"connect"}', { type: "connect" }],
    ['{"type":"answer","accept":true}', { type: "answer", accept: true }],
    ['{"type":"answer","accept":false}', { type: "answer", accept: false }],
    ['{"type":"say","text":"hi\\nthere"}', { type: "say", text: "hi\nthere" }],
    ['{"type":"exit"}', { type: "exit" }],
    ['{"type":"cancel"}', { type: "cancel" }],
    ['{"type":"list"}', { type: "list" }],
    ['{"type":"help"}', { type: "help" }],
    ['{"type":"quit"}', { type: "quit" }],
  ])("reads %s", (frame, action) => {
    expect(parseJson(frame)).toEqual(action);
  });

  it("ignores fields an action does not use", () => {
    expect(parseJson('{"type":"exit","to":"bob","extra":[1,2]}')).toEqual({ type: "exit" });
  });

  it.each(["", "{", "hello", "{'type':'help'}", '{"type":"help",}'])("answers %j with bad_json", (frame) => {
    expect(parseJson(frame)).toEqual(invalid("bad_json"));
  });

  it.each(["null", "[]", '[{"type":"help"}]', "42", "true", '"help"'])("answers %s with bad_action", (frame) => {
    expect(parseJson(frame)).toEqual(invalid("bad_action"));
  });

  it.each([
    '{"type":"login"}',
    '{"type":"login","name":5}',
    '{"type":"connect","to":null}',
    '{"type":"connect","to":7}',
    '{"type":"answer"}',
    '{"type":"answer","accept":"yes"}',
    '{"type":"answer","accept":1}',
    '{"type":"say"}',
    '{"type":"say","text":["hi"]}',
  ])("answers a wrongly typed field in %s with bad_action", (frame) => {
    expect(parseJson(frame)).toEqual(invalid("bad_action"));
  });

  it.each(['{"type":"dance"}', '{"type":"HELP"}', '{"type":"invalid","code":"bad_answer","message":"x"}'])(
    "answers an unknown type in %s with bad_action naming it",
    (frame) => {
      const action = parseJson(frame);
      expect(action).toEqual(invalid("bad_action"));
      expect(action.type === "invalid" && action.message).toMatch(/Unknown action type/);
    },
  );

  it.each(["{}", '{"type":5}', '{"type":null}'])("asks for a string type when %s has none", (frame) => {
    const action = parseJson(frame);
    expect(action).toEqual(invalid("bad_action"));
    expect(action.type === "invalid" && action.message).toContain('"type"');
  });

  it("treats a __proto__ key as plain data", () => {
    expect(parseJson('{"__proto__":{"type":"quit"}}')).toEqual(invalid("bad_action"));
    expect(parseJson('{"type":"login","name":"alice","__proto__":{"name":5}}')).toEqual({
      type: "login",
      name: "alice",
    });
    expect(parseJson('{"type":"__proto__"}')).toEqual(invalid("bad_action"));
    // Copied with Object.assign or a merge, a "__proto__" key would become the action's prototype: it must stay data.
    const action = parseJson('{"type":"login","name":"alice","__proto__":{"type":"quit","admin":true}}');
    expect(action).toEqual({ type: "login", name: "alice" });
    expect(Object.getPrototypeOf(action)).toBe(Object.prototype);
    expect((action as Record<string, unknown>).admin).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

/** One example of every event; the mapped type makes the compiler flag an event type left out here. */
const EXAMPLES: { [K in ServerEvent["type"]]: Extract<ServerEvent, { type: K }>[] } = {
  ask_name: [{ type: "ask_name" }],
  check: [{ type: "check", token: "4821", unread: 131_072 }],
  typing: [{ type: "typing", from: "bob" }],
  seen: [{ type: "seen", seq: 12 }],
  resumed: [
    {
      type: "resumed",
      name: "alice",
      resume: { token: "t0k3n", graceMs: 30_000 },
      partner: "bob",
      request: null,
      missed: [{ type: "partner_left", name: "bob", reason: "exit" }],
    },
  ],
  resume_failed: [{ type: "resume_failed" }],
  partner_away: [{ type: "partner_away", name: "maya", graceMs: 30_000 }],
  partner_back: [
    { type: "partner_back", name: "maya", seen: 7 },
    { type: "partner_back", name: "maya", seen: null },
  ],
  availability: [
    { type: "availability", taking: false },
    { type: "availability", taking: true },
  ],
  blocked: [
    { type: "blocked", names: [] },
    { type: "blocked", names: ["tom", "bob"] },
    { type: "blocked", names: ["tom"], changed: { name: "tom", blocked: true } },
    { type: "blocked", names: [], changed: { name: "tom", blocked: false } },
  ],
  name_rejected: [
    { type: "name_rejected", name: "Alice", reason: "taken", detail: "someone online already has that name" },
    { type: "name_rejected", name: "al ice", reason: "invalid", detail: "spaces not allowed" },
  ],
  welcome: [{ type: "welcome", name: "alice", limits: LIMITS }],
  ask_target: [{ type: "ask_target" }],
  request_failed: [
    { type: "request_failed", reason: "self" },
    { type: "request_failed", reason: "in_chat", partner: "bob" },
    { type: "request_failed", reason: "pending", to: "bob" },
    { type: "request_failed", reason: "answer_first", from: "carol" },
    { type: "request_failed", reason: "offline", to: "zed" },
    { type: "request_failed", reason: "busy", to: "bob" },
  ],
  request_sent: [{ type: "request_sent", to: "bob", expiresInMs: 60_000 }],
  incoming_request: [{ type: "incoming_request", from: "alice", expiresInMs: 60_000 }],
  request_declined: [{ type: "request_declined", by: "bob" }],
  you_declined: [{ type: "you_declined", from: "alice" }],
  request_ended: [
    { type: "request_ended", name: "alice", role: "received", reason: "withdrawn" },
    { type: "request_ended", name: "alice", role: "received", reason: "offline" },
    { type: "request_ended", name: "bob", role: "sent", reason: "offline" },
    { type: "request_ended", name: "bob", role: "sent", reason: "expired" },
    { type: "request_ended", name: "alice", role: "received", reason: "expired" },
  ],
  cancelled: [
    { type: "cancelled", to: "bob" },
    { type: "cancelled", to: null },
  ],
  connected: [{ type: "connected", with: "bob" }],
  message: [{ type: "message", from: "alice", text: "hello" }],
  partner_left: [
    { type: "partner_left", name: "alice", reason: "exit" },
    { type: "partner_left", name: "alice", reason: "disconnected" },
  ],
  you_left: [{ type: "you_left", with: "bob" }],
  users: [
    {
      type: "users",
      you: "alice",
      total: 2,
      users: [
        { name: "alice", status: "available" },
        { name: "bob", status: "busy" },
      ],
    },
  ],
  presence: [
    {
      type: "presence",
      changes: [
        { name: "alice", status: "busy" },
        { name: "zed", status: "offline" },
      ],
    },
  ],
  help: [{ type: "help" }],
  bye: [{ type: "bye" }],
  error: [{ type: "error", code: "not_in_chat", message: "You are not in a chat" }],
};

const ALL_EVENTS: ServerEvent[] = Object.values(EXAMPLES).flat();
/** Presence is pushed to JSON clients only; text users ask with `list`. */
const TEXT_EVENTS = ALL_EVENTS.filter((e) => e.type !== "presence" && e.type !== "typing" && e.type !== "seen");

describe("renderText", () => {
  const text = (event: ServerEvent) => renderText(event).join("\n");

  it("renders presence, typing and seen as nothing: they are for the JSON dialect", () => {
    expect(renderText(EXAMPLES.presence![0]!)).toEqual([]);
    expect(renderText(EXAMPLES.typing![0]!)).toEqual([]);
    expect(renderText(EXAMPLES.seen![0]!)).toEqual([]);
  });

  it.each(TEXT_EVENTS.map((e) => [JSON.stringify(e), e] as const))(
    "renders %s as non-empty single lines",
    (_, event) => {
      const lines = renderText(event);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line.trim()).not.toBe("");
        expect(line).not.toMatch(/[\r\n]/);
      }
    },
  );

  it("uses the sentences of the rules word for word (R1-R3, R5-R8, R11, R12)", () => {
    expect(text({ type: "incoming_request", from: "alice", expiresInMs: 60_000 })).toBe(
      "alice is trying to connect with you (y/n)",
    );
    expect(text({ type: "request_declined", by: "bob" })).toBe("bob declined connection request");
    expect(text({ type: "connected", with: "bob" })).toBe("You are now connected with bob");
    expect(text({ type: "partner_left", name: "alice", reason: "exit" })).toBe("alice has left the chat");
    expect(text({ type: "partner_left", name: "alice", reason: "disconnected" })).toContain("alice has left the chat");
    expect(text({ type: "request_failed", reason: "offline", to: "zed" })).toBe("zed is not online");
    expect(text({ type: "request_failed", reason: "busy", to: "bob" })).toBe("bob is busy in a conversation");
    expect(text({ type: "request_failed", reason: "self" })).toBe("You can't connect with yourself");
    expect(text({ type: "request_failed", reason: "in_chat", partner: "bob" })).toContain("exit that connection first");
    expect(text({ type: "request_failed", reason: "in_chat", partner: "bob" })).toContain("bob");
    expect(text({ type: "name_rejected", name: "Alice", reason: "taken", detail: "" })).toBe("Username Alice is taken");
  });

  it("names the people and the way out in the other request outcomes", () => {
    expect(text({ type: "request_failed", reason: "pending", to: "bob" })).toMatch(/bob.*cancel/);
    expect(text({ type: "request_failed", reason: "answer_first", from: "carol" })).toMatch(/carol.*\(y\/n\)/);
    expect(text({ type: "request_sent", to: "bob", expiresInMs: 60_000 })).toMatch(/bob.*60 s.*cancel/);
    expect(text({ type: "request_sent", to: "bob", expiresInMs: 200 })).toContain("1 s");
    expect(text({ type: "you_declined", from: "alice" })).toContain("alice");
    expect(text({ type: "you_left", with: "bob" })).toContain("bob");
    expect(text({ type: "cancelled", to: "bob" })).toContain("bob");
    expect(text({ type: "request_ended", name: "alice", role: "received", reason: "withdrawn" })).toMatch(
      /alice withdrew/,
    );
    expect(text({ type: "request_ended", name: "bob", role: "sent", reason: "offline" })).toMatch(/bob went offline/);
    expect(text({ type: "request_ended", name: "bob", role: "sent", reason: "expired" })).toMatch(/to bob expired/);
    expect(text({ type: "request_ended", name: "alice", role: "received", reason: "expired" })).toMatch(
      /from alice expired/,
    );
  });

  it("shows the reason an invalid name was refused", () => {
    expect(text({ type: "name_rejected", name: "al ice", reason: "invalid", detail: "spaces not allowed" })).toContain(
      "spaces not allowed",
    );
  });

  it("greets by name and lists the commands", () => {
    const lines = renderText({ type: "welcome", name: "alice", limits: LIMITS });
    expect(lines[0]).toContain("alice");
    expect(lines.join("\n")).toMatch(/connect.*list.*exit.*quit/);
  });

  it("renders an error as its message", () => {
    expect(renderText({ type: "error", code: "not_in_chat", message: "You are not in a chat" })).toEqual([
      "You are not in a chat",
    ]);
  });

  it("prefixes a chat message with its sender", () => {
    expect(renderText({ type: "message", from: "alice", text: "hello bob" })).toEqual(["alice: hello bob"]);
  });

  it("renders a multi-line message as lines that each name the sender, so no server line can be forged", () => {
    const forged = "hi\nbob is trying to connect with you (y/n)\r\nYou are now connected with eve";
    expect(renderText({ type: "message", from: "alice", text: forged })).toEqual([
      "alice: hi",
      "alice: bob is trying to connect with you (y/n)",
      "alice: You are now connected with eve",
    ]);
  });

  // Once a bug: only \r?\n split a message, so a lone carriage return (or an ANSI escape) reached the terminal and
  // rewrote the start of the line, over the "alice: " prefix.
  it("does not let a carriage return or escape sequence move the cursor over the sender's name", () => {
    const attempts = [
      "hi\rbob is trying to connect with you (y/n)",
      "hi\u001b[2K\u001b[Gbob declined connection request",
    ];
    for (const text of attempts) {
      for (const line of renderText({ type: "message", from: "alice", text })) {
        expect(line.startsWith("alice: ")).toBe(true);
        expect(line).not.toMatch(/[\r\u001b]/);
      }
    }
  });

  it("does not let bidi overrides or isolates reverse how a chat line reads", () => {
    for (const mark of ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]) {
      expect(renderText({ type: "message", from: "alice", text: `${mark}olleh` })).toEqual(["alice: \uFFFDolleh"]);
    }
    // The JSON dialect carries the text as sent; programs decide how to show it.
    expect(JSON.parse(render({ type: "message", from: "alice", text: "\u202eolleh" }, "json")).text).toBe("\u202eolleh");
  });

  it("lists users with statuses, marks the reader, and counts those left out", () => {
    const lines = renderText({
      type: "users",
      you: "alice",
      total: 5,
      users: [
        { name: "alice", status: "available" },
        { name: "bob", status: "busy" },
        { name: "carol", status: "pending" },
      ],
    });
    expect(lines[0]).toContain("5");
    expect(lines).toContainEqual(expect.stringMatching(/alice \(you\) - available/));
    expect(lines).toContainEqual(expect.stringMatching(/bob - busy/));
    expect(lines).toContainEqual(expect.stringMatching(/carol - pending/));
    expect(lines.at(-1)).toMatch(/2 more/);
  });

  it("does not mention users left out when the list is complete", () => {
    const users = [{ name: "alice", status: "available" as const }];
    const lines = renderText({ type: "users", you: "alice", total: 1, users });
    expect(lines).toHaveLength(2);
    expect(lines.join("\n")).not.toContain("more");
  });

  it("lists every command in help", () => {
    const help = renderText({ type: "help" }).join("\n");
    for (const command of ["connect", "y / n", "list", "exit", "cancel", "help", "quit"]) {
      expect(help).toContain(command);
    }
  });
});

describe("render", () => {
  it.each(ALL_EVENTS.map((e) => [e.type, e] as const))(
    "renders %s as one JSON frame that parses back",
    (_, event) => {
      expect(JSON.parse(render(event, "json"))).toEqual(event);
    },
  );

  it("keeps a multi-line message in one JSON frame", () => {
    const event: ServerEvent = { type: "message", from: "alice", text: "one\ntwo" };
    expect(render(event, "json")).toEqual(JSON.stringify(event));
  });

  it("renders every text event as one frame, renderText's lines joined by line breaks", () => {
    for (const event of ALL_EVENTS) expect(render(event, "text")).toEqual(renderText(event).join("\n"));
  });

  it("renders a message of 4,095 line breaks as one frame, every line under the sender's name", () => {
    const frame = render({ type: "message", from: "mallory", text: `a${"\n".repeat(4095)}` }, "text");
    const lines = frame.split("\n");
    expect(lines).toHaveLength(4096);
    expect(lines.every((l: string) => l.startsWith("mallory: "))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe("checkName", () => {
  it("accepts letters, digits, underscore, dash and dot", () => {
    for (const name of ["alice", "Bob_2", "x.y-z", "日本語", "Ærøskøbing", "user123", "__proto__"]) {
      expect(checkName(name)).toEqual({ ok: true, name, key: nameKey(name) });
    }
  });

  it("trims and NFKC-normalises the name", () => {
    expect(checkName("  alice \t")).toMatchObject({ ok: true, name: "alice" });
    expect(checkName("ａｌｉｃｅ")).toMatchObject({ ok: true, name: "alice", key: "alice" });
    expect(checkName("ﬁne")).toMatchObject({ ok: true, name: "fine" });
  });

  it("keeps the case for display but not in the key", () => {
    expect(checkName("Alice")).toEqual({ ok: true, name: "Alice", key: "alice" });
  });

  it("refuses an empty name", () => {
    for (const name of ["", "   ", "\t"]) expect(checkName(name)).toMatchObject({ ok: false, name: "" });
  });

  it(`accepts ${NAME_MAX_CHARS} characters and refuses ${NAME_MAX_CHARS + 1}, counting code points`, () => {
    expect(checkName("a".repeat(NAME_MAX_CHARS)).ok).toBe(true);
    expect(checkName("\u{1D400}".repeat(NAME_MAX_CHARS)).ok).toBe(true); // NFKC: mathematical bold A -> A
    expect(checkName("\u{20000}".repeat(NAME_MAX_CHARS)).ok).toBe(true);
    const long = checkName("a".repeat(NAME_MAX_CHARS + 1));
    expect(long).toMatchObject({ ok: false });
    expect(!long.ok && long.detail).toContain(String(NAME_MAX_CHARS + 1));
  });

  it("refuses spaces inside a name and says so", () => {
    const check = checkName("alice smith");
    expect(check).toMatchObject({ ok: false, name: "alice smith" });
    expect(!check.ok && check.detail).toContain("spaces");
  });

  it("refuses control and invisible characters, naming the code point and echoing a safe name", () => {
    const bell = checkName("al\u0007ice");
    expect(bell).toMatchObject({ ok: false, name: "al?ice" });
    expect(!bell.ok && bell.detail).toContain("U+0007");
    const zeroWidth = checkName("al\u200bice");
    expect(!zeroWidth.ok && zeroWidth.detail).toContain("U+200B");
    const escape = checkName("\u001b[31mred");
    expect(escape.ok).toBe(false);
    expect(escape.name).not.toMatch(/\p{C}/u);
  });

  it("names the punctuation it refuses", () => {
    const check = checkName("alice!");
    expect(!check.ok && check.detail).toContain('"!"');
  });
});

describe("nameKey", () => {
  it("makes names that differ only in case or width collide", () => {
    expect(nameKey("Alice")).toBe("alice");
    expect(nameKey("ALICE")).toBe("alice");
    expect(nameKey("ａｌｉｃｅ")).toBe("alice");
    expect(nameKey("Ａｌｉｃｅ")).toBe("alice");
  });

  it("keeps different names apart", () => {
    expect(nameKey("alice")).not.toBe(nameKey("alice2"));
    expect(nameKey("bob")).not.toBe(nameKey("b.o.b"));
  });

  it("is stable when applied twice", () => {
    for (const name of ["Alice", "ａｌｉｃｅ", "İstanbul", "ΣΊΣΥΦΟΣ", "\u212Aelvin"]) {
      expect(nameKey(nameKey(name))).toBe(nameKey(name));
    }
  });
});

describe("utf8Length", () => {
  const encoder = new TextEncoder();

  it.each([
    ["empty", ""],
    ["ASCII", "hello, world"],
    ["2-byte characters", "é ß Ω \u0080 \u07ff"],
    ["3-byte characters", "€ 中文 \u0800 \uffff"],
    ["4-byte characters", "😀 \u{10000} \u{10ffff}"],
    ["a mix", "a€😀ß\n"],
    ["a lone high surrogate", "\ud83d"],
    ["a lone low surrogate", "\ude00"],
    ["a high surrogate followed by a letter", "\ud83dx"],
    ["a high surrogate at the end", "x\ud83d"],
    ["surrogates in the wrong order", "\ude00\ud83d"],
    ["two high surrogates then a low one", "\ud83d\ud83d\ude00"],
  ])("agrees with TextEncoder for %s", (_, s) => {
    expect(utf8Length(s)).toBe(encoder.encode(s).length);
  });

  it("counts a lone surrogate as the 3 bytes of its replacement character", () => {
    expect(utf8Length("\ud800")).toBe(3);
    expect(utf8Length("\udfff")).toBe(3);
  });
});
