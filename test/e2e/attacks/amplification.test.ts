// Issue 9, attack 1: a message of line breaks sent to a partner who stops reading must not grow the runtime's memory
// without bound; the partner's socket is closed (4002 "not reading") once its unread output passes MAX_UNREAD_BYTES.

import { afterAll, beforeAll, expect, it } from "vitest";
import type { RawClient } from "../raw-client.ts";
import { ATTACK_VARS, Bystander, MemoryWatch, type Runtime, chatting, freshLobby, login, ms, startRuntime, summary } from "./support.ts";

/** The default MAX_UNREAD_BYTES: what one socket may have sent it and not proven read. */
const MAX_UNREAD_BYTES = 262_144;
/** 4,096 bytes (the default MAX_MESSAGE_BYTES), 4,096 lines: today relayed as 4,096 frames. */
const MESSAGE = "a" + "\n".repeat(4095);
/** Under the default rate limit of 20/s. */
const MESSAGES_PER_SECOND = 19;
/** How long the attack may run before the test gives up on the close. */
const ATTACK_MAX_MS = 12_000;
/** After a couple of MAX_UNREAD_BYTES of output, about half a second at this rate; generous for a loaded machine. */
const CLOSE_WITHIN_MS = 5_000;
const RSS_GROWTH_MAX_MB = 64;
/** Stop the attack early past this much growth (today's code grows without bound): the test has failed by then. */
const RSS_SAFETY_MB = 1_500;
/** Loose enough for a loaded 2-core machine; before the fix it was 113-275 ms with the rest of the test failing. */
const BYSTANDER_P99_MAX_MS = 250;

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime({ vars: { ...ATTACK_VARS } });
});
afterAll(async () => {
  await rt?.stop();
});

it("closes a partner who stops reading with 4002 before its queue holds more than MAX_UNREAD_BYTES", { timeout: 40_000 }, async () => {
  const url = freshLobby(rt);
  const bystander = await Bystander.start(url);
  const [alice, bob] = await chatting(url, "alice", "bob");
  // bob reads nothing more (and so answers no check): whatever the server sends him piles up.
  bob.keepTexts = false;
  bob.onText = undefined;
  bob.pause();

  const memory = new MemoryWatch(rt);
  const started = Date.now();
  let sent = 0;
  let leftAt: number | null = null;
  alice.until("bob has left the chat (disconnected)", ATTACK_MAX_MS + 1000).then(
    () => (leftAt = Date.now()),
    () => {},
  );
  while (leftAt === null && Date.now() - started < ATTACK_MAX_MS && memory.sample() - memory.before < RSS_SAFETY_MB * 2 ** 20) {
    await alice.sendText(MESSAGE);
    sent++;
    await new Promise((r) => setTimeout(r, Math.max(0, started + (sent * 1000) / MESSAGES_PER_SECOND - Date.now())));
  }
  const attackMs = Date.now() - started;
  const latency = await bystander.stop();
  const mem = memory.stop();

  // bob reads again: whatever the server queued for him, then (after the fix) its close frame.
  let close: RawClient["closeFrame"] = null;
  if (leftAt !== null) {
    bob.resume();
    close = await bob.waitClose(10_000).catch(() => null);
  }
  summary("amplification into a reader that stopped reading", {
    sentMessages: sent,
    sentKB: Math.round((sent * MESSAGE.length) / 1024),
    attackMs,
    timeToCloseMs: leftAt === null ? "never" : leftAt - started,
    bobFramesRead: bob.textCount,
    bobBytesRead: bob.bytesReceived,
    closeCode: close?.code ?? "none",
    rssBeforeMB: mem.beforeMB,
    rssPeakMB: mem.peakMB,
    rssAfterMB: mem.afterMB,
    bystanderP50ms: ms(latency.p50),
    bystanderP99ms: ms(latency.p99),
    bystanderLost: latency.sent - latency.returned,
  });
  bystander.close();
  alice.destroy();
  bob.destroy();

  expect(leftAt, `alice was never told bob left within ${ATTACK_MAX_MS} ms`).not.toBeNull();
  expect(leftAt! - started).toBeLessThan(CLOSE_WITHIN_MS);
  expect(close).toMatchObject({ code: 4002, reason: "not reading" });
  // What bob got before the close is bounded by the budget (plus the frame that crossed it and the check).
  expect(bob.bytesReceived).toBeLessThan(MAX_UNREAD_BYTES + 2 * 8 * MESSAGE.length + 4096);
  expect(mem.growthMB).toBeLessThan(RSS_GROWTH_MAX_MB);
  expect(latency.p99).toBeLessThan(BYSTANDER_P99_MAX_MS);
});

it("relays a message as one frame whatever its line breaks, and every text event as one frame", async () => {
  const url = freshLobby(rt);
  const alice = await login(url, "alice");
  const greeting = alice.texts.at(-1)!;
  const bob = await login(url, "bob");
  await alice.sendText("connect bob");
  await bob.until("alice is trying to connect with you");
  await bob.sendText("y");
  await alice.until("You are now connected with bob");
  await bob.until("You are now connected with alice");
  const before = bob.textCount;

  await alice.sendText("a\nb");
  const twoLines = await bob.until(/^alice: /);
  await alice.sendText(MESSAGE);
  const manyLines = await bob.until(/^alice: a/);
  await alice.sendText("done");
  await bob.until(/^alice: done$/);
  const frames = bob.textCount - before;

  await bob.sendText("/list");
  const list = await bob.until(/^\d+ online:/);
  summary("one frame per message", { framesForThreeMessages: frames, linesInBigMessage: manyLines.split("\n").length, greeting, list });
  alice.destroy();
  bob.destroy();

  expect(greeting).toMatch(/^Welcome, alice!\nCommands: /);
  expect(twoLines).toBe("alice: a\nalice: b");
  // A frame's one trailing line break ends the line (as a terminal client sends it); the other 4,094 are lines.
  expect(manyLines).toBe(["a", ...Array<string>(4094).fill("")].map((line) => `alice: ${line}`).join("\n"));
  expect(frames).toBe(3);
  expect(list).toBe("2 online:\n  alice - busy\n  bob (you) - busy");
});
