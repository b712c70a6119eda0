// @ts-check
// The load test's checker counts what it should, on hand-made transcripts of one chat between a (who asked) and
// b, where a sends m0..m3 and b sends m0..m2 and one side then exits or crashes.

import { describe, expect, it } from "vitest";
import { check, checkDrops } from "./check.mjs";

/** @typedef {import("../scripts/lib/client.mjs").Ev} Ev */
/** @typedef {import("./check.mjs").ClientRecord} ClientRecord */
/** @typedef {import("./check.mjs").UserRecord} UserRecord */
/** @typedef {import("./check.mjs").Shown} Shown */

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

/**
 * One drained chat of a --drops run between a (who asked) and b, a sending m0..m3 and b m0..m2; b's socket is
 * dropped once (b is told nothing while away; a hears b go and come back; b's client resends what a missed), then
 * a exits. Each option replaces one part of the transcripts.
 * @param {{ bShows?: number[], aShows?: number[], aHears?: Shown[], bHears?: Shown[], aEnd?: Shown[], bEnd?: Shown[], drops?: [number, number] }} o
 */
function dropRun(o) {
  /** @param {number} id @param {string} name @returns {UserRecord} */
  const rec = (id, name) => ({ id, name, shown: [], sessions: [0] });
  const a = rec(0, "a");
  const b = rec(1, "b");
  /** @param {UserRecord} u @param {Shown[]} evs */
  const show = (u, evs) => evs.forEach((ev) => u.shown.push({ t: 0, ev }));
  /** @param {string} from @param {number[]} seqs @returns {Shown[]} */
  const lines = (from, seqs) => seqs.map((q) => ({ type: "message", from, text: `m0.${q}` }));
  show(a, [{ type: "connected", with: "b" }]);
  show(b, [{ type: "connected", with: "a" }]);
  show(b, [...lines("a", o.bShows ?? [0, 1, 2, 3])]);
  show(b, o.bHears ?? [{ type: "dropped" }, { type: "resumed", name: "b", resume: { token: "t", graceMs: 30000 }, partner: "a", missed: [] }]);
  show(a, o.aHears ?? [{ type: "partner_away", name: "b" }, { type: "partner_back", name: "b", seen: 1 }]);
  show(a, [...lines("b", o.aShows ?? [0, 1, 2])]);
  show(a, o.aEnd ?? [{ type: "you_left", with: "b" }]);
  show(b, o.bEnd ?? [{ type: "partner_left", name: "a", reason: "exit" }]);
  const r = checkDrops([a, b], [{
    id: 0,
    clients: [a, b],
    sentAt: [[0, 0, 0, 0], [0, 0, 0]],
    shownCount: [0, 0],
    stop: [true, true],
    drops: o.drops ?? [0, 1],
    connected: true,
    end: { how: "exit", by: 0 },
    aborted: null,
  }]);
  return { lost: r.lost, duplicates: r.duplicates, reordered: r.reordered, noticesMissing: r.noticesMissing, errors: Object.keys(r.errors.toJSON()) };
}

const cleanDrops = { lost: 0, duplicates: 0, reordered: 0, noticesMissing: 0, errors: [] };

describe("the load test's checker with --drops", () => {
  it("passes a chat where a dropped side resumed and every line was shown once, in order", () => expect(dropRun({})).toEqual(cleanDrops));
  it("counts a line never shown as lost, even at the end of the chat", () =>
    expect(dropRun({ bShows: [0, 1, 2] })).toEqual({ ...cleanDrops, lost: 1 }));
  it("counts a line lost in the dropped side's direction", () => expect(dropRun({ aShows: [0, 2] })).toEqual({ ...cleanDrops, lost: 1 }));
  it("counts a line shown twice (a resend the client did not recognise)", () =>
    expect(dropRun({ aShows: [0, 1, 1, 2] })).toEqual({ ...cleanDrops, duplicates: 1 }));
  it("counts a line shown after a later one", () => expect(dropRun({ bShows: [0, 2, 1, 3] })).toEqual({ ...cleanDrops, reordered: 1 }));
  it("counts a missing partner_away", () =>
    expect(dropRun({ aHears: [{ type: "partner_back", name: "b", seen: 1 }] })).toEqual({ ...cleanDrops, noticesMissing: 1 }));
  it("counts a missing partner_back", () =>
    expect(dropRun({ aHears: [{ type: "partner_away", name: "b" }] })).toEqual({ ...cleanDrops, noticesMissing: 1 }));
  it("counts a drop that was never resumed", () => expect(dropRun({ bHears: [{ type: "dropped" }] })).toEqual({ ...cleanDrops, noticesMissing: 1 }));
  it("counts a missing exit notice", () => expect(dropRun({ bEnd: [] })).toEqual({ ...cleanDrops, noticesMissing: 1 }));
  it("flags an away notice for a drop that did not happen", () =>
    expect(dropRun({ drops: [0, 0], bHears: [] }).errors).toEqual(["extra_partner_away", "extra_partner_back"]));
  it("flags a line reported undelivered that the partner showed", () =>
    expect(dropRun({ aEnd: [{ type: "you_left", with: "b" }, { type: "undelivered", text: "m0.3" }] }).errors).toEqual(["undelivered_but_shown"]));
  it("flags a notice about someone who is not the partner", () =>
    expect(dropRun({ aHears: [{ type: "partner_away", name: "b" }, { type: "partner_back", name: "b", seen: 1 }, { type: "partner_away", name: "c" }] }).errors).toEqual([
      "stray_notice",
    ]));
});
