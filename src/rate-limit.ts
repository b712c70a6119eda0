// A per-socket token bucket: steady senders never notice it, floods are refused and then cut off.

export interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
  /** Refusals in a row; reset by any accepted message. */
  strikes: number;
}

export interface RateLimit {
  ratePerSecond: number;
  rateBurst: number;
}

export type Verdict = "ok" | "slow_down" | "flooding";

export function fullBucket(limit: RateLimit, now: number): Bucket {
  return { tokens: limit.rateBurst, at: now, strikes: 0 };
}

/**
 * Takes one token. A refused message is answered "slow down"; a socket refused `rateBurst` times in a row has
 * ignored every one of those answers and is `flooding`.
 */
export function take(bucket: Bucket, now: number, limit: RateLimit): Verdict {
  // A clock that steps back credits nothing and does not move `at` back (which would credit twice).
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(limit.rateBurst, bucket.tokens + (elapsed * limit.ratePerSecond) / 1000);
  bucket.at = Math.max(bucket.at, now);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    bucket.strikes = 0;
    return "ok";
  }
  bucket.strikes += 1;
  return bucket.strikes >= limit.rateBurst ? "flooding" : "slow_down";
}
