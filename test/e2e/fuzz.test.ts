// Thousands of random and adversarial frames at a live Lobby under wrangler dev, while two bystanders chat.
// Every frame must be answered (an error for the bad ones) without an exception, and the bystanders' chat must
// go on untouched. FUZZ_RUNS raises the count.

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";
import { chatting, connect, login } from "./support.ts";

const FRAMES = Number(process.env.FUZZ_RUNS) > 0 ? Number(process.env.FUZZ_RUNS) : 1500;
const LIMIT = 4096;

let dev: DevServer;
beforeAll(async () => {
  // The rate limiter would answer most of a fast fuzz with "slow down"; this test is about everything else.
  dev = await startDevServer({ vars: { RATE_PER_SECOND: "100000", RATE_BURST: "100000", LOGINS_PER_MINUTE_PER_IP: "100000" } });
});
afterAll(async () => {
  await dev?.stop();
});

/**
 * `bad`: "always" for frames refused in any state (too big, empty), "json" for frames only the JSON dialect
 * refuses (a text user in a chat may send "{" to a partner), false for frames that may be fine.
 */
type Frame = { kind: "text"; data: string; bad: "always" | "json" | false; tooBig?: true } | { kind: "binary"; data: Uint8Array };

const weird = fc.constantFrom(
  "\u0000", "\u0007", "\u001b[2J", "\r", "\n", "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\ud800", "\udfff",
  "👩‍👩‍👧", "é", "ａ", "\u0301", "/", " ", "\t", "y", "n", "exit", "connect", "list", "help", "cancel", "alice", "bob",
);
const text = fc.array(fc.oneof(weird, fc.string({ unit: "binary", maxLength: 8 })), { maxLength: 8 }).map((parts) => parts.join(""));
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const actionType = fc.constantFrom("login", "connect", "answer", "say", "exit", "cancel", "list", "help", "quit", "__proto__", "constructor", "");

/** Frames a client should never send; each must get an error back. */
const badFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((data): Frame => ({ kind: "binary", data })),
  fc.constant<Frame>({ kind: "text", data: "x".repeat(LIMIT + 1), bad: "always", tooBig: true }),
  fc.constant<Frame>({ kind: "text", data: "é".repeat(LIMIT / 2 + 1), bad: "always", tooBig: true }),
  fc.constant<Frame>({ kind: "text", data: "", bad: "always" }),
  fc.constant<Frame>({ kind: "text", data: "[".repeat(2000) + "]".repeat(2000), bad: "json" }),
  fc.constant<Frame>({ kind: "text", data: '{"type":"say","text":1e999}', bad: "json" }),
  fc.constant<Frame>({ kind: "text", data: '{"__proto__":{"type":"list"},"constructor":{"prototype":{}}}', bad: "json" }),
  text.map((t): Frame => ({ kind: "text", data: `{${t}`, bad: "json" })),
);

/** Frames that may or may not make sense: random actions with random field types, in whatever state. */
const anyFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: actionType, name: fc.oneof(text, jsonValue), to: fc.oneof(text, jsonValue), accept: jsonValue, text: fc.oneof(text, jsonValue) }, { requiredKeys: ["type"] })
    .map((o): Frame => ({ kind: "text" as const, data: JSON.stringify(o), bad: false as const })),
  jsonValue.map((v): Frame => ({ kind: "text", data: JSON.stringify(v), bad: false })),
  text.map((t): Frame => ({ kind: "text", data: t, bad: false })),
  fc.constant<Frame>({ kind: "text", data: "y".repeat(LIMIT), bad: false }),
);

describe("fuzzing the Lobby", () => {
  it(`answers ${FRAMES} random and hostile frames per dialect and leaves a bystanders' chat untouched`, { timeout: 240_000 }, async () => {
    const url = `${dev.wsUrl}?lobby=fuzz-${crypto.randomUUID()}`;
    const [alice, bob] = await chatting(url, "alice", "bob");

    const frames = fc.sample(fc.oneof(badFrame, anyFrame), { numRuns: FRAMES, seed: 4242 });
    let bystanderRound = 0;
    for (const json of [true, false]) {
      let fuzzer = await connect(url, json ? "json-fuzzer" : "text-fuzzer", { json });
      await fuzzer.next();
      for (const [i, frame] of frames.entries()) {
        if (frame.kind === "binary") fuzzer.raw.send(frame.data, { binary: true });
        else fuzzer.send(frame.data);
        // A fence: whatever the frame did, the next frame is answered after it, and the answer names it.
        const fence = `fence${i}`;
        fuzzer.send(json ? JSON.stringify({ type: fence }) : `/${fence}`);
        const replies: string[] = [];
        for (;;) {
          const line = await fuzzer.next().catch((err: unknown) => {
            // Only a frame that said quit may close the socket: the fence then gets no answer.
            if (replies.some((r) => r === "Goodbye" || r === '{"type":"bye"}')) return null;
            throw err;
          });
          if (line === null || line.includes(`"${fence}"`) || line.includes(`\\"${fence}\\"`)) break;
          replies.push(line);
        }
        if (json) for (const r of replies) if (r !== "pong") expect(JSON.parse(r)).toHaveProperty("type");
        if (frame.kind === "binary") expect(replies.join("\n")).toContain("Binary frames are not supported");
        // Over the size limit is its own answer in either dialect: any error will not do (issue 15).
        else if (frame.tooBig) expect(replies.join("\n")).toMatch(json ? /"code":"too_big"/ : /^Message too long \(limit 4096 bytes\)/m);
        else if (frame.bad === "always" || (frame.bad === "json" && json)) {
          expect(replies.length, `no answer to ${JSON.stringify(frame.data.slice(0, 80))}`).toBeGreaterThan(0);
        }
        if (fuzzer.closed) {
          fuzzer = await connect(url, "fuzzer again", { json }); // it quit: a new one takes over
          await fuzzer.next();
        }
        if (i % 100 === 0) {
          bystanderRound++;
          alice.send(`round ${bystanderRound}`);
          await bob.expect(`alice: round ${bystanderRound}`);
          bob.send(`ack ${bystanderRound}`);
          await alice.expect(`bob: ack ${bystanderRound}`);
        }
      }
    }
    expect(alice.unread()).toEqual([]);
    expect(bob.unread()).toEqual([]);
    expect(dev.output()).not.toMatch(/webSocketMessage failed|Uncaught/);
  });

  it("survives invalid UTF-8 in a text frame, whatever the runtime makes of it", async () => {
    const url = `${dev.wsUrl}?lobby=utf8-${crypto.randomUUID()}`;
    const alice = await login(url, "alice");
    const bob = await login(url, "bob");
    const carol = await login(url, "carol");
    alice.send("connect bob");
    await bob.expect("(y/n)");
    bob.send("y");
    await alice.until("You are now connected with bob");
    // An overlong encoding of "/" and a lone continuation byte, sent as a text frame: not UTF-8 at all.
    bob.raw.send(Buffer.from([0xc0, 0xaf, 0x80, 0x41]), { binary: false });
    // The runtime either decodes it with U+FFFD replacements or fails the connection; the Lobby copes with both.
    const seen = await alice.expect(/^bob: \uFFFD+A$|^bob has left the chat \(disconnected\)$/);
    const bobSurvived = seen.startsWith("bob:");
    if (bobSurvived) {
      bob.send("still here");
      await alice.expect("bob: still here");
    }
    carol.send("list");
    await carol.expect(`${bobSurvived ? 3 : 2} online:`);
  });
});
