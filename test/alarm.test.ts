// The one alarm's bookkeeping (src/alarm.ts), against a storage that records what was written.

import { describe, expect, it } from "vitest";
import { AlarmClock, type AlarmStorage } from "../src/alarm";

const T0 = 1_700_000_000_000;

/** A storage holding one alarm, which records every write (a number: set; null: deleted). */
function fakeStorage(initial: number | null = null) {
  const writes: (number | null)[] = [];
  let alarm = initial;
  const storage: AlarmStorage = {
    getAlarm: async () => alarm,
    setAlarm: async (at: number | Date) => {
      alarm = typeof at === "number" ? at : at.getTime();
      writes.push(alarm);
    },
    deleteAlarm: async () => {
      alarm = null;
      writes.push(null);
    },
  };
  return { storage, writes, now: () => alarm };
}

describe("AlarmClock after a rebuild (want)", () => {
  it("moves the alarm only earlier between timer runs, so a busy lobby does not rewrite it at every frame", () => {
    const { storage, writes } = fakeStorage();
    const clock = new AlarmClock(storage);
    clock.want(T0 + 10_000, false);
    clock.want(T0 + 20_000, false);
    clock.want(T0 + 5_000, false);
    clock.want(null, false);
    expect(writes).toEqual([T0 + 10_000, T0 + 5_000]);
  });

  it("sets exactly what a timer run wants, later or none", () => {
    const { storage, writes } = fakeStorage();
    const clock = new AlarmClock(storage);
    clock.want(T0 + 5_000, false);
    clock.want(T0 + 15_000, true);
    clock.want(null, true);
    clock.want(null, true);
    expect(writes).toEqual([T0 + 5_000, T0 + 15_000, null]);
  });

  it("starts from the alarm the object had before it slept", async () => {
    const { storage, writes } = fakeStorage(T0 + 1_000);
    const clock = new AlarmClock(storage);
    await clock.load();
    clock.want(T0 + 2_000, false);
    expect(writes).toEqual([]);
  });
});

describe("AlarmClock before a rebuild (the heartbeat hand-over)", () => {
  it("moves the alarm earlier for the hand-over, and a firing before the lobby's own time needs no rebuild", async () => {
    const { storage, writes } = fakeStorage(T0 + 60_000);
    const clock = new AlarmClock(storage);
    await clock.load();
    clock.handOverAt(T0 + 90_000); // later than the lobby's own alarm: that one covers it
    expect(writes).toEqual([]);
    clock.handOverAt(T0 + 3_000);
    expect(writes).toEqual([T0 + 3_000]);
    expect(clock.onlyHandOver(T0 + 3_000)).toBe(true);
    // The talk stopped: back to the lobby's own time.
    clock.handedOver(null);
    expect(writes).toEqual([T0 + 3_000, T0 + 60_000]);
    expect(clock.onlyHandOver(T0 + 60_000)).toBe(false);
  });

  it("keeps handing over while the talk goes on, then returns to the lobby's own time", async () => {
    const { storage, writes } = fakeStorage(T0 + 60_000);
    const clock = new AlarmClock(storage);
    await clock.load();
    clock.handOverAt(T0 + 3_000);
    clock.handedOver(T0 + 6_000); // a frame came meanwhile: the next hand-over
    clock.handedOver(T0 + 70_000); // later than the lobby's own: that comes first
    expect(writes).toEqual([T0 + 3_000, T0 + 6_000, T0 + 60_000]);
    expect(clock.onlyHandOver(T0 + 60_000)).toBe(false);
  });

  it("remembers that the lobby had no alarm of its own through several hand-overs", async () => {
    const { storage, writes } = fakeStorage(null);
    const clock = new AlarmClock(storage);
    await clock.load();
    clock.handOverAt(T0 + 3_000);
    clock.handOverAt(T0 + 2_000); // earlier still: the lobby's own time is still none, not the first hand-over
    expect(clock.onlyHandOver(T0 + 2_500)).toBe(true);
    clock.handedOver(null);
    expect(writes).toEqual([T0 + 3_000, T0 + 2_000]);
    expect(clock.onlyHandOver(T0 + 10_000)).toBe(false);
  });

  it("forgets the hand-over once the lobby is rebuilt: its timers are set from scratch", async () => {
    const { storage } = fakeStorage(T0 + 60_000);
    const clock = new AlarmClock(storage);
    await clock.load();
    clock.handOverAt(T0 + 3_000);
    clock.rebuilt();
    expect(clock.onlyHandOver(T0 + 3_000)).toBe(false);
  });
});
