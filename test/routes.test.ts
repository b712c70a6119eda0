// Which sockets a step may reroute, and when two attachments alone prove a chat (src/routes.ts).

import { describe, expect, it } from "vitest";
import { agree, rerouted } from "../src/routes";
import { chatRoute } from "../src/rules";
import type { Attachment } from "../src/sockets";
import { answer, connect, gone, lobby, pair, sidOf } from "./support/rules";

const att = (sid: string, fields: Partial<Attachment> = {}): Attachment => ({
  sid,
  dialect: "text",
  key: sid,
  name: sid,
  awaitingTarget: false,
  heardAt: 0,
  ip: null,
  ...fields,
});

describe("agree", () => {
  it("holds when each attachment names the other and the partner is logged in and has not left", () => {
    expect(agree(att("a", { to: "b" }), att("b", { to: "a" }))).toBe(true);
  });

  it("fails on a one-sided route, a partner who left or logged out, or a sender with no name", () => {
    expect(agree(att("a", { to: "b" }), att("b"))).toBe(false);
    expect(agree(att("a", { to: "b" }), att("b", { to: "c" }))).toBe(false);
    expect(agree(att("a", { to: "b" }), att("b", { to: "a", gone: true }))).toBe(false);
    expect(agree(att("a", { to: "b" }), att("b", { to: "a", key: null }))).toBe(false);
    expect(agree(att("a", { to: "b", name: undefined }), att("b", { to: "a" }))).toBe(false);
    expect(agree(att("a", { to: "c" }), att("b", { to: "a" }))).toBe(false);
  });
});

describe("rerouted", () => {
  it("names both sockets of a chat that begins, and of one that ends, and no bystander", () => {
    const { state } = lobby("alice", "bob", "carol");
    connect(state, sidOf("alice"), "bob");
    const accepted = answer(state, sidOf("bob"), true);
    const begun = rerouted(state, accepted.dirty);
    expect(begun).toEqual(new Set([sidOf("alice"), sidOf("bob")]));
    for (const sid of begun) expect(chatRoute(state, sid)).not.toBeNull();

    const left = gone(state, sidOf("bob"));
    const ended = rerouted(state, left.dirty);
    expect(ended.has(sidOf("alice"))).toBe(true);
    expect(ended.has(sidOf("carol"))).toBe(false);
    expect(chatRoute(state, sidOf("alice"))).toBeNull();
  });

  it("names nothing for a step that changed nothing", () => {
    const { state } = lobby("alice", "bob");
    pair(state, "alice", "bob");
    const idle = { users: new Set<string>(), links: new Set<string>(), sessions: new Set<string>(), away: new Set<string>() };
    expect(rerouted(state, idle).size).toBe(0);
  });
});
