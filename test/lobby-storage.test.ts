// What a chat costs in storage: rows written, as Cloudflare bills them (cursor.rowsWritten), issue 13 §2.

import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { chatting, freshLobby, lobbyStub } from "./support/lobby";

/** Counts the rows every statement of the Lobby's storage writes from now on (its `sql` is one object for life). */
async function countRows(lobby: string): Promise<() => Promise<number>> {
  await runInDurableObject(lobbyStub(lobby), (_instance, state) => {
    const sql = state.storage.sql as SqlStorage & { rowsCounted?: number };
    const exec = sql.exec.bind(sql);
    sql.rowsCounted = 0;
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      const cursor = exec(query, ...bindings);
      sql.rowsCounted! += cursor.rowsWritten;
      return cursor;
    }) as typeof sql.exec;
  });
  return () => runInDurableObject(lobbyStub(lobby), (_instance, state) => (state.storage.sql as SqlStorage & { rowsCounted: number }).rowsCounted);
}

const tables = (lobby: string) =>
  runInDurableObject(lobbyStub(lobby), (_instance, state) =>
    state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name").toArray().map((t) => t.name),
  );

describe("rows written per chat", () => {
  it("writes 3 rows for a chat from request to exit: its link inserted, updated, deleted", async () => {
    const lobby = freshLobby();
    // The lobby's first request creates the tables (2 rows of sqlite_master each), once in its life.
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("exit");
    await bob.expect("alice has left the chat");

    const rows = await countRows(lobby);
    const [carol, dave] = await chatting(lobby, "carol", "dave");
    for (let i = 0; i < 5; i++) {
      carol.send(`line ${i}`);
      await dave.expect(`carol: line ${i}`);
    }
    dave.send("exit");
    await carol.expect("dave has left the chat");
    expect(await rows()).toBe(3);
  });

  it("keeps the tables when the lobby empties, so that the next chat does not create them again", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("exit");
    await bob.expect("alice has left the chat");
    expect(await tables(lobby)).toEqual(["away", "links"]);
    const rows = await countRows(lobby);
    const [again, bobAgain] = await chatting(lobby, "carol", "dave");
    bobAgain.send("exit");
    await again.expect("dave has left the chat");
    expect(await rows()).toBe(3);
  });
});
