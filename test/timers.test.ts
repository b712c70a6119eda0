// When a socket counts as silent, and which alarm serves every timer.

import { describe, expect, it } from "vitest";
import { nextAlarm, silence } from "../src/timers";

const LIMITS = { heartbeatTimeoutMs: 45_000, idleTimeoutMs: 600_000 };
const T0 = 1_700_000_000_000;

describe("silence", () => {
  it("holds a socket that has pinged to the heartbeat timeout, counted from the later of ping and frame", () => {
    expect(silence(T0, T0, T0 + 45_000, LIMITS)).toBeNull();
    expect(silence(T0, T0, T0 + 45_001, LIMITS)).toBe("heartbeat");
    expect(silence(T0, T0 + 40_000, T0 + 80_000, LIMITS)).toBeNull();
    expect(silence(T0 + 40_000, T0, T0 + 80_000, LIMITS)).toBeNull();
  });

  it("holds a socket that never pinged to the idle timeout only", () => {
    expect(silence(null, T0, T0 + 600_000, LIMITS)).toBeNull();
    expect(silence(null, T0, T0 + 600_001, LIMITS)).toBe("idle");
  });
});

describe("nextAlarm", () => {
  const none = { requestDeadline: null, engaged: false, presenceDue: null, idleDue: null, quietDue: null };

  it("sets none for a lobby with nothing due", () => {
    expect(nextAlarm(none, T0, 45_000)).toBeNull();
  });

  it("takes the earliest of the timers", () => {
    expect(nextAlarm({ ...none, requestDeadline: T0 + 60_000, idleDue: T0 + 600_000 }, T0, 45_000)).toBe(T0 + 60_000);
    expect(nextAlarm({ ...none, requestDeadline: T0 + 60_000, engaged: true }, T0, 45_000)).toBe(T0 + 15_000);
    expect(nextAlarm({ ...none, presenceDue: T0 + 500, quietDue: T0 + 3000 }, T0, 45_000)).toBe(T0 + 500);
    expect(nextAlarm({ ...none, quietDue: T0 + 3000, idleDue: T0 + 600_000 }, T0, 45_000)).toBe(T0 + 3000);
  });

  it("sweeps at least a second apart however short the heartbeat timeout", () => {
    expect(nextAlarm({ ...none, engaged: true }, T0, 600)).toBe(T0 + 1000);
  });
});
