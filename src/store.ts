// What the Lobby keeps in SQLite: what two users share (chat pairs, pending requests), nothing else.
// The tables exist only while they hold a row: a lobby that has nothing to keep (nobody ever chatted or asked)
// writes nothing, and one that empties drops them again.

import type { PendingRequest } from "./rules";

export class PairStore {
  private ready: boolean;

  constructor(private readonly sql: SqlStorage) {
    this.ready = [...sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'peers'")].length > 0;
  }

  /** Every chat pair (each user's side) and every pending request, as stored. */
  load(): { peers: { key: string; peer: string }[]; requests: Map<string, PendingRequest> } {
    const requests = new Map<string, PendingRequest>();
    if (!this.ready) return { peers: [], requests };
    const peers = [...this.sql.exec<{ key: string; peer: string }>("SELECT key, peer FROM peers")];
    for (const row of this.sql.exec<{ target: string; requester: string; deadline: number }>("SELECT * FROM requests")) {
      requests.set(row.target, { from: row.requester, deadline: row.deadline });
    }
    return { peers, requests };
  }

  setPeer(key: string, peer: string | null): void {
    if (peer) {
      this.create();
      this.sql.exec("INSERT OR REPLACE INTO peers (key, peer) VALUES (?, ?)", key, peer);
    } else if (this.ready) this.sql.exec("DELETE FROM peers WHERE key = ?", key);
  }

  setRequest(target: string, request: PendingRequest | null): void {
    if (request) {
      this.create();
      this.sql.exec(
        "INSERT OR REPLACE INTO requests (target, requester, deadline) VALUES (?, ?, ?)",
        target,
        request.from,
        request.deadline,
      );
    } else if (this.ready) this.sql.exec("DELETE FROM requests WHERE target = ?", target);
  }

  /** After deletions: drop the tables once nothing is left in them. */
  dropIfEmpty(): void {
    if (!this.ready) return;
    const [row] = this.sql.exec<{ n: number }>("SELECT (SELECT count(*) FROM peers) + (SELECT count(*) FROM requests) AS n");
    if (row?.n !== 0) return;
    this.sql.exec("DROP TABLE peers");
    this.sql.exec("DROP TABLE requests");
    this.ready = false;
  }

  private create(): void {
    if (this.ready) return;
    this.sql.exec("CREATE TABLE IF NOT EXISTS peers (key TEXT PRIMARY KEY, peer TEXT NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS requests (target TEXT PRIMARY KEY, requester TEXT NOT NULL, deadline INTEGER NOT NULL)");
    this.ready = true;
  }
}
