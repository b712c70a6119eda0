// The wire is the one place both ends read their words and facts from: every sentence reads back as itself, so a
// client that reads the text dialect (the load test, a program) and the server can never disagree on a wording.

import { describe, expect, it } from "vitest";
import { SAY, type Sentence, readLine, renderText, say } from "../public/wire/text.js";
import { CloseCode, validCloseCode } from "../public/wire/protocol.js";

const SAMPLE: Record<string, string | number> = {
  name: "alice",
  from: "bob",
  to: "carol",
  by: "dave",
  with: "erin",
  partner: "frank",
  seconds: 60,
  total: 3,
  more: 2,
  max: 4096,
  kib: 128,
  detail: "spaces not allowed; use letters, digits, _ - .",
  text: "hello: there",
  word: "dance",
  token: "4821",
  status: "available",
  wait: 25,
  names: "tom, bob",
};

describe("the text dialect's sentences", () => {
  it.each(Object.keys(SAY) as Sentence[])("reads %s back as itself, with its fields", (sentence) => {
    const line = say(sentence, SAMPLE);
    expect(line).not.toMatch(/\{\w+\}/);
    const read = readLine(line);
    expect(read?.sentence).toBe(sentence);
    for (const [field, value] of Object.entries(read!.fields)) expect(String(SAMPLE[field])).toBe(value);
  });

  it("reads a chat line that looks like a server sentence as the chat line it is", () => {
    expect(readLine("alice: bob is not online")).toEqual({ sentence: "message", fields: { from: "alice", text: "bob is not online" } });
    expect(readLine("alice: Goodbye")).toEqual({ sentence: "message", fields: { from: "alice", text: "Goodbye" } });
  });

  it("reads every line of a rendered event", () => {
    const lines = renderText({ type: "users", you: "alice", users: [{ name: "alice", status: "available" }, { name: "bob", status: "busy" }], total: 5 });
    expect(lines.map((l) => readLine(l)?.sentence)).toEqual(["users_total", "users_you", "users_entry", "users_more"]);
  });

  it("knows nothing of a line that is none of its sentences", () => {
    expect(readLine("what is this")).toBeNull();
  });
});

describe("close codes", () => {
  it("accepts from a client exactly the codes RFC 6455 lets it send", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999]) {
      expect(validCloseCode(code)).toBe(true);
    }
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) expect(validCloseCode(code)).toBe(false);
  });

  it("sends only codes a server may send", () => {
    for (const code of Object.values(CloseCode)) expect(validCloseCode(code)).toBe(true);
  });
});
