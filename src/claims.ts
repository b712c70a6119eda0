// The directory's decisions over its claims: which home holds a name key, and until when. Pure: the Directory
// object (src/directory.ts) reads the rows, asks here, and writes back what it is told, so every rule below is
// tested without a runtime (test/claims.test.ts).
//
// The lease rule, which is what keeps a name on one home at a time:
// 1. The directory grants or renews a claim until `now + leaseMs`, `now` being its clock when the call runs, and
//    lets another home take the key only once that moment has passed (`expires <= now`).
// 2. A home counts a lease from the moment it SENT the call that granted or renewed it: it may use the key (keep
//    that user logged in) until `leaseEnd(sentAt, leaseMs, skewMs)` and not a millisecond after, unless a later
//    renewal succeeded. It never counts from the reply, which may arrive arbitrarily late.
// 3. A call runs after it was sent, so the directory's expiry is never earlier than the home's lease end: by the
//    time the directory gives the key to someone else, its former holder has stopped using it.
// Rule 3 holds if the home's clock is never ahead of the shard's by more than `skewMs`. That is an assumption, not
// a platform guarantee: Parley plans for homes and shards of one deployment created in one colo (no locationHint),
// on machines whose clocks are kept synchronised, and the tests use skewMs 0; homes placed in other regions must
// pass a margin. Workers' coarse clock only errs on the safe side here: Date.now() in an object is the time its
// current event started or its last I/O finished, so a home's `sentAt` is at or before the true send, and a
// shard's `now` at or after the true arrival.
// Two more things a home must do, since a lease cannot see them: send a shard its calls in order, on one stub
// (calls on one stub arrive in the order made, and none is promised across stubs or after a stub failed), or await
// a release before claiming that key again, so that a release never overtakes a later claim; and apply a claim's or
// a renewal's success only to keys it has not released since sending it, so that a late reply never revives one.

import { checkName } from "../public/wire/names.js";
import { shardOf } from "../public/wire/shard.js";

export { shardOf };

/** One row of a shard's table: `home` holds `key` (logged in as `name`) until `expires`, the shard's clock. */
export interface Claim {
  key: string;
  name: string;
  home: string;
  expires: number;
}

export type ClaimResult = { ok: true; row: Claim } | { ok: false; holder: string };
/** `drop`: the row (the caller's, or a dead one) is to be deleted. */
export type ReleaseResult = { ok: true; drop: boolean } | { ok: false; holder: string };
/** `renewed`: rows to write; `lost`: keys the home asked for but no longer holds, whose users it must end. */
export interface Renewal {
  renewed: Claim[];
  lost: string[];
}

/** Home names are the worker's `home-<k>`: anything longer is not one. */
export const MAX_HOME_CHARS = 64;
/** A name key is at most 32 characters folded, and NFKC can expand a character into a few. */
export const MAX_KEY_CHARS = 256;
/** A home holds at most one key per socket, and an object holds at most 32,768 hibernatable sockets. */
export const MAX_RENEW_KEYS = 32_768;

/** The directory object for `key` among `shards` of them. */
export function directoryName(key: string, shards: number): string {
  return `dir-${shardOf(key, shards)}`;
}

/** When a home must stop using a key whose claim or renewal it sent at `sentAt` (rule 2 above). */
export function leaseEnd(sentAt: number, leaseMs: number, skewMs = 0): number {
  return sentAt + leaseMs - skewMs;
}

/** Whether `row` holds its key at `now`: a lease ends at its `expires`, inclusive. */
export function live(row: Claim | null | undefined, now: number): row is Claim {
  return row != null && row.expires > now;
}

/** The live holder of a key, given its stored row (or null). */
export function lookup(current: Claim | null, now: number): Claim | null {
  return live(current, now) ? current : null;
}

/**
 * `home` asks for `key` as `name`, `current` being the key's stored row. A home renews its own claim this way too
 * (with the name it gives now: a home tells its own users apart), and a claim that has expired is anyone's.
 */
export function claim(current: Claim | null, key: string, name: string, home: string, now: number, leaseMs: number): ClaimResult {
  if (live(current, now) && current.home !== home) return { ok: false, holder: current.home };
  return { ok: true, row: { key, name, home, expires: now + leaseMs } };
}

/**
 * A session resumed on a socket of another home (`to`) takes its name's claim along from `from`, the home it was
 * held by: granted if `from` holds the key, or nobody does any more (a release or an expiry in between); refused
 * if a third home took it meanwhile.
 */
export function transfer(current: Claim | null, key: string, name: string, from: string, to: string, now: number, leaseMs: number): ClaimResult {
  if (live(current, now) && current.home !== from && current.home !== to) return { ok: false, holder: current.home };
  return { ok: true, row: { key, name: current && live(current, now) ? current.name : name, home: to, expires: now + leaseMs } };
}

/**
 * A home's alarm renews every key it holds in one call. `rows` are the stored rows of (at least) those keys. A key
 * whose lease already ended is lost even if nobody took it: the home has stopped using it by rule 2, and may claim
 * it again. Keys of the home it did not list are left to expire rather than dropped, since a claim sent just
 * before this call may not be in the list yet.
 */
export function renew(rows: Iterable<Claim>, home: string, keys: readonly string[], now: number, leaseMs: number): Renewal {
  const byKey = new Map<string, Claim>();
  for (const row of rows) byKey.set(row.key, row);
  const renewed: Claim[] = [];
  const lost: string[] = [];
  for (const key of new Set(keys)) {
    const row = byKey.get(key);
    if (live(row, now) && row.home === home) renewed.push({ ...row, expires: now + leaseMs });
    else lost.push(key);
  }
  return { renewed, lost };
}

/**
 * `home` gives `key` up. Only its live holder may; releasing what nobody holds is a no-op that succeeds, so a
 * release sent twice (a retry after a lost reply) is harmless. A dead row is dropped whoever asks: it holds nothing.
 */
export function release(current: Claim | null, home: string, now: number): ReleaseResult {
  if (current === null) return { ok: true, drop: false };
  if (live(current, now) && current.home !== home) return { ok: false, holder: current.home };
  return { ok: true, drop: true };
}

// Refusals of malformed calls: a string saying what is wrong, or null. RPC arguments arrive from other objects as
// structured clones, so a type is a claim to check, not a guarantee.

export function badHome(home: unknown): string | null {
  if (typeof home !== "string" || home.length === 0) return "a home is a non-empty string";
  if (home.length > MAX_HOME_CHARS) return `a home name has at most ${MAX_HOME_CHARS} characters`;
  return null;
}

export function badKey(key: unknown): string | null {
  if (typeof key !== "string" || key.length === 0) return "a key is a non-empty string";
  if (key.length > MAX_KEY_CHARS) return `a key has at most ${MAX_KEY_CHARS} characters`;
  return null;
}

/** A claim's name must be a valid name in the form checkName gives it, and `key` must be its key. */
export function badClaim(key: unknown, name: unknown, home: unknown): string | null {
  const wrong = badKey(key) ?? badHome(home);
  if (wrong) return wrong;
  if (typeof name !== "string") return "a name is a string";
  const check = checkName(name);
  if (!check.ok) return `not a valid name: ${check.detail}`;
  if (check.name !== name) return "a name is claimed in the form checkName gives it (NFKC, trimmed)";
  // The shard folds the name itself rather than trusting the key, so that look-alikes can only meet here.
  if (check.key !== key) return "the key is not the name's key (nameKey)";
  return null;
}

export function badKeys(keys: unknown): string | null {
  if (!Array.isArray(keys)) return "keys are an array of strings";
  if (keys.length > MAX_RENEW_KEYS) return `at most ${MAX_RENEW_KEYS} keys in one renewal`;
  for (const key of keys) {
    const wrong = badKey(key);
    if (wrong) return wrong;
  }
  return null;
}
