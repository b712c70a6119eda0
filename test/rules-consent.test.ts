// Consent that sticks, in the pure rules: cooldowns after a no, no lockout by a pending request, a budget of new
// requests, blocks that read as declines, and not taking requests (docs/RULES.md, rules 13-17).

import { describe, expect, it } from "vitest";
import { BLOCKED_ANSWER_MS, COOLDOWN_MEMORY_MS, blockedAnswerDelay, savedSession, statusOf } from "../src/rules";
import { NOW, act, answer, connect, eventsTo, gone, lobby, login, open, pair, request, sidOf, tick } from "./support/rules";

const refusedBy = (name: string) => ({ type: "request_declined", by: name });

describe("a cooldown after no", () => {
  it("waits 30 s, then 2 min, then 10 min each time the same person says no again", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    let now = NOW;
    request(state, "alice", "bob", now);
    for (const wait of [30_000, 120_000, 600_000, 600_000]) {
      act(state, bob!, { type: "answer", accept: false }, now);
      expect(eventsTo(connect(state, alice!, "bob", now + wait - 1), alice!)).toEqual([
        { type: "request_failed", reason: "cooldown", to: "bob", waitMs: 1 },
      ]);
      now += wait;
      expect(eventsTo(connect(state, alice!, "bob", now), alice!)[0]?.type).toBe("request_sent");
    }
  });

  it("counts an expiry and a withdrawal as a no", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    tick(state, NOW + 60_000);
    expect(eventsTo(connect(state, alice!, "bob", NOW + 60_000), alice!)).toEqual([
      { type: "request_failed", reason: "cooldown", to: "bob", waitMs: 30_000 },
    ]);
    const other = lobby("carol", "dave");
    request(other.state, "carol", "dave");
    act(other.state, sidOf("carol"), { type: "cancel" });
    expect(eventsTo(connect(other.state, sidOf("carol"), "dave"), sidOf("carol"))[0]).toMatchObject({ reason: "cooldown" });
  });

  it("forgets the strikes an hour after the last no: the next wait is the first again", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    answer(state, bob!, false);
    const later = NOW + COOLDOWN_MEMORY_MS;
    request(state, "alice", "bob", later);
    act(state, bob!, { type: "answer", accept: false }, later);
    expect(eventsTo(connect(state, alice!, "bob", later), alice!)).toEqual([
      { type: "request_failed", reason: "cooldown", to: "bob", waitMs: 30_000 },
    ]);
  });

  it("holds whatever case or look-alike spelling the requester uses, and across the requester's reconnect", () => {
    const { state, sids: [alice, bob] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    answer(state, bob!, false);
    for (const name of ["BOB", "Bob", "ｂｏｂ"]) {
      expect(eventsTo(connect(state, alice!, name), alice!)[0]).toMatchObject({ reason: "cooldown", to: "bob" });
    }
    gone(state, alice!);
    open(state, "alice-again");
    login(state, "alice-again", "ALICE");
    expect(eventsTo(connect(state, "alice-again", "bob"), "alice-again")[0]).toMatchObject({ reason: "cooldown" });
  });

  it("is saved with the target's socket, so it survives the Lobby waking from hibernation", () => {
    const { state, sids: [, bob] } = lobby("alice", "bob");
    request(state, "alice", "bob");
    answer(state, bob!, false);
    expect(savedSession(state, bob!)?.refused).toEqual([["alice", NOW + 30_000, 1, NOW]]);
  });
});

describe("no lockout", () => {
  it("lets the target of a pending request ask someone else; the request is declined, and cools down", () => {
    const { state, sids: [mallory, tom, carol] } = lobby("mallory", "tom", "carol");
    request(state, "mallory", "tom");
    const result = connect(state, tom!, "carol");
    expect(eventsTo(result, mallory!)).toEqual([refusedBy("tom")]);
    expect(eventsTo(result, carol!)).toEqual([{ type: "incoming_request", from: "tom", expiresInMs: 60_000 }]);
    act(state, tom!, { type: "cancel" });
    expect(eventsTo(connect(state, mallory!, "tom"), mallory!)[0]).toMatchObject({ reason: "cooldown" });
  });
});

describe("a budget of new requests", () => {
  it("refuses a seventh request within a minute, saying how long to wait, and refills over the minute", () => {
    const names = ["spammer", "a", "b", "c", "d", "e", "f", "g"];
    const { state, sids } = lobby(...names);
    const spammer = sids[0]!;
    for (const target of names.slice(1, 7)) {
      expect(eventsTo(connect(state, spammer, target), spammer)[0]?.type).toBe("request_sent");
      act(state, spammer, { type: "cancel" });
    }
    expect(eventsTo(connect(state, spammer, "g"), spammer)).toEqual([
      { type: "request_failed", reason: "too_many_requests", waitMs: 10_000 },
    ]);
    expect(eventsTo(connect(state, spammer, "g", NOW + 10_000), spammer)[0]?.type).toBe("request_sent");
  });

  it("does not count a request that was refused before it was made", () => {
    const { state, sids: [alice] } = lobby("alice", "bob");
    for (let i = 0; i < 20; i++) connect(state, alice!, "nobody");
    expect(eventsTo(connect(state, alice!, "bob"), alice!)[0]?.type).toBe("request_sent");
  });
});

describe("block", () => {
  it("answers a blocked requester exactly as a decline would, after a pause, and the blocker never sees it", () => {
    const { state, sids: [mallory, tom] } = lobby("mallory", "tom");
    act(state, tom!, { type: "block", name: "Mallory" });
    const asked = connect(state, mallory!, "tom");
    expect(eventsTo(asked, mallory!)).toEqual([{ type: "request_sent", to: "tom", expiresInMs: 60_000 }]);
    expect(eventsTo(asked, tom!)).toEqual([]);
    expect(statusOf(state, "mallory")).toBe("pending");
    expect(statusOf(state, "tom")).toBe("available");
    const delay = blockedAnswerDelay("mallory", "tom", NOW);
    expect(delay).toBeGreaterThanOrEqual(BLOCKED_ANSWER_MS[0]);
    expect(delay).toBeLessThan(BLOCKED_ANSWER_MS[1]);
    expect(tick(state, NOW + delay - 1).effects).toEqual([]);
    const answered = tick(state, NOW + delay);
    expect(eventsTo(answered, mallory!)).toEqual([refusedBy("tom")]);
    expect(eventsTo(answered, tom!)).toEqual([]);
    expect(eventsTo(connect(state, mallory!, "tom", NOW + delay), mallory!)[0]).toMatchObject({ reason: "cooldown" });
  });

  it("tells a blocked requester busy, not taking requests or offline exactly as anyone else", () => {
    const { state, sids: [mallory, tom] } = lobby("mallory", "tom", "carol");
    act(state, tom!, { type: "block", name: "mallory" });
    act(state, tom!, { type: "away" });
    expect(eventsTo(connect(state, mallory!, "tom"), mallory!)).toEqual([{ type: "request_failed", reason: "unavailable", to: "tom" }]);
    act(state, tom!, { type: "back" });
    pair(state, "tom", "carol");
    expect(eventsTo(connect(state, mallory!, "tom"), mallory!)).toEqual([{ type: "request_failed", reason: "busy", to: "tom" }]);
  });

  it("tells a blocked requester the blocker went offline, as it would tell anyone asking", () => {
    const { state, sids: [mallory, tom] } = lobby("mallory", "tom");
    act(state, tom!, { type: "block", name: "mallory" });
    connect(state, mallory!, "tom");
    expect(eventsTo(gone(state, tom!), mallory!)).toEqual([{ type: "request_ended", name: "tom", role: "sent", reason: "offline" }]);
    expect(statusOf(state, "mallory")).toBe("available");
  });

  it("ends a chat with the person blocked, as exit does, and declines or withdraws a request between them", () => {
    const { state, sids: [alice, bob, carol] } = lobby("alice", "bob", "carol");
    pair(state, "alice", "bob");
    const ended = act(state, alice!, { type: "block", name: "bob" });
    expect(eventsTo(ended, bob!)).toEqual([{ type: "partner_left", name: "alice", reason: "exit" }]);
    expect(eventsTo(ended, alice!)).toEqual([
      { type: "you_left", with: "bob" },
      { type: "blocked", names: ["bob"], changed: { name: "bob", blocked: true } },
    ]);
    request(state, "carol", "alice");
    expect(eventsTo(act(state, alice!, { type: "block", name: "carol" }), carol!)).toEqual([refusedBy("alice")]);
    expect(state.requests.size).toBe(0);
  });

  it("keeps a blocker from asking the person it blocked", () => {
    const { state, sids: [tom] } = lobby("tom", "mallory");
    act(state, tom!, { type: "block", name: "mallory" });
    expect(eventsTo(connect(state, tom!, "MALLORY"), tom!)).toEqual([{ type: "request_failed", reason: "you_blocked", to: "mallory" }]);
  });

  it("lists, unblocks, refuses to block yourself or more than 100, and keeps blocks of people offline", () => {
    const { state, sids: [tom] } = lobby("tom");
    expect(eventsTo(act(state, tom!, { type: "blocked" }), tom!)).toEqual([{ type: "blocked", names: [] }]);
    expect(eventsTo(act(state, tom!, { type: "block", name: "Tom" }), tom!)[0]).toMatchObject({ type: "error" });
    act(state, tom!, { type: "block", name: "Ghost" });
    expect(eventsTo(act(state, tom!, { type: "blocked" }), tom!)).toEqual([{ type: "blocked", names: ["Ghost"] }]);
    expect(eventsTo(act(state, tom!, { type: "unblock", name: "ghost" }), tom!)).toEqual([
      { type: "blocked", names: [], changed: { name: "Ghost", blocked: false } },
    ]);
    expect(eventsTo(act(state, tom!, { type: "unblock", name: "ghost" }), tom!)[0]).toMatchObject({ code: "not_blocked" });
    for (let i = 0; i < 100; i++) act(state, tom!, { type: "block", name: `p${i}` });
    expect(eventsTo(act(state, tom!, { type: "block", name: "one-more" }), tom!)[0]).toMatchObject({ code: "too_many_blocks" });
    expect(savedSession(state, tom!)?.blocked).toHaveLength(100);
  });

  it("withdraws a blocked requester's silent request when it cancels, and cools it down", () => {
    const { state, sids: [mallory, tom] } = lobby("mallory", "tom");
    act(state, tom!, { type: "block", name: "mallory" });
    connect(state, mallory!, "tom");
    expect(eventsTo(act(state, mallory!, { type: "cancel" }), mallory!)).toEqual([{ type: "cancelled", to: "tom" }]);
    expect(eventsTo(connect(state, mallory!, "tom"), mallory!)[0]).toMatchObject({ reason: "cooldown" });
  });
});

describe("not taking requests", () => {
  it("answers whoever asks that the person is not taking requests, and shows it in the list", () => {
    const { state, sids: [tom, alice] } = lobby("tom", "alice");
    expect(eventsTo(act(state, tom!, { type: "away" }), tom!)).toEqual([{ type: "availability", taking: false }]);
    expect(statusOf(state, "tom")).toBe("unavailable");
    expect(eventsTo(connect(state, alice!, "tom"), alice!)).toEqual([{ type: "request_failed", reason: "unavailable", to: "tom" }]);
    const list = eventsTo(act(state, alice!, { type: "list" }), alice!)[0];
    expect(list).toMatchObject({ users: expect.arrayContaining([{ name: "tom", status: "unavailable" }]) });
    expect(eventsTo(act(state, tom!, { type: "back" }), tom!)).toEqual([{ type: "availability", taking: true }]);
    expect(eventsTo(connect(state, alice!, "tom"), alice!)[0]?.type).toBe("request_sent");
  });

  it("still lets an away user ask someone", () => {
    const { state, sids: [tom] } = lobby("tom", "alice");
    act(state, tom!, { type: "away" });
    expect(eventsTo(connect(state, tom!, "alice"), tom!)[0]?.type).toBe("request_sent");
  });
});

describe("typing", () => {
  it("goes to the partner only, and to nobody outside a chat", () => {
    const { state, sids: [alice, bob, carol] } = lobby("alice", "bob", "carol");
    expect(act(state, alice!, { type: "typing" }).effects).toEqual([]);
    pair(state, "alice", "bob");
    const typed = act(state, alice!, { type: "typing" });
    expect(typed.effects).toEqual([{ type: "send", sid: bob, event: { type: "typing", from: "alice" } }]);
    expect(eventsTo(typed, carol!)).toEqual([]);
  });
});
