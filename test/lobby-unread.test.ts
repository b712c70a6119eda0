// A reader that stops reading cannot make the Lobby hold what its partner says: it must echo a check now and
// then, and past MAX_UNREAD_BYTES (262144 by default) without an echo its socket is closed.

import { describe, expect, it } from "vitest";
import { chatting, freshLobby, login } from "./support/lobby";
import type { Peer } from "./support/peer";

const LINE = "x".repeat(4000);

/** Sends `count` full lines from `from`, paced under the rate limit (20/s), each waited for at `to`. */
async function talk(from: Peer, to: Peer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    from.send(LINE);
    await to.until(LINE);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("unread output (MAX_UNREAD_BYTES)", () => {
  it("asks a text reader for a check at half the budget and goes on once it is echoed", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    // 33 lines of 4,000 characters and the chat's own frames pass half the budget (131,072).
    await talk(alice, bob, 33);
    const check = await bob.until("type /ok");
    expect(check).toMatch(/^You have been sent \d+ KiB without showing that you read it; type \/ok \d{4} to keep receiving/);
    bob.send(`/ok ${/\/ok (\d{4})/.exec(check)![1]}`);
    // Forgiven: another 140 KB, past the 256 KiB budget counted from the start, goes through.
    await talk(alice, bob, 35);
    expect(bob.closed).toBeNull();
  }, 20_000);

  it("closes a reader that never echoes the check (4002) and tells its partner", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    for (let i = 0; i < 70 && !alice.unread().some((l) => l.includes("has left")); i++) {
      alice.send(LINE);
      await new Promise((r) => setTimeout(r, 40));
    }
    expect(await bob.waitClosed()).toEqual({ code: 4002, reason: "not reading" });
    await alice.until("bob has left the chat (disconnected)");
  }, 20_000);

  it("refuses a wrong echo, and closes the socket after three", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    await talk(alice, bob, 33);
    const check = await bob.until("type /ok");
    const token = /\/ok (\d{4})/.exec(check)![1]!;
    const wrong = String(((Number(token) - 999) % 9000) + 1000);
    bob.send(`/ok ${wrong}`);
    await bob.until("That is not the code you were sent; type it exactly");
    bob.send(`/ok ${wrong}`);
    await bob.until("That is not the code you were sent");
    bob.send(`/ok ${wrong}`);
    expect(await bob.waitClosed()).toEqual({ code: 4002, reason: "not reading" });
  }, 20_000);

  it("sends a JSON client the check as an event, answered with checked", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    const { open } = await import("./support/lobby");
    const bob = await open(lobby, "bob", { json: true });
    await bob.event("ask_name");
    bob.send(JSON.stringify({ type: "login", name: "bob" }));
    await bob.event("welcome");
    bob.send(JSON.stringify({ type: "connect", to: "alice" }));
    await alice.until("bob is trying to connect with you (y/n)");
    alice.send("y");
    await bob.event("connected");
    let check: { token: string; unread: number } | null = null;
    for (let i = 0; i < 40 && !check; i++) {
      alice.send(LINE);
      for (;;) {
        const e = await bob.json<{ type: string; token: string; unread: number }>();
        if (e.type === "check") check = e;
        if (e.type === "message") break;
      }
    }
    expect(check!.token).toMatch(/^[0-9a-f]{32}$/);
    expect(check!.unread).toBeGreaterThanOrEqual(131_072);
    bob.send(JSON.stringify({ type: "checked", token: check!.token }));
    bob.send(JSON.stringify({ type: "checked", token: check!.token }));
    expect(await bob.event("error")).toMatchObject({ code: "bad_check", message: "There is no check to answer" });
  });
});
