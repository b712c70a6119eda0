// Homes (HOMES > 1, docs/SCALING.md): one namespace spread over several Lobby objects, `<ns>#home-<k>`, with
// names kept unique by the directory (src/directory.ts). The rules stay one state machine per home; what crosses
// homes is a user's record, not a rule:
// - A socket stays on the home it landed on (its "socket home"), which screens its frames and holds its name's
//   claim. Its user's record (what the rules know of it) normally lives there too.
// - A user who asks for someone on another home goes there: its record moves to the target's home (a "visitor",
//   sid `@<k>/<sid>`), its socket home forwards its frames there and writes back what it is sent. Every rule about
//   the two of them (busy, blocked, cooldown, y/n, expiry, exit, drop) is then decided in one state, as in one Lobby.
// - Once free again (declined, expired, the chat over) the record goes back to its socket home.
// Calls between two homes go over one stub, batched per turn, so they arrive in the order they were made.

import type { Action, Dialect, PresenceChange } from "../public/wire/protocol.js";
import type { SavedSession } from "./rules";
import { leaseEnd, shardOf } from "./claims";
import type { ClaimReply, Holder, ReleaseReply, RenewReply } from "./directory";

/** Who a home is: its namespace (the `?lobby=`), its number, and how many homes the namespace has. */
export interface HomeId {
  ns: string;
  k: number;
  homes: number;
}

/** The worker tells a home who it is on every upgrade it forwards (a Durable Object cannot read its own name). */
export const HOME_HEADER = "X-Parley-Home";

/** The object name of home `k` of namespace `ns`: `#` is not in the lobby-name alphabet, so none collides. */
export function homeName(ns: string, k: number): string {
  return `${ns}#home-${k}`;
}

/** The object name of a namespace's directory shard (claims.ts's `dir-<shard>`). */
export function shardName(ns: string, dir: string): string {
  return `${ns}#${dir}`;
}

/** How a home names itself to the directory: its number is enough, shards being per namespace. */
export function claimant(k: number): string {
  return `home-${k}`;
}

export function homeOfClaimant(home: string): number | null {
  const m = /^home-(\d+)$/.exec(home);
  return m ? Number(m[1]) : null;
}

/** The sid a visiting user has on the home it visits: its socket home and its socket's sid there. */
export function visitorSid(k: number, sid: string): string {
  return `@${k}/${sid}`;
}

export function visitorOf(sid: string): { k: number; sid: string } | null {
  const m = /^@(\d+)\/(.+)$/.exec(sid);
  return m ? { k: Number(m[1]), sid: m[2]! } : null;
}

/** A name held for a user away elsewhere outlasts its resume window by this much (the record's home hears late). */
export const RESUME_MARGIN_MS = 5000;

/**
 * How long, and for how many sockets, a home remembers that a socket left while its user was visiting elsewhere:
 * longer than a note takes to arrive, so that a presence check cannot overtake the note that says how it left.
 */
export const LEFT_KEPT_MS = 60_000;
export const LEFT_KEPT = 4096;

/** Past this many hops between homes a connect is answered where it is (the target keeps moving). */
export const MAX_HOPS = 4;

/** What one home tells another, in order, batched per turn. */
export type Note =
  /** To a socket home: write this frame to socket `sid`, or close it. */
  | { t: "frame"; sid: string; frame: string }
  | { t: "close"; sid: string; code: number; reason: string }
  /**
   * A user's record: a visitor arriving (with the connect it came to make), or one coming back to its socket home
   * (`sid` is then that home's own visitor sid for the socket).
   */
  | { t: "arrive"; sid: string; saved: SavedSession; dialect: Dialect; action?: Action; hops: number }
  /** To a socket home: socket `sid`'s record is now on home `at`. */
  | { t: "at"; sid: string; at: number }
  /** To a record home: a frame from visitor `sid`'s socket (`typing`: a typing notice), or its socket is gone. */
  | { t: "input"; sid: string; frame: string; typing: boolean }
  | { t: "gone"; sid: string; resumable?: boolean }
  /**
   * To a socket home: socket `sid` resumed the session of `key` (logged in as `name`), whose name home `from` still
   * holds: take the claim over, since a name is held by its socket's home.
   */
  | { t: "claim"; sid: string; key: string; name: string; from: number }

  /** To every other home: its users' status changes, for their JSON clients' lists. */
  | { t: "presence"; changes: PresenceChange[] };

/** One home's part of a global `list`. */
export interface Roster {
  total: number;
  users: { name: string; status: string; order: string }[];
}

type LobbyStub = DurableObjectStub<import("./lobby").Lobby>;
type DirectoryStub = DurableObjectStub<import("./directory").Directory>;
export interface HomesEnv {
  LOBBY: DurableObjectNamespace<import("./lobby").Lobby>;
  DIRECTORY: DurableObjectNamespace<import("./directory").Directory>;
}

/**
 * A home's links to the others and to the directory: its identity, one stub per peer (calls in order), the
 * outbox batched per turn, its claims (SQLite, so its alarm renews them without reading every socket), and the
 * visitors it holds (SQLite: they have no socket here for an attachment, and must survive hibernation).
 */
export class Homes {
  id: HomeId | null = null;
  private readonly outbox = new Map<number, Note[]>();
  private flushQueued = false;
  /** Homes a call is on its way to: notes for them wait for it to return (see `send`). */
  private readonly inFlight = new Set<number>();
  private readonly homeStubs = new Map<number, LobbyStub>();
  private readonly shardStubs = new Map<string, DirectoryStub>();
  /** Visitors that moved on from here: a note sent before their socket home heard of it is passed on. */
  readonly forwarded = new Map<string, number>();
  /** Sockets of this home that left while their users visited another home, and when (see `leftLately`). */
  private readonly leftAt = new Map<string, number>();
  /**
   * The name keys this home holds at the directory: its own users', at home, visiting or away. Memory only, as the
   * Lobby's state is: the Lobby says again which they are at every rebuild (`hold`), and a login writes no row.
   */
  private readonly held = new Set<string>();
  /**
   * Until when this home may use each key it holds (claims.ts, rule 2: counted from when the winning call was
   * SENT). Past it, a key whose renewals never got through is given up, whatever the directory did meanwhile.
   */
  private readonly until = new Map<string, number>();
  /** When the claims were last renewed, or first claimed (0: never). */
  private renewedAt = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: HomesEnv,
    private readonly shards: number,
    private readonly leaseMs: number,
    /** A batch to home `k` failed: the home is down or restarting. */
    private readonly failed: (k: number, notes: Note[]) => void,
  ) {
    sql.exec("CREATE TABLE IF NOT EXISTS home_id (id TEXT NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS visitors (sid TEXT PRIMARY KEY, att TEXT NOT NULL) WITHOUT ROWID");
    sql.exec("CREATE TABLE IF NOT EXISTS home_renewal (at INTEGER NOT NULL)");
    sql.exec(
      "CREATE TABLE IF NOT EXISTS elsewhere (key TEXT PRIMARY KEY, name TEXT NOT NULL, resume TEXT NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID",
    );
    const row = sql.exec<{ id: string }>("SELECT id FROM home_id").toArray()[0];
    if (row) this.id = JSON.parse(row.id) as HomeId;
    this.renewedAt = sql.exec<{ at: number }>("SELECT at FROM home_renewal").toArray()[0]?.at ?? 0;
  }

  /** Renewals are counted from the last one, kept across wakes: a wake is not a reason to renew. */
  private renewed(at: number): void {
    this.renewedAt = at;
    this.sql.exec("DELETE FROM home_renewal");
    this.sql.exec("INSERT INTO home_renewal (at) VALUES (?)", at);
  }

  /** The worker's header or a peer's call says who this home is; written once. */
  know(id: HomeId): void {
    if (this.id && this.id.ns === id.ns && this.id.k === id.k && this.id.homes === id.homes) return;
    this.id = id;
    this.sql.exec("DELETE FROM home_id");
    this.sql.exec("INSERT INTO home_id (id) VALUES (?)", JSON.stringify(id));
  }

  private get me(): HomeId {
    if (!this.id) throw new Error("a home that was never told who it is");
    return this.id;
  }

  get k(): number {
    return this.me.k;
  }

  get count(): number {
    return this.me.homes;
  }

  home(k: number): LobbyStub {
    let stub = this.homeStubs.get(k);
    if (!stub) {
      stub = this.env.LOBBY.get(this.env.LOBBY.idFromName(homeName(this.me.ns, k)));
      this.homeStubs.set(k, stub);
    }
    return stub;
  }

  /**
   * A call to home `k`, tried again once on a new stub: a stub whose object restarted (a deploy, a crash, an
   * eviction that could not hibernate) throws at every call, while the object is already there again. A batch the
   * restarted object had begun is lost with its memory; what it had written stands, so a note seen twice is one
   * its handlers ignore (a second `gone`, a frame for a socket that is no longer there).
   */
  async toHome<T>(k: number, call: (stub: LobbyStub) => Promise<T>): Promise<T> {
    try {
      return await call(this.home(k));
    } catch {
      this.homeStubs.delete(k);
      return await call(this.home(k));
    }
  }

  /** The same for the directory shard of `key`. */
  private async toShard<T>(key: string, call: (stub: DirectoryStub) => Promise<T>): Promise<T> {
    try {
      return await call(this.shard(key));
    } catch {
      this.shardStubs.delete(this.shardNameOf(key));
      return await call(this.shard(key));
    }
  }

  idOf(k: number): HomeId {
    return { ...this.me, k };
  }

  private shardNameOf(key: string): string {
    return shardName(this.me.ns, `dir-${shardOf(key, this.shards)}`);
  }

  private shard(key: string): DirectoryStub {
    const name = this.shardNameOf(key);
    let stub = this.shardStubs.get(name);
    if (!stub) {
      stub = this.env.DIRECTORY.get(this.env.DIRECTORY.idFromName(name));
      this.shardStubs.set(name, stub);
    }
    return stub;
  }

  /**
   * Queue a note for home `k`. One call to a home is in flight at a time: what is queued meanwhile goes in the next
   * call, in order. So a quiet chat line leaves at once, and a busy one shares its call with the lines behind it:
   * a call costs the runtime several times what the line in it does (docs/HOMES-BENCH.md).
   */
  send(k: number, note: Note): void {
    const notes = this.outbox.get(k);
    if (notes) notes.push(note);
    else this.outbox.set(k, [note]);
    if (this.flushQueued || this.inFlight.has(k)) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flushAll());
  }

  /** The same note to every other home. */
  toAll(note: Note): void {
    for (let k = 0; k < this.count; k++) if (k !== this.k) this.send(k, note);
  }

  private flushAll(): void {
    this.flushQueued = false;
    for (const k of [...this.outbox.keys()]) if (!this.inFlight.has(k)) this.flush(k);
  }

  private flush(k: number): void {
    const notes = this.outbox.get(k);
    if (!notes) return;
    this.outbox.delete(k);
    this.inFlight.add(k);
    this.toHome(k, (stub) => stub.notes(this.idOf(k), this.k, notes))
      .catch((err: unknown) => {
        console.warn("a note to another home failed", { home: k, err: String(err) });
        this.failed(k, notes);
      })
      .finally(() => {
        this.inFlight.delete(k);
        this.flush(k);
      });
  }

  /** Socket `sid` left while its user visited another home: a `gone` note for it is on its way there. */
  left(sid: string, now: number): void {
    this.leftAt.set(sid, now);
    // Oldest first: only what a note could still be on its way for is kept.
    for (const [old, at] of this.leftAt) {
      if (now - at < LEFT_KEPT_MS && this.leftAt.size <= LEFT_KEPT) break;
      this.leftAt.delete(old);
    }
  }

  /** Whether socket `sid` left lately: its `gone` note, not a presence check, tells its user's home how. */
  leftLately(sid: string, now: number): boolean {
    const at = this.leftAt.get(sid);
    return at !== undefined && now - at < LEFT_KEPT_MS;
  }

  // The name's claim at the directory. A home holds the claims of its own sockets' users, visiting or not.

  /** Claim `key` for `name`: ok, or the name another home's user holds it as; throws if the directory fails. */
  async claim(key: string, name: string): Promise<{ ok: true } | { ok: false; heldAs: string; holder: number | null }> {
    const sentAt = Date.now();
    const reply = await this.toShard<ClaimReply>(key, (shard) => shard.claim(key, name, claimant(this.k)));
    if (reply.ok) {
      this.held.add(key);
      this.until.set(key, leaseEnd(sentAt, reply.leaseMs));
      if (this.renewedAt === 0) this.renewed(Date.now());
      return { ok: true };
    }
    if ("error" in reply) throw new Error(reply.error);
    const holder = await this.toShard<Holder | null>(key, (shard) => shard.lookup(key));
    // Released in between: say it is taken all the same (a retry will find it free).
    return { ok: false, heldAs: holder?.name ?? name, holder: homeOfClaimant(reply.holder) };
  }

  /** At a rebuild: the keys this home's users hold (claimed before the object slept). */
  hold(keys: Iterable<string>): void {
    this.held.clear();
    for (const key of keys) this.held.add(key);
    // A wake forgot the leases: the last renewal (or first claim) is when they were last sent.
    for (const key of this.held) if (!this.until.has(key)) this.until.set(key, leaseEnd(this.renewedAt, this.leaseMs));
  }

  /** The keys whose lease has ended unrenewed (rule 2): given up here, for their users to be ended. */
  expired(now: number): string[] {
    const gone = [...this.held].filter((key) => (this.until.get(key) ?? 0) <= now);
    for (const key of gone) {
      this.held.delete(key);
      this.until.delete(key);
    }
    return gone;
  }

  release(key: string): void {
    this.until.delete(key);
    if (!this.held.delete(key)) return;
    this.toShard<ReleaseReply>(key, (shard) => shard.release(key, claimant(this.k)))
      .catch((err: unknown) => console.warn("a release failed; the lease ends it", { err: String(err) }));
  }

  /** Let `key` go at the directory now, held in memory or not (a restart forgets what it held): awaited. */
  async releaseNow(key: string): Promise<void> {
    this.held.delete(key);
    this.until.delete(key);
    await this.toShard<ReleaseReply>(key, (shard) => shard.release(key, claimant(this.k)));
  }

  /** When the claims must next be renewed (a third of a lease after the last renewal), or null if none are held. */
  renewDue(): number | null {
    return this.held.size === 0 ? null : this.renewedAt + Math.floor(this.leaseMs / 3);
  }

  /**
   * Renew every claim still in use and release the rest; the keys a shard says this home lost (its lease ran out
   * while it could not renew) are returned, for their users to be ended.
   */
  async renew(now: number, inUse: (key: string) => boolean): Promise<string[]> {
    this.renewed(now);
    const byShard = new Map<string, string[]>();
    for (const key of [...this.held]) {
      if (!inUse(key)) {
        this.release(key);
        continue;
      }
      const shard = this.shardNameOf(key);
      byShard.set(shard, [...(byShard.get(shard) ?? []), key]);
    }
    const lost: string[] = [];
    for (const keys of byShard.values()) {
      const reply = await this.toShard<RenewReply>(keys[0]!, (shard) => shard.renew(claimant(this.k), keys)).catch(() => null);
      if (!reply?.ok) continue;
      const gone = new Set(reply.lost);
      lost.push(...gone);
      for (const key of keys) if (!gone.has(key) && this.held.has(key)) this.until.set(key, leaseEnd(now, reply.leaseMs));
    }
    for (const key of lost) {
      this.held.delete(key);
      this.until.delete(key);
    }
    return lost;
  }

  /**
   * Give the claim of `key` to home `dest` (a session resumed on a socket there), at the directory; throws if the
   * directory fails. The lease, from `dest`'s side, is counted from when it asked (see the Lobby's `handTo`).
   */
  async transferTo(key: string, name: string, dest: number): Promise<{ ok: boolean; leaseMs: number; holder?: number | null }> {
    const reply = await this.toShard<ClaimReply>(key, (shard) => shard.transfer(key, name, claimant(this.k), claimant(dest)));
    if (!reply.ok) return { ok: false, leaseMs: 0, holder: "holder" in reply ? homeOfClaimant(reply.holder) : null };
    this.handOver(key);
    return { ok: true, leaseMs: reply.leaseMs };
  }

  /** A claim given to this home by another (`transferTo`), usable until `until`. */
  adopt(key: string, until: number): void {
    this.held.add(key);
    this.until.set(key, until);
    if (this.renewedAt === 0) this.renewed(Date.now());
  }

  /** A key another home took over (a transfer): not ours to renew or release any more. */
  handOver(key: string): void {
    this.held.delete(key);
    this.until.delete(key);
    this.sql.exec("DELETE FROM elsewhere WHERE key = ?", key);
  }

  // Away elsewhere: a user of this home whose socket dropped while its record was visiting another home. Its name
  // stays held here, for a resume, until its resume window (and a margin) has passed.

  awayElsewhere(key: string, name: string, resume: string, at: number, until: number): void {
    this.sql.exec("INSERT OR REPLACE INTO elsewhere (key, name, resume, at, until) VALUES (?, ?, ?, ?, ?)", key, name, resume, at, until);
  }

  /** The user away elsewhere whose credential hashes to `resume`, if any; its row is dropped (it resumes). */
  resumeElsewhere(resume: string): { key: string; name: string; at: number } | null {
    const row = this.sql.exec<{ key: string; name: string; at: number }>("SELECT key, name, at FROM elsewhere WHERE resume = ?", resume).toArray()[0];
    if (row) this.sql.exec("DELETE FROM elsewhere WHERE key = ?", row.key);
    return row ?? null;
  }

  /** The home where a user of this home who is away elsewhere has its record, or null. */
  awayAt(key: string): number | null {
    return this.sql.exec<{ at: number }>("SELECT at FROM elsewhere WHERE key = ?", key).toArray()[0]?.at ?? null;
  }

  isAwayElsewhere(key: string): boolean {
    return this.sql.exec("SELECT 1 FROM elsewhere WHERE key = ?", key).toArray().length > 0;
  }

  /** Rows whose window has passed: their users have left wherever they were; the keys are released. */
  expireElsewhere(now: number): void {
    for (const { key } of this.sql.exec<{ key: string }>("SELECT key FROM elsewhere WHERE until <= ?", now).toArray()) {
      this.sql.exec("DELETE FROM elsewhere WHERE key = ?", key);
      this.release(key);
    }
  }

  elsewhereKeys(): string[] {
    return this.sql.exec<{ key: string }>("SELECT key FROM elsewhere").toArray().map((r) => r.key);
  }

  /** The home whose socket holds `key`'s name, or null if nobody's does. Throws if the directory fails. */
  async where(key: string): Promise<number | null> {
    const holder = await this.toShard<Holder | null>(key, (shard) => shard.lookup(key));
    return holder ? homeOfClaimant(holder.home) : null;
  }

  // Visitors: users whose socket is on another home and whose record is here.

  visitors(): { sid: string; att: string }[] {
    return this.sql.exec<{ sid: string; att: string }>("SELECT sid, att FROM visitors").toArray();
  }

  saveVisitor(sid: string, att: object | null): void {
    if (att === null) this.sql.exec("DELETE FROM visitors WHERE sid = ?", sid);
    else this.sql.exec("INSERT OR REPLACE INTO visitors (sid, att) VALUES (?, ?)", sid, JSON.stringify(att));
  }
}

/** A visitor's socket, as the Lobby sees it: what is sent to it or closes it is noted for its socket home. */
export class RemoteSocket {
  constructor(
    private readonly homes: Homes,
    private readonly at: { k: number; sid: string },
    private att: unknown,
    private readonly saved: (att: unknown) => void,
  ) {}

  send(frame: string): void {
    this.homes.send(this.at.k, { t: "frame", sid: this.at.sid, frame });
  }

  close(code?: number, reason?: string): void {
    this.homes.send(this.at.k, { t: "close", sid: this.at.sid, code: code ?? 1000, reason: reason ?? "" });
  }

  serializeAttachment(att: unknown): void {
    this.att = att;
    this.saved(att);
  }

  deserializeAttachment(): unknown {
    return this.att;
  }
}
