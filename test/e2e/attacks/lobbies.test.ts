// Issue 9, attack 8: `/ws?lobby=NAME` created a Durable Object, and a SQLite file, per name. Only the names the var
// LOBBY_NAMES allows are served (default: none but the default lobby), refused before any object is reached, and a
// lobby keeps nothing in storage until it has something to keep.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient } from "../raw-client.ts";
import { type Runtime, filesUnder, login, poll, startRuntime, summary } from "./support.ts";

/** How long to watch the storage directory for a file after the socket left. */
const WATCH_MS = 1000;

/**
 * The names in the schema (tables, indexes) of a SQLite database, read from its first page, in the WAL if a
 * committed frame holds it, else in the main file. workerd creates a database file for every Durable Object it
 * instantiates, even one that never touches storage (an empty 4 KiB file and an empty WAL, checked), so the
 * file's existence says nothing; what is in it does. Node 20 has no SQLite module, hence by hand.
 */
function schemaNames(file: string): string[] {
  const main = readFileSync(file);
  let page1: Buffer | null = main.length >= 512 ? main : null;
  const wal = existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : Buffer.alloc(0);
  if (wal.length >= 32) {
    const pageSize = wal.readUInt32BE(8);
    const salts = wal.subarray(16, 24);
    let latest: Buffer | null = null;
    for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) {
      if (!wal.subarray(off + 8, off + 16).equals(salts)) break; // frames left over from before a reset
      if (wal.readUInt32BE(off) === 1) latest = wal.subarray(off + 24, off + 24 + pageSize);
      if (wal.readUInt32BE(off + 4) !== 0 && latest) page1 = latest; // a commit frame: what came before it counts
    }
  }
  if (!page1) return [];
  // The b-tree page header follows the 100-byte file header: a leaf (0x0d) lists its cells; an interior page
  // means a schema too big for one page.
  if (page1[100] !== 0x0d) return ["(a schema over one page)"];
  const varint = (at: number): [number, number] => {
    let value = 0;
    for (let i = 0; i < 9; i++) {
      const b = page1![at + i]!;
      if (i === 8) return [value * 256 + b, at + 9];
      value = value * 128 + (b & 0x7f);
      if (b < 0x80) return [value, at + i + 1];
    }
    return [value, at + 9];
  };
  const names: string[] = [];
  for (let i = 0; i < page1.readUInt16BE(103); i++) {
    // A cell: payload size, rowid, then the record of sqlite_schema (type, name, tbl_name, rootpage, sql).
    let at = page1.readUInt16BE(108 + 2 * i);
    [, at] = varint(at);
    [, at] = varint(at);
    const recordStart = at;
    const [headerSize, afterSize] = varint(at);
    const types: number[] = [];
    for (let h = afterSize; h < recordStart + headerSize; ) {
      const [t, next] = varint(h);
      types.push(t);
      h = next;
    }
    const textLength = (t: number) => (t >= 13 && t % 2 === 1 ? (t - 13) / 2 : 0);
    const nameAt = recordStart + headerSize + textLength(types[0]!);
    names.push(page1.toString("utf8", nameAt, nameAt + textLength(types[1]!)));
  }
  return names;
}

/** The status of an upgrade to `url` (101 when it opened; the socket is closed again at once). */
async function status(url: string): Promise<{ status: number; body: string }> {
  const r = await RawClient.attempt(url);
  if (!(r instanceof RawClient)) return { status: r.status, body: r.body };
  r.destroy();
  return { status: 101, body: "" };
}

describe("with the default vars", () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await startRuntime({ persist: true });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it("refuses any lobby but the default one with 404 and a reason", async () => {
    const other = await status(`${rt.wsUrl}?lobby=other`);
    const fresh = await status(`${rt.wsUrl}?lobby=atk-${crypto.randomUUID()}`);
    const byDefault = await status(rt.wsUrl);
    summary("named lobbies by default", { other: other.status, otherBody: other.body, fresh: fresh.status, defaultLobby: byDefault.status });

    expect(other.status).toBe(404);
    expect(other.body.trim()).not.toBe("");
    expect(fresh.status).toBe(404);
    expect(byDefault.status).toBe(101);
  });


  it("keeps nothing in storage for a lobby where someone only logged in and left", async () => {
    const c = await login(rt.wsUrl, "visitor");
    await c.sendText("quit");
    await c.waitClose();
    await c.waitEnd();
    // Every Lobby's database (workerd's own metadata.sqlite aside; those of lobbies the test above reached too,
    // where nobody logged in), and the tables of Parley's own in each. The runtime's `_cf_*` tables are its
    // bookkeeping (an alarm set for the idle sweep puts one there), not anything the Lobby keeps.
    const databases = () =>
      Object.fromEntries(
        filesUnder(rt.persistDir!)
          .filter((f) => f.endsWith(".sqlite") && !f.endsWith("metadata.sqlite"))
          .map((f) => [f, schemaNames(join(rt.persistDir!, f)).filter((n) => !n.startsWith("_cf_"))]),
      );
    const written = await poll(() => Object.values(databases()).some((names) => names.length > 0), WATCH_MS);
    summary("storage after a login and a quit", { files: filesUnder(rt.persistDir!).length, schemaEntries: databases() });

    expect(written, `schema entries per database: ${JSON.stringify(databases())}`).toBe(false);
  });
});

describe("with LOBBY_NAMES set", () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await startRuntime({ vars: { LOBBY_NAMES: "room1,atk-*" } });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it("serves the names it lists, and the prefixes ending in *, and no other", async () => {
    const got = {
      room1: (await status(`${rt.wsUrl}?lobby=room1`)).status,
      prefixed: (await status(`${rt.wsUrl}?lobby=atk-${crypto.randomUUID()}`)).status,
      room2: (await status(`${rt.wsUrl}?lobby=room2`)).status,
      defaultLobby: (await status(rt.wsUrl)).status,
    };
    summary("LOBBY_NAMES=room1,atk-*", got);

    expect(got).toEqual({ room1: 101, prefixed: 101, room2: 404, defaultLobby: 101 });
  });
});
