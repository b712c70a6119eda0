// What the Lobby keeps in SQLite: links (a pending request, or the chat it became) and users who are away. Nothing
// else: who is logged in on which socket is in the sockets' attachments, and chat lines are never stored.
// Rows written are what storage is billed by (cursor.rowsWritten), so a chat costs three: its request inserts its
// link, the accept updates it, the exit deletes it (issue 13 §2). The tables are created with the first row a lobby
// stores and then kept, empty or not: creating one writes 2 rows of sqlite_master, and a lobby that dropped them
// whenever it emptied paid 4 more rows for nearly every chat. Both are WITHOUT ROWID, so a row written is one row
// (no separate primary-key index). A lobby where nobody ever asked anyone writes nothing.

import { type AwayRow, type Dirty, type LinkRow, type State, awayRow, linkRow } from "./rules";

export class Store {
  /** Whether the tables exist; looked up at first use, since a wake that only relays a chat line never asks. */
  private exists: boolean | null = null;

  constructor(private readonly sql: SqlStorage) {}

  private get ready(): boolean {
    this.exists ??= hasTable(this.sql, "links");
    return this.exists;
  }

  /** Every link and every away user, as stored. */
  load(): { links: LinkRow[]; aways: AwayRow[] } {
    if (!this.ready) return { links: [], aways: [] };
    const links = [
      ...this.sql.exec<{ a: string; b: string; chat: number; deadline: number; a_name: string; b_name: string; a_resume: string | null; b_resume: string | null }>(
        "SELECT * FROM links",
      ),
    ].map((r) => ({ a: r.a, b: r.b, chat: r.chat === 1, deadline: r.deadline, aName: r.a_name, bName: r.b_name, aResume: r.a_resume, bResume: r.b_resume }));
    const aways = [...this.sql.exec<{ key: string; until: number; user: string }>("SELECT * FROM away")].map((r) => ({
      key: r.key,
      until: r.until,
      user: JSON.parse(r.user) as AwayRow["user"],
    }));
    return { links, aways };
  }

  /** Write the rows a step changed, as the state now has them. */
  save(state: State, dirty: Dirty): void {
    for (const id of dirty.links) this.setLink(id, linkRow(state, id));
    for (const key of dirty.away) this.setAway(key, awayRow(state, key));
  }

  /** Link `id` is now `row` (null: it has none). A request that becomes a chat is one update of its row. */
  setLink(id: string, row: LinkRow | null): void {
    if (!row) {
      if (this.ready) this.sql.exec("DELETE FROM links WHERE a = ?", id);
      return;
    }
    this.create();
    this.sql.exec(
      "INSERT INTO links (a, b, chat, deadline, a_name, b_name, a_resume, b_resume) VALUES (?, ?, ?, ?, ?, ?, ?, ?) " +
        "ON CONFLICT (a) DO UPDATE SET b = excluded.b, chat = excluded.chat, deadline = excluded.deadline, " +
        "a_name = excluded.a_name, b_name = excluded.b_name, a_resume = excluded.a_resume, b_resume = excluded.b_resume",
      row.a,
      row.b,
      row.chat ? 1 : 0,
      row.deadline,
      row.aName,
      row.bName,
      row.aResume,
      row.bResume,
    );
  }

  /** User `key` is away as `row` says (null: it is not). */
  setAway(key: string, row: AwayRow | null): void {
    if (!row) {
      if (this.ready) this.sql.exec("DELETE FROM away WHERE key = ?", key);
      return;
    }
    this.create();
    this.sql.exec("INSERT OR REPLACE INTO away (key, until, user) VALUES (?, ?, ?)", key, row.until, JSON.stringify(row.user));
  }

  private create(): void {
    if (this.ready) return;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS links (a TEXT PRIMARY KEY, b TEXT NOT NULL, chat INTEGER NOT NULL, deadline INTEGER NOT NULL, " +
        "a_name TEXT NOT NULL, b_name TEXT NOT NULL, a_resume TEXT, b_resume TEXT) WITHOUT ROWID",
    );
    this.sql.exec("CREATE TABLE IF NOT EXISTS away (key TEXT PRIMARY KEY, until INTEGER NOT NULL, user TEXT NOT NULL) WITHOUT ROWID");
    this.exists = true;
  }
}

/** Whether this object's SQLite database has table `name` (a read of sqlite_master, no row written). */
export function hasTable(sql: SqlStorage, name: string): boolean {
  return [...sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", name)].length > 0;
}
