// @ts-check
// The load test's checker counts what it should, on hand-made transcripts of one chat between a (who asked) and
// b, where a sends m0..m3 and b sends m0..m2 and one side then exits or crashes.

import { describe, expect, it } from "vitest";
import { check } from "./check.mjs";

/** @typedef {import("../scripts/lib/client.mjs").Ev} Ev */
/** @typedef {import("./check.mjs").ClientRecord} ClientRecord */

/**
 * @param {{ toB?: number[], toA?: number[], aNotices?: Ev[], bNotices?: Ev[], bRefusals?: number, end?: "a exits" | "a crashes" | "b exits" }} o
 */
function run(o) {
  const end = o.end ?? "a exits";
  /** @param {number} id @param {string} name @returns {ClientRecord} */
  const rec = (id, name) => ({ id, name, recv: [], sessions: [0] });
  const a = rec(0, "a");
  const b = rec(1, "b");
  /** @param {ClientRecord} c @param {Ev} ev */
  const got = (c, ev) => c.recv.push({ t: 0, ev });
  got(a, { type: "connected", with: "b" });
  got(b, { type: "connected", with: "a" });
  for (const q of o.toB ?? [0, 1, 2, 3]) got(b, { type: "message", from: "a", text: `m0.${q}` });
  for (const q of o.toA ?? [0, 1]) got(a, { type: "message", from: "b", text: `m0.${q}` });
  const defaults = {
    "a exits": { a: [{ type: "you_left", with: "b" }], b: [{ type: "partner_left", name: "a", reason: "exit" }] },
    "a crashes": { a: [], b: [{ type: "partner_left", name: "a", reason: "disconnected" }] },
    "b exits": { a: [{ type: "partner_left", name: "b", reason: "exit" }], b: [{ type: "you_left", with: "a" }] },
  }[end];
  for (const ev of o.aNotices ?? /** @type {Ev[]} */ (defaults.a)) got(a, ev);
  for (const ev of o.bNotices ?? /** @type {Ev[]} */ (defaults.b)) got(b, ev);
  // b's third line reached the server after a left: refused.
  for (let i = 0; i < (o.bRefusals ?? 1); i++) got(b, { type: "error", code: "not_in_chat", message: "You are not in a chat" });
  const r = check([a, b], [{
    id: 0,
    clients: [a, b],
    sentAt: [[0, 0, 0, 0], [0, 0, 0]],
    recvCount: [0, 0],
    stop: [true, true],
    connected: true,
    end: { how: end === "a crashes" ? "crash" : "exit", by: end === "b exits" ? 1 : 0, drain: false },
    aborted: null,
  }]);
  return { lost: r.lost, duplicates: r.duplicates, reordered: r.reordered, noticesMissing: r.noticesMissing, errors: Object.keys(r.errors.toJSON()), unverifiable: r.unverifiable };
}

const clean = { lost: 0, duplicates: 0, reordered: 0, noticesMissing: 0, errors: [], unverifiable: 0 };

describe("the load test's transcript checker", () => {
  it("passes a clean exit with one line refused in flight", () => expect(run({})).toEqual(clean));
  it("counts a gap as lost", () => expect(run({ toB: [0, 2, 3] })).toEqual({ ...clean, lost: 1 }));
  it("counts the exiter's own last line as lost: it preceded the exit", () =>
    expect(run({ toB: [0, 1, 2] })).toEqual({ ...clean, lost: 1 }));
  it("counts the partner's unarrived line that was not refused as lost", () =>
    expect(run({ bRefusals: 0 })).toEqual({ ...clean, lost: 1 }));
  it("flags a line both refused and delivered", () =>
    expect(run({ bRefusals: 2 })).toEqual({ ...clean, errors: ["more_refusals_than_missing"] }));
  it("counts a duplicate", () => expect(run({ toB: [0, 1, 2, 3, 3] })).toEqual({ ...clean, duplicates: 1 }));
  it("counts a reordering", () => expect(run({ toB: [0, 2, 1, 3] })).toEqual({ ...clean, reordered: 1 }));
  it("counts the partner's missing notice", () => expect(run({ bNotices: [] }).noticesMissing).toBe(1));
  it("counts the exiter's own missing notice", () => expect(run({ aNotices: [] }).noticesMissing).toBe(1));
  it("flags a notice given twice", () =>
    expect(
      run({ bNotices: [{ type: "partner_left", name: "a", reason: "exit" }, { type: "partner_left", name: "a", reason: "exit" }] }).errors,
    ).toEqual(["wrong_or_extra_notice"]));
  it("does not count lines sent into a crashed socket as lost", () =>
    expect(run({ end: "a crashes", toA: [], bRefusals: 0 })).toEqual({ ...clean, unverifiable: 3 }));
  it("does not count a crashed sender's tail as lost", () =>
    expect(run({ end: "a crashes", toB: [0, 1] })).toEqual({ ...clean, unverifiable: 2 }));
  it("still counts a gap before a crash", () =>
    expect(run({ end: "a crashes", toB: [1] })).toEqual({ ...clean, lost: 1, unverifiable: 2 }));
  it("counts a crash announced as an exit as a missing notice", () =>
    expect(run({ end: "a crashes", bNotices: [{ type: "partner_left", name: "a", reason: "exit" }] }).noticesMissing).toBe(1));
  it("passes the other side exiting", () =>
    expect(run({ end: "b exits", toA: [0, 1, 2], bRefusals: 0, toB: [0, 1, 2, 3] })).toEqual(clean));
});
