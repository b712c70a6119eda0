// The directory shard as the runtime runs it: claims raced by two homes, look-alike names, releases, leases that
// end, a restart, and what it writes. Each test uses a shard of its own.

import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { nameKey } from "../public/wire/names.js";
import { DEFAULT_DIRECTORY_CONFIG } from "../src/config";
import type { Directory } from "../src/directory";

const LEASE = DEFAULT_DIRECTORY_CONFIG.claimLeaseMs;

const used: DurableObjectId[] = [];

function freshShard(): DurableObjectId {
  const id = env.DIRECTORY.idFromName(`dir-t-${crypto.randomUUID()}`);
  used.push(id);
  return id;
}

// A shard that holds claims sets its sweep alarm a lease ahead, when this file's runner may be gone: cancel them.
afterEach(async () => {
  for (const id of used.splice(0)) await runInDurableObject(stub(id), (_instance, state) => state.storage.deleteAlarm());
});

/** A stub of the shard, as one home would hold it: every home has its own. */
const stub = (id: DurableObjectId) => env.DIRECTORY.get(id);

/** Moves the shard's clock `ms` ahead of real time, as if that long had passed since. */
function advance(id: DurableObjectId, ms: number): Promise<void> {
  return runInDurableObject(stub(id), (instance: Directory) => {
    (instance as unknown as { clock: () => number }).clock = () => Date.now() + ms;
  });
}

const rowsOf = (id: DurableObjectId) =>
  runInDurableObject(stub(id), (_instance, state) => state.storage.sql.exec("SELECT key, name, home FROM claims ORDER BY key").toArray());

/** Counts the rows every statement of the shard writes from now on (as lobby-storage.test.ts does for a Lobby). */
async function countRows(id: DurableObjectId): Promise<() => Promise<{ rows: number; statements: number }>> {
  type Counted = SqlStorage & { cursors?: SqlStorageCursor<Record<string, SqlStorageValue>>[] };
  await runInDurableObject(stub(id), (_instance, state) => {
    const sql = state.storage.sql as Counted;
    const exec = sql.exec.bind(sql);
    const cursors: NonNullable<Counted["cursors"]> = (sql.cursors = []);
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      const cursor = exec(query, ...bindings);
      cursors.push(cursor);
      return cursor;
    }) as typeof sql.exec;
  });
  // Summed when asked, by when every statement has run to its end.
  return () =>
    runInDurableObject(stub(id), (_instance, state) => {
      const writes = (state.storage.sql as Counted).cursors!.filter((c) => c.rowsWritten > 0);
      return { rows: writes.reduce((n, c) => n + c.rowsWritten, 0), statements: writes.length };
    });
}

describe("claiming a name", () => {
  it("gives a key raced for by two homes at once to exactly one of them", async () => {
    const id = freshShard();
    const [a, b] = await Promise.all([stub(id).claim("alice", "alice", "home-0"), stub(id).claim("alice", "alice", "home-1")]);
    const winners = [a, b].filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const winner = a.ok ? "home-0" : "home-1";
    expect([a, b].find((r) => !r.ok)).toEqual({ ok: false, holder: winner });
    expect(await stub(id).lookup("alice")).toEqual({ home: winner, name: "alice" });
  });

  it("tells the winner its lease, to count from when it sent the claim", async () => {
    expect(await stub(freshShard()).claim("bob", "bob", "home-0")).toEqual({ ok: true, leaseMs: LEASE });
  });

  it("makes look-alike names collide: they fold to one key", async () => {
    const id = freshShard();
    expect(await stub(id).claim(nameKey("Alice"), "Alice", "home-0")).toMatchObject({ ok: true });
    expect(await stub(id).claim(nameKey("alice"), "alice", "home-1")).toEqual({ ok: false, holder: "home-0" });
    const cyrillic = "\u0430\u04cf\u0456\u0441\u0435"; // аӏісе, every letter Cyrillic
    expect(await stub(id).claim(nameKey(cyrillic), cyrillic, "home-2")).toEqual({ ok: false, holder: "home-0" });
    expect(await stub(id).claim(nameKey("rnary"), "rnary", "home-0")).toMatchObject({ ok: true });
    expect(await stub(id).claim(nameKey("mary"), "mary", "home-1")).toEqual({ ok: false, holder: "home-0" });
    expect(await stub(id).lookup(nameKey("ALICE"))).toEqual({ home: "home-0", name: "Alice" });
  });

  it("refuses a key that is not the name's own, so a look-alike cannot slip in under another key", async () => {
    const id = freshShard();
    const reply = await stub(id).claim("alice2", "\u0430\u04cf\u0456\u0441\u0435", "home-1");
    expect(reply).toEqual({ ok: false, error: "the key is not the name's key (nameKey)" });
    expect(await stub(id).lookup("alice2")).toBeNull();
  });

  it("renews a home's own claim when it claims again", async () => {
    const id = freshShard();
    await stub(id).claim("carol", "carol", "home-0");
    expect(await stub(id).claim("carol", "Carol", "home-0")).toMatchObject({ ok: true });
    expect(await stub(id).lookup("carol")).toEqual({ home: "home-0", name: "Carol" });
  });
});

describe("releasing a name", () => {
  it("lets only the holder release, and then anyone claim", async () => {
    const id = freshShard();
    await stub(id).claim("dave", "dave", "home-0");
    expect(await stub(id).release("dave", "home-1")).toEqual({ ok: false, holder: "home-0" });
    expect(await stub(id).lookup("dave")).toEqual({ home: "home-0", name: "dave" });
    expect(await stub(id).release("dave", "home-0")).toEqual({ ok: true });
    expect(await stub(id).release("dave", "home-0")).toEqual({ ok: true }); // a retry changes nothing
    expect(await stub(id).lookup("dave")).toBeNull();
    expect(await stub(id).claim("dave", "dave", "home-1")).toMatchObject({ ok: true });
  });
});

describe("leases", () => {
  it("renews every listed key of a home in one statement, and names the keys it no longer holds", async () => {
    const id = freshShard();
    for (const name of ["erin", "frank", "grace"]) await stub(id).claim(name, name, "home-0");
    await stub(id).claim("heidi", "heidi", "home-1");
    const rows = await countRows(id);
    expect(await stub(id).renew("home-0", ["erin", "frank", "grace", "heidi", "ivan"])).toEqual({ ok: true, leaseMs: LEASE, lost: ["heidi", "ivan"] });
    expect(await rows()).toEqual({ rows: 3, statements: 1 });
  });

  it("lets another home take a name whose lease ended, and tells the old home it lost it", async () => {
    const id = freshShard();
    await stub(id).claim("judy", "judy", "home-0");
    await advance(id, LEASE - 1_000);
    expect(await stub(id).claim("judy", "judy", "home-1")).toEqual({ ok: false, holder: "home-0" });
    await advance(id, LEASE);
    expect(await stub(id).lookup("judy")).toBeNull();
    expect(await stub(id).claim("judy", "Judy", "home-1")).toMatchObject({ ok: true });
    expect(await stub(id).lookup("judy")).toEqual({ home: "home-1", name: "Judy" });
    expect(await stub(id).renew("home-0", ["judy"])).toEqual({ ok: true, leaseMs: LEASE, lost: ["judy"] });
    expect(await stub(id).release("judy", "home-0")).toEqual({ ok: false, holder: "home-1" });
  });

  it("keeps a renewed name with its home for a whole lease from the renewal", async () => {
    const id = freshShard();
    await stub(id).claim("kim", "kim", "home-0");
    await advance(id, LEASE - 1_000);
    expect(await stub(id).renew("home-0", ["kim"])).toMatchObject({ lost: [] });
    await advance(id, 2 * LEASE - 2_000); // past the first lease, inside the renewed one
    expect(await stub(id).claim("kim", "kim", "home-1")).toEqual({ ok: false, holder: "home-0" });
  });

  it("sweeps ended claims from its alarm, and sets no further alarm once the table is empty", async () => {
    const id = freshShard();
    await stub(id).claim("leo", "leo", "home-0");
    await stub(id).claim("mia", "mia", "home-1");
    await advance(id, LEASE + 1);
    expect(await runDurableObjectAlarm(stub(id))).toBe(true);
    expect(await rowsOf(id)).toEqual([]);
    expect(await runInDurableObject(stub(id), (_instance, state) => state.storage.getAlarm())).toBeNull();
  });
});

describe("a restart of the shard", () => {
  it("keeps every claim: lookups still answer and another home is still refused", async () => {
    const id = freshShard();
    await stub(id).claim("nina", "Nina", "home-0");
    await stub(id).claim("oscar", "oscar", "home-1");
    // A deploy or crash: the object is reset, with nothing in memory kept.
    const marked = (instance: Directory) => (instance as unknown as { marked?: true }).marked;
    await runInDurableObject(stub(id), (instance: Directory, state) => {
      (instance as unknown as { marked?: true }).marked = true;
      state.abort("a restart, simulated by directory.test.ts");
    }).catch(() => {});
    // A stub that saw its object fail is broken for good; a home would get a new one, as here.
    expect(await runInDurableObject(stub(id), marked)).toBeUndefined(); // a new instance, built from storage
    expect(await stub(id).lookup("nina")).toEqual({ home: "home-0", name: "Nina" });
    expect(await stub(id).claim("nina", "nina", "home-2")).toEqual({ ok: false, holder: "home-0" });
    expect(await stub(id).renew("home-1", ["oscar"])).toEqual({ ok: true, leaseMs: LEASE, lost: [] });
  });
});

describe("what it writes", () => {
  it("writes nothing for lookups, refusals and releases of what another home holds", async () => {
    const id = freshShard();
    await stub(id).claim("pat", "pat", "home-0");
    const rows = await countRows(id);
    await stub(id).lookup("pat");
    await stub(id).lookup("nobody");
    await stub(id).claim("pat", "pat", "home-1");
    await stub(id).release("pat", "home-1");
    await stub(id).renew("home-1", ["pat"]);
    expect(await rows()).toEqual({ rows: 0, statements: 0 });
  });

  it("creates no table on a shard that was only asked lookups", async () => {
    const id = freshShard();
    expect(await stub(id).lookup("quinn")).toBeNull();
    const tables = await runInDurableObject(stub(id), (_instance, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'").toArray(),
    );
    expect(tables).toEqual([]);
  });
});

describe("malformed calls", () => {
  it("answers each with a refusal that says what is wrong, never an exception", async () => {
    const dir = stub(freshShard());
    const untyped = dir as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    expect(await dir.claim("", "alice", "home-0")).toEqual({ ok: false, error: "a key is a non-empty string" });
    expect(await untyped.claim!(5, "alice", "home-0")).toEqual({ ok: false, error: "a key is a non-empty string" });
    expect(await untyped.claim!("alice", null, "home-0")).toEqual({ ok: false, error: "a name is a string" });
    expect(await dir.claim("alice", "alice", "")).toEqual({ ok: false, error: "a home is a non-empty string" });
    expect(await dir.claim("a b", "a b", "home-0")).toMatchObject({ ok: false, error: expect.stringMatching(/^not a valid name: spaces/) });
    expect(await untyped.renew!("home-0", "alice")).toEqual({ ok: false, error: "keys are an array of strings" });
    expect(await untyped.renew!("home-0", ["alice", 7])).toEqual({ ok: false, error: "a key is a non-empty string" });
    expect(await untyped.renew!(undefined, [])).toEqual({ ok: false, error: "a home is a non-empty string" });
    expect(await untyped.release!({}, "home-0")).toEqual({ ok: false, error: "a key is a non-empty string" });
    expect(await untyped.release!("alice", 0)).toEqual({ ok: false, error: "a home is a non-empty string" });
    expect(await untyped.lookup!(null)).toBeNull();
    expect(await untyped.lookup!("x".repeat(10_000))).toBeNull();
    // The shard is still whole after all that.
    expect(await dir.claim("alice", "alice", "home-0")).toMatchObject({ ok: true });
  });
});
