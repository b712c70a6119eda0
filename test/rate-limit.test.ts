// The per-socket token bucket.

import { describe, expect, it } from "vitest";
import { type Bucket, type RateLimit, type Verdict, fullBucket, take } from "../src/rate-limit";

const LIMIT: RateLimit = { ratePerSecond: 2, rateBurst: 4 };
const T0 = 1_700_000_000_000;

/** `count` messages at the same instant. */
function burst(bucket: Bucket, count: number, now = T0, limit = LIMIT): Verdict[] {
  return Array.from({ length: count }, () => take(bucket, now, limit));
}

describe("token bucket", () => {
  it("starts full", () => {
    expect(fullBucket(LIMIT, T0)).toEqual({ tokens: 4, at: T0, strikes: 0 });
  });

  it("lets a burst of rateBurst messages through at once", () => {
    const bucket = fullBucket(LIMIT, T0);
    expect(burst(bucket, 4)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(bucket.tokens).toBe(0);
  });

  it("asks a sender to slow down once the burst is spent", () => {
    const bucket = fullBucket(LIMIT, T0);
    burst(bucket, 4);
    expect(take(bucket, T0, LIMIT)).toBe("slow_down");
    expect(bucket.strikes).toBe(1);
  });

  it("refills at ratePerSecond", () => {
    const bucket = fullBucket(LIMIT, T0);
    burst(bucket, 4);
    expect(take(bucket, T0 + 499, LIMIT)).toBe("slow_down");
    expect(take(bucket, T0 + 500, LIMIT)).toBe("ok"); // 2 per second: one token every 500 ms
    expect(take(bucket, T0 + 500, LIMIT)).toBe("slow_down");
    expect(burst(bucket, 2, T0 + 1500)).toEqual(["ok", "ok"]);
  });

  it("never holds more than rateBurst tokens, however long the sender was quiet", () => {
    const bucket = fullBucket(LIMIT, T0);
    burst(bucket, 4);
    expect(burst(bucket, 5, T0 + 3_600_000)).toEqual(["ok", "ok", "ok", "ok", "slow_down"]);
  });

  it("lets a steady sender at the sustained rate through indefinitely", () => {
    const bucket = fullBucket(LIMIT, T0);
    const verdicts = Array.from({ length: 100 }, (_, i) => take(bucket, T0 + i * 500, LIMIT));
    expect(verdicts.every((v) => v === "ok")).toBe(true);
  });

  it("calls a sender flooding after rateBurst refusals in a row", () => {
    const bucket = fullBucket(LIMIT, T0);
    burst(bucket, 4);
    expect(burst(bucket, 4)).toEqual(["slow_down", "slow_down", "slow_down", "flooding"]);
    expect(take(bucket, T0, LIMIT)).toBe("flooding");
  });

  it("resets the strikes when a message is accepted", () => {
    const bucket = fullBucket(LIMIT, T0);
    burst(bucket, 4);
    expect(burst(bucket, 3)).toEqual(["slow_down", "slow_down", "slow_down"]);
    expect(take(bucket, T0 + 500, LIMIT)).toBe("ok");
    expect(bucket.strikes).toBe(0);
    // A full run of refusals is needed again before it counts as flooding.
    expect(burst(bucket, 4, T0 + 500)).toEqual(["slow_down", "slow_down", "slow_down", "flooding"]);
  });

  it("does not refill when the clock goes backwards", () => {
    const bucket = fullBucket(LIMIT, T0);
    burst(bucket, 4);
    expect(take(bucket, T0 - 10_000, LIMIT)).toBe("slow_down");
    expect(bucket.tokens).toBe(0);
  });

  it("works with the default limits", () => {
    const limit = { ratePerSecond: 20, rateBurst: 40 };
    const bucket = fullBucket(limit, T0);
    const verdicts = burst(bucket, 80, T0, limit);
    expect(verdicts.filter((v) => v === "ok")).toHaveLength(40);
    expect(verdicts[40]).toBe("slow_down");
    expect(verdicts[78]).toBe("slow_down");
    expect(verdicts[79]).toBe("flooding");
  });
});
