// Issue 9, attack 1 (list): 40 of 120 users asking `list` within the rate limit must not delay anyone else's line;
// today each answer is 102 frames.

import { afterAll, beforeAll, expect, it } from "vitest";
import type { RawClient } from "../raw-client.ts";
import { ATTACK_VARS, Bystander, MemoryWatch, type Runtime, answerChecks, freshLobby, isCheck, login, ms, startRuntime, summary } from "./support.ts";

const USERS = 120;
const ASKERS = 40;
/** Under the default rate limit of 20/s. */
const LISTS_PER_SECOND = 19;
const ATTACK_MS = 6_000;
const BYSTANDER_P99_MAX_MS = 500;

let rt: Runtime;
beforeAll(async () => {
  // Every client is one address here (and the direct socket sets no CF-Connecting-IP); lift the per-lobby cap too.
  rt = await startRuntime({ vars: { ...ATTACK_VARS, MAX_SOCKETS_PER_IP: "1000", LOGINS_PER_MINUTE_PER_IP: "10000", MAX_SOCKETS_PER_LOBBY: "1000" } });
});
afterAll(async () => {
  await rt?.stop();
});

it(`keeps a bystander's round trip short while ${ASKERS} of ${USERS} users ask list ${LISTS_PER_SECOND} times a second`, { timeout: 40_000 }, async () => {
  const url = freshLobby(rt);
  const users: RawClient[] = [];
  while (users.length < USERS) {
    const batch = Array.from({ length: Math.min(20, USERS - users.length) }, (_, i) => login(url, `user${users.length + i}`));
    users.push(...(await Promise.all(batch)));
  }
  const askers = users.slice(0, ASKERS);
  // They read every reply (and answer checks, as any reading client does) but keep none: count list answers, and
  // every other frame that is not a check (today, the answers' other 101 lines).
  let listFrames = 0;
  let otherFrames = 0;
  for (const a of askers) {
    a.keepTexts = false;
    a.onText = (text, c) => {
      answerChecks(text, c);
      if (/^\d+ online:/.test(text)) listFrames++;
      else if (!isCheck(text)) otherFrames++;
    };
  }
  const bystander = await Bystander.start(url);
  const memory = new MemoryWatch(rt);

  const started = Date.now();
  let asked = 0;
  await Promise.all(
    askers.map(async (a, i) => {
      // Spread the askers over the first interval, so the load is steady rather than 40 at once.
      await new Promise((r) => setTimeout(r, (i * 1000) / LISTS_PER_SECOND / ASKERS));
      for (let n = 0; Date.now() - started < ATTACK_MS; n++) {
        await a.sendText("list");
        asked++;
        await new Promise((r) => setTimeout(r, Math.max(0, started + ((n + 1) * 1000) / LISTS_PER_SECOND - Date.now())));
      }
    }),
  );
  const latency = await bystander.stop();
  const mem = memory.stop();
  summary("list flood", {
    users: USERS,
    askers: ASKERS,
    lists: asked,
    listFrames,
    otherFrames,
    framesPerList: ms((listFrames + otherFrames) / Math.max(1, listFrames)),
    rssBeforeMB: mem.beforeMB,
    rssPeakMB: mem.peakMB,
    bystanderP50ms: ms(latency.p50),
    bystanderP99ms: ms(latency.p99),
    bystanderMaxMs: ms(latency.max),
    bystanderLost: latency.sent - latency.returned,
  });
  bystander.close();
  for (const u of users) u.destroy();

  expect(latency.p99).toBeLessThan(BYSTANDER_P99_MAX_MS);
  // One frame per answer.
  expect(otherFrames).toBe(0);
});
