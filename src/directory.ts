// One shard of the name directory (docs/SCALING.md, step 2): which home holds each name key, by RPC from the homes.
// The decisions are src/claims.ts's; this object reads the rows they need, writes what they return, and sweeps
// dead rows from one alarm. Nothing routes here yet: with one home, today's single Lobby keeps its names itself.
//
// A reply is only delivered once what the call wrote is durable (the runtime holds outgoing messages until then),
// so a claim that a home was told it won survives a restart of the shard. Every method reads and writes without
// awaiting anything, so two calls never interleave: two homes racing for one key are decided one after the other.

import { DurableObject } from "cloudflare:workers";
import { type Claim, badClaim, badHome, badKey, badKeys, claim, lookup, release, renew, transfer } from "./claims";
import { readDirectoryConfig } from "./config";
import type { Env } from "./env";
import { hasTable } from "./store";

/** `leaseMs`: the home holds the key until `leaseEnd(sentAt, leaseMs)`, counted from when it sent the call. */
export type ClaimReply = { ok: true; leaseMs: number } | { ok: false; holder: string } | { ok: false; error: string };
/** `lost`: keys the home listed but no longer holds; it must end their users. */
export type RenewReply = { ok: true; leaseMs: number; lost: string[] } | { ok: false; error: string };
export type ReleaseReply = { ok: true } | { ok: false; holder: string } | { ok: false; error: string };
export interface Holder {
  home: string;
  name: string;
}

type Row = { key: string; name: string; home: string; expires: number };

export class Directory extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly leaseMs: number;
  /** Whether the table exists: a shard that was only ever asked `lookup` never creates it (2 rows written). */
  private exists: boolean | null = null;
  /** When the sweep alarm is due, as read at wake-up and kept since, so that no call has to await it. */
  private alarmAt: number | null = null;
  /**
   * The shard's clock. Tests replace it on the live instance (runInDurableObject) to end leases without waiting:
   * the one test hook, and it only moves time, which is what a lease is about.
   */
  private clock: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.leaseMs = readDirectoryConfig(env).claimLeaseMs;
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** `home` asks for `key`, logging in `name` (checked, and `key` its nameKey). */
  claim(key: string, name: string, home: string): ClaimReply {
    const wrong = badClaim(key, name, home);
    if (wrong) return { ok: false, error: wrong };
    const now = this.clock();
    const result = claim(this.row(key), key, name, home, now, this.leaseMs);
    if (!result.ok) return result;
    this.write(result.row);
    this.sweepBy(now + this.leaseMs);
    return { ok: true, leaseMs: this.leaseMs };
  }

  private write(row: Claim): void {
    this.create();
    this.sql.exec(
      "INSERT INTO claims (key, name, home, expires) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (key) DO UPDATE SET name = excluded.name, home = excluded.home, expires = excluded.expires",
      row.key,
      row.name,
      row.home,
      row.expires,
    );
  }

  /** A session resumed on home `to` takes its name's claim from home `from` (claims.ts, `transfer`). */
  transfer(key: string, name: string, from: string, to: string): ClaimReply {
    const wrong = badClaim(key, name, to) ?? badHome(from);
    if (wrong) return { ok: false, error: wrong };
    const now = this.clock();
    const result = transfer(this.row(key), key, name, from, to, now, this.leaseMs);
    if (!result.ok) return result;
    this.write(result.row);
    this.sweepBy(now + this.leaseMs);
    return { ok: true, leaseMs: this.leaseMs };
  }

  /** A home's alarm: every key it holds, renewed in one call and one statement. */
  renew(home: string, keys: string[]): RenewReply {
    const wrong = badHome(home) ?? badKeys(keys);
    if (wrong) return { ok: false, error: wrong };
    const now = this.clock();
    const rows = this.ready && keys.length > 0 ? this.rows(keys) : [];
    const { renewed, lost } = renew(rows, home, keys, now, this.leaseMs);
    if (renewed.length > 0) {
      // Every renewed row gets the same expiry, so one UPDATE over the list writes them all; the list travels as
      // one JSON parameter, since a statement takes at most 100 bound parameters.
      this.sql.exec(
        "UPDATE claims SET expires = ? WHERE key IN (SELECT value FROM json_each(?))",
        now + this.leaseMs,
        JSON.stringify(renewed.map((r) => r.key)),
      );
      this.sweepBy(now + this.leaseMs);
    }
    return { ok: true, leaseMs: this.leaseMs, lost };
  }

  /** `home` gives `key` up; refused if another home holds it, a no-op if nobody does. */
  release(key: string, home: string): ReleaseReply {
    const wrong = badKey(key) ?? badHome(home);
    if (wrong) return { ok: false, error: wrong };
    const result = release(this.row(key), home, this.clock());
    if (!result.ok) return result;
    if (result.drop) this.sql.exec("DELETE FROM claims WHERE key = ?", key);
    return { ok: true };
  }

  /** Who holds `key` now. A malformed key is held by nobody, so it gets null too. */
  lookup(key: string): Holder | null {
    if (badKey(key)) return null;
    const held = lookup(this.row(key), this.clock());
    return held && { home: held.home, name: held.name };
  }

  /**
   * Deletes the rows whose lease has ended. Lookups and claims already ignore them, so this only keeps the table
   * (and what a restart reads) from growing; once a lease is often enough, and never when the table is empty.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!this.ready) return;
    const now = this.clock();
    // The same line as live() in src/claims.ts: a row whose expiry has come holds nothing.
    this.sql.exec("DELETE FROM claims WHERE expires <= ?", now);
    if ([...this.sql.exec("SELECT 1 FROM claims LIMIT 1")].length > 0) this.sweepBy(now + this.leaseMs);
  }

  /** Makes sure a sweep is due by `at`: one alarm for the shard, set once a lease, not per call. */
  private sweepBy(at: number): void {
    if (this.alarmAt !== null) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  private row(key: string): Claim | null {
    if (!this.ready) return null;
    return [...this.sql.exec<Row>("SELECT key, name, home, expires FROM claims WHERE key = ?", key)][0] ?? null;
  }

  private rows(keys: string[]): Claim[] {
    return [...this.sql.exec<Row>("SELECT key, name, home, expires FROM claims WHERE key IN (SELECT value FROM json_each(?))", JSON.stringify(keys))];
  }

  private get ready(): boolean {
    this.exists ??= hasTable(this.sql, "claims");
    return this.exists;
  }

  /** WITHOUT ROWID: the key is the table's only index, so a row written is one row billed. */
  private create(): void {
    if (this.ready) return;
    this.sql.exec("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, name TEXT NOT NULL, home TEXT NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID");
    this.exists = true;
  }
}
