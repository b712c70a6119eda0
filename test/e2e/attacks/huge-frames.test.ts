// Issue 9, attack 5: the runtime reads a whole frame (up to 32 MiB) before the Lobby can look at its size. A frame a
// little over MAX_MESSAGE_BYTES is refused with an error and the socket stays; one far over it closes the socket
// with 1009, so that a client cannot make the Lobby read 32 MiB again and again.

import { afterAll, beforeAll, expect, it } from "vitest";
import { OP, RawClient } from "../raw-client.ts";
import { ATTACK_VARS, Bystander, MemoryWatch, type Runtime, freshLobby, login, mb, ms, startRuntime, summary } from "./support.ts";

/** The default MAX_MESSAGE_BYTES. */
const MAX_MESSAGE_BYTES = 4096;
/** Up to here a frame gets an error and the socket stays open: max(4 × MAX_MESSAGE_BYTES, 64 KiB). */
const TOLERATED = Math.max(4 * MAX_MESSAGE_BYTES, 64 * 1024);
const MIB = 2 ** 20;
/** What workerd reads before handing a frame over. */
const HUGE = 32 * MIB;
const HUGE_SENDERS = 8;
const CLOSE_WITHIN_MS = 20_000;
/** The bystander keeps measuring this long after every sender was answered. */
const SETTLE_MS = 500;

/**
 * How the server answered a huge frame: its close frame (after the fix), or its error (today), whichever came
 * first; null if neither came in time.
 */
async function answer(c: RawClient, since: number): Promise<{ code: number | "none"; ms: number; said?: string } | null> {
  const said = () => c.texts.slice(since).find((t) => t.startsWith("Message too long"));
  const came = await c
    .waitFor(() => c.closeFrame !== null || said() !== undefined, "a close frame or an error", CLOSE_WITHIN_MS)
    .then(() => true, () => false);
  if (!came) return null;
  return c.closeFrame ? { code: c.closeFrame.code, ms: c.closeFrame.at } : { code: "none", ms: Date.now(), said: said()! };
}

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime({ vars: { ...ATTACK_VARS } });
});
afterAll(async () => {
  await rt?.stop();
});

it("refuses a frame a little over the limit with an error, and keeps the socket", async () => {
  const url = freshLobby(rt);
  const c = await login(url, "alice");
  const answers = [];
  for (const size of [MAX_MESSAGE_BYTES + 1, 10_000, TOLERATED]) {
    await c.sendText("x".repeat(size));
    answers.push(await c.until(/./));
  }
  await c.sendText("help");
  const help = await c.until(/./);
  summary("frames a little over the limit", { sizes: [MAX_MESSAGE_BYTES + 1, 10_000, TOLERATED], answers, open: c.closeFrame === null });
  c.destroy();

  for (const a of answers) expect(a).toMatch(/^Message too long/);
  expect(c.closeFrame).toBeNull();
  expect(help).not.toMatch(/^Message too long/);
});

it("closes with 1009 a socket that sends a frame far over the limit (1 MiB, 32 MiB)", { timeout: 30_000 }, async () => {
  const url = freshLobby(rt);
  const results: Record<string, unknown> = {};
  for (const size of [TOLERATED + 1024, MIB, HUGE]) {
    const c = await login(url, `sender${size}`);
    const started = Date.now();
    const since = c.texts.length;
    await c.write(RawClient.frame(OP.text, Buffer.alloc(size, "x")));
    const a = await answer(c, since);
    results[size] = a ? { ...a, ms: a.ms - started } : "no answer";
    c.destroy();
  }
  summary("frames far over the limit", results);

  for (const size of [TOLERATED + 1024, MIB, HUGE]) expect(results[size], `a frame of ${size} bytes`).toMatchObject({ code: 1009 });
});

it(`closes ${HUGE_SENDERS} sockets sending ${HUGE / MIB} MiB each with 1009, while a bystander chats`, { timeout: 40_000 }, async () => {
  const url = freshLobby(rt);
  const bystander = await Bystander.start(url);
  const senders = await Promise.all(Array.from({ length: HUGE_SENDERS }, (_, i) => login(url, `huge${i}`)));
  // One masked frame, written to every socket.
  const frame = RawClient.frame(OP.text, Buffer.alloc(HUGE, "x"));
  const memory = new MemoryWatch(rt);
  const started = Date.now();
  const since = senders.map((s) => s.texts.length);
  await Promise.all(senders.map((s) => s.write(frame)));
  const answers = await Promise.all(senders.map((s, i) => answer(s, since[i]!)));
  const allAnsweredMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, SETTLE_MS)); // lines held up by the frames may still be on their way
  const latency = await bystander.stop();
  const mem = memory.stop();
  summary(`${HUGE_SENDERS} × ${HUGE / MIB} MiB frames`, {
    closeCodes: answers.map((a) => a?.code ?? "no answer"),
    answeredMs: allAnsweredMs,
    sentMB: mb(HUGE_SENDERS * HUGE),
    rssBeforeMB: mem.beforeMB,
    rssPeakMB: mem.peakMB,
    rssAfterMB: mem.afterMB,
    bystanderP50ms: ms(latency.p50),
    bystanderP99ms: ms(latency.p99),
    bystanderMaxMs: ms(latency.max),
    bystanderLost: latency.sent - latency.returned,
  });
  bystander.close();
  for (const s of senders) s.destroy();

  expect(answers.map((a) => a?.code)).toEqual(Array(HUGE_SENDERS).fill(1009));
});
