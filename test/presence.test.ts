// Presence batching and windows (src/presence.ts), with plain strings for listeners.

import { describe, expect, it } from "vitest";
import { Presence } from "../src/presence";
import { LIST_LIMIT, type PresenceChange } from "../public/wire/protocol.js";

const busy = (name: string): PresenceChange => ({ name, status: "busy" });
/** What a push sent: each frame's changes and who got it. */
const sent = (out: { frame: string; to: Iterable<string> }[]) =>
  out.map(({ frame, to }) => ({ changes: (JSON.parse(frame) as { changes: PresenceChange[] }).changes, to: [...to].sort() }));

describe("Presence", () => {
  it("pushes at most once per interval, the latest change per user, to everyone while all fit in one list", () => {
    const presence = new Presence<string>(500);
    const everyone = () => ["w1", "w2"];
    presence.changed("a", { name: "a", status: "available" });
    expect(sent(presence.push(1000, 3, everyone))).toEqual([{ changes: [{ name: "a", status: "available" }], to: ["w1", "w2"] }]);
    presence.changed("a", busy("a"));
    presence.changed("b", busy("b"));
    presence.changed("a", { name: "a", status: "offline" });
    // Too soon after the last push: held, and due at the end of the interval.
    expect(presence.push(1100, 3, everyone)).toEqual([]);
    expect(presence.due()).toBe(1500);
    expect(sent(presence.push(1500, 3, everyone))).toEqual([{ changes: [{ name: "a", status: "offline" }, busy("b")], to: ["w1", "w2"] }]);
    expect(presence.due()).toBeNull();
  });

  it(`above ${LIST_LIMIT} online, tells each listener only about the users its last list showed`, () => {
    const presence = new Presence<string>(500);
    presence.watch("w1", ["a", "b"]);
    presence.watch("w2", ["a", "b"]);
    presence.watch("w3", ["c"]);
    expect(presence.windowCount()).toBe(2);
    // w1 lists again and is shown other people: it leaves its old window.
    presence.watch("w1", ["c"]);
    expect(presence.windowCount()).toBe(2);
    presence.changed("a", busy("a"));
    presence.changed("c", busy("c"));
    presence.changed("z", busy("z"));
    expect(sent(presence.push(1000, LIST_LIMIT + 1, () => ["w1", "w2", "w3"]))).toEqual([
      { changes: [busy("a")], to: ["w2"] },
      { changes: [busy("c")], to: ["w1", "w3"] },
    ]);
    // Stopping (a listener that left) drops a window nobody else shares.
    presence.watch("w2", []);
    expect(presence.windowCount()).toBe(1);
  });
});
