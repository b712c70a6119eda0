import { describe, expect, it } from "vitest";
import { freshLobby, login, open } from "./support/lobby";

describe("choosing a username", () => {
  it("asks for a username, welcomes the user and lists the commands", async () => {
    const lobby = freshLobby();
    const alice = await open(lobby, "alice");
    await alice.expect("Please enter a username:");
    alice.send("alice");
    await alice.expect("Welcome, alice!");
    await alice.expect(/^Commands: connect <name>, list/);
  });

  it("keeps asking while the name is taken, comparing names without case", async () => {
    const lobby = freshLobby();
    await login(lobby, "alice");
    const other = await open(lobby, "other");
    await other.expect("username");
    for (const attempt of ["alice", "ALICE", "Alice"]) {
      other.send(attempt);
      await other.expect(`Username ${attempt} is taken`);
      await other.expect("Please enter a username:");
    }
    other.send("bob");
    await other.expect("Welcome, bob!");
  });

  it("gives a clear reason for an empty, long, spaced or control-character name and asks again", async () => {
    const lobby = freshLobby();
    const p = await open(lobby, "p");
    await p.expect("username");
    const cases: [string, RegExp][] = [
      ["   ", /at least one character/],
      ["x".repeat(33), /at most 32 characters/],
      ["two words", /spaces not allowed/],
      ["bell\u0007", /control or invisible characters \(U\+0007\)/],
      ["<script>", /"<" not allowed/],
    ];
    for (const [name, reason] of cases) {
      p.send(name);
      const line = await p.expect("That username is not allowed");
      expect(line).toMatch(reason);
      await p.expect("Please enter a username:");
    }
    p.send("x".repeat(32));
    await p.expect(`Welcome, ${"x".repeat(32)}!`);
  });

  it("normalises names with NFKC, so a fullwidth copy of a name is taken", async () => {
    const lobby = freshLobby();
    await login(lobby, "alice");
    const p = await open(lobby, "p");
    await p.expect("username");
    p.send("ａｌｉｃｅ");
    await p.expect("Username alice is taken");
  });

  it("refuses a name that only looks like someone else's, and says why", async () => {
    const lobby = freshLobby();
    await login(lobby, "cop");
    const p = await open(lobby, "p");
    await p.expect("username");
    p.send("сор"); // Cyrillic letters
    await p.expect("Username сор is taken: it looks the same as cop, who is online");
    await p.expect("Please enter a username:");
    p.send("cоp"); // Latin c and p around a Cyrillic о
    await p.expect("That username is not allowed: mixes Latin and Cyrillic letters");
  });

  it("answers help and quit before a name is chosen", async () => {
    const lobby = freshLobby();
    const p = await open(lobby, "p");
    await p.expect("username");
    p.send("help");
    await p.expect("connect <name>");
    await p.until("quit ");
    await p.until(/In a chat every line/);
    p.send("/list");
    await p.expect("Please enter a username first");
    p.send("quit");
    await p.expect("Goodbye");
    expect((await p.waitClosed()).code).toBe(1000);
  });

  it("frees the name when its owner disconnects", async () => {
    const lobby = freshLobby();
    const first = await login(lobby, "alice");
    first.close(1000, "bye");
    await first.waitClosed();
    const p = await open(lobby, "again");
    await p.expect("username");
    // Our close completes only after the Lobby handled it and closed back, so the name is free by now.
    p.send("alice");
    await p.expect("Welcome, alice!");
  });
});
