import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { chatting, freshLobby, lobbyStub, login, open } from "./support/lobby";

describe("bad input gets a clear error and costs nobody else anything", () => {
  it("refuses binary frames", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    (alice.ws as unknown as WebSocket).send(new Uint8Array([1, 2, 3]));
    await alice.expect("Binary frames are not supported; send text");
    alice.send("still fine");
    await bob.expect("alice: still fine");
  });

  it("refuses a message over the size limit instead of truncating it, and delivers one exactly at it", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("x".repeat(4097));
    await alice.expect("Message too long (limit 4096 bytes); it was not delivered");
    alice.send("é".repeat(2049)); // 4098 bytes in 2049 characters
    await alice.expect("Message too long");
    alice.send("y".repeat(4096));
    await bob.expect(`alice: ${"y".repeat(4096)}`);
  });

  it("answers an unknown command with the way to find the right one", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    alice.send("dance");
    await alice.expect('Unknown command "dance". Type help to see the commands');
    alice.send("/");
    await alice.expect("Type a command, or help to see them all");
  });

  it("refuses an empty chat message", async () => {
    const lobby = freshLobby();
    const [alice] = await chatting(lobby, "alice", "bob");
    alice.send("   ");
    await alice.expect("Empty message not sent");
  });

  it("slows down a fast sender and then cuts off a flood with 1008, telling the partner", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    for (let i = 0; i < 120; i++) alice.send(`m${i}`);
    await alice.until("slow down");
    expect(await alice.waitClosed()).toEqual({ code: 1008, reason: "flooding" });
    await bob.until("alice has left the chat (disconnected)");
    const delivered = bob.received.filter((l) => l.startsWith("alice: m")).length;
    const answers = alice.received.filter((l) => l.startsWith("slow down") || l.startsWith("bob: "));
    // The burst (40 tokens, a few spent on login and connect) got through, plus whatever refilled meanwhile;
    // what closed the socket was 40 refusals in a row: 39 answered "slow down", the 40th with the close.
    expect(delivered).toBeGreaterThan(30);
    expect(delivered).toBeLessThan(120 - 40);
    expect(answers.slice(-39).every((l) => l.startsWith("slow down"))).toBe(true);
    expect(answers.length).toBeGreaterThanOrEqual(39);
  });

  it("keeps two bystanders' chat intact while another socket sends garbage", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    const mallory = await open(lobby, "mallory");
    await mallory.expect("username");
    const junk: [string, string][] = [
      ["\u0000", "control or invisible characters (U+0000)"],
      ["\u202Ealice", "control or invisible characters (U+202E)"],
      ["a".repeat(5000), "Message too long"],
      ["/connect bob", "Please enter a username first"],
      ['{"type":"say"}', '"{" not allowed'],
    ];
    for (const [frame, answer] of junk) {
      mallory.send(frame);
      await mallory.expect(answer);
      if (!answer.startsWith("Message") && !answer.startsWith("Please enter a username first")) {
        await mallory.expect("Please enter a username:");
      }
    }
    alice.send("hello bob");
    await bob.expect("alice: hello bob");
    bob.send("hello alice");
    await alice.expect("bob: hello alice");
  });

  it("answers a frame the Lobby fails on with a server error, and carries on", async () => {
    const lobby = freshLobby();
    const alice = await login(lobby, "alice");
    // A bug planted for one frame: the step throws.
    await runInDurableObject(lobbyStub(lobby), (instance) => {
      vi.spyOn(instance as unknown as { run: () => void }, "run").mockImplementationOnce(() => {
        throw new Error("planted");
      });
    });
    alice.send("list");
    await alice.expect("The server could not handle that message");
    alice.send("list");
    await alice.expect("1 online:");
  });
});
