// Issue 9, attack 6: a socket sending the text frame `ping` as fast as it can. The runtime answers pings itself
// (setWebSocketAutoResponse) without the Lobby seeing them, so no limit applied; while a lobby is active, pings now
// reach the Lobby and its rate limit, which closes a flood with 1008. (The figures of a flood that does not read
// its pongs, and under wrangler dev, are in SECURITY.md.)

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OP, RawClient } from "../raw-client.ts";
import { ATTACK_VARS, Bystander, type Runtime, freshLobby, login, mb, ms, startRuntime, summary } from "./support.ts";

/** The flooder must be closed within this long. */
const CLOSE_WITHIN_MS = 10_000;
/** Pings in flight: the flooder sends more as answers come back, so it goes as fast as the server answers. */
const WINDOW = 1000;
const BYSTANDER_P99_MAX_MS = 250;
/** The bystander keeps measuring this long after the flood stopped, while pings still in flight are handled. */
const SETTLE_MS = 1_500;

interface Flood {
  pings: number;
  answers: number;
  pingsPerSecond: number;
  floodMs: number;
  close: RawClient["closeFrame"];
  rssBeforeMB: number;
  rssPeakMB: number;
  bystanderP50ms: number;
  bystanderP99ms: number;
  bystanderMaxMs: number;
  bystanderLost: number;
}

/**
 * One logged-in socket floods `ping` for up to `maxMs` while a bystander pair chats in the same lobby. Reading, it
 * keeps WINDOW pings in flight and stops when the server closes it; not reading, it writes as fast as the socket
 * takes them for the whole time.
 */
async function flood(url: string, rss: () => number, opts: { read: boolean; maxMs: number }): Promise<Flood> {
  const bystander = await Bystander.start(url);
  const flooder = await login(url, `pinger${crypto.randomUUID().slice(0, 6)}`, { answerClose: false });
  flooder.keepTexts = false;
  const batch = Array.from({ length: WINDOW / 2 }, () => RawClient.frame(OP.text, "ping")).flat();
  const answeredBefore = flooder.textCount;
  let pings = 0;
  const rssBefore = rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rss())), 100);
  const started = Date.now();
  const more = () => {
    pings += WINDOW / 2;
    void flooder.write(batch);
  };
  if (opts.read) {
    more();
    more();
    // Every answer (a pong, or an error once the Lobby refuses) makes room for another ping.
    flooder.onText = () => {
      if (pings - (flooder.textCount - answeredBefore) < WINDOW / 2 && flooder.closeFrame === null) more();
    };
    await flooder.waitFor(() => flooder.closeFrame !== null, "the close", opts.maxMs).catch(() => {});
  } else {
    flooder.pause();
    // A server that stops reading (its answers cannot go out) stops the flood: a write then waits until the end.
    const end = new Promise((r) => setTimeout(r, opts.maxMs));
    while (Date.now() - started < opts.maxMs && flooder.endedAt === null) {
      pings += WINDOW / 2;
      if ((await Promise.race([flooder.write(batch).then(() => "written"), end])) !== "written") break;
    }
  }
  const floodMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  clearInterval(sampler);
  const latency = await bystander.stop();
  const result: Flood = {
    pings,
    answers: flooder.textCount - answeredBefore,
    pingsPerSecond: Math.round((pings * 1000) / floodMs),
    floodMs,
    close: flooder.closeFrame,
    rssBeforeMB: mb(rssBefore),
    rssPeakMB: mb(Math.max(rssPeak, rss())),
    bystanderP50ms: ms(latency.p50),
    bystanderP99ms: ms(latency.p99),
    bystanderMaxMs: ms(latency.max),
    bystanderLost: latency.sent - latency.returned,
  };
  bystander.close();
  flooder.destroy();
  return result;
}

const figures = (f: Flood) => ({ ...f, close: f.close ? `${f.close.code} ${f.close.reason}` : "none" });

describe("directly on the runtime", () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await startRuntime({ vars: { ...ATTACK_VARS } });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it("closes a ping flood with 1008 while a bystander pair chats, and the bystander stays quick", { timeout: 30_000 }, async () => {
    const f = await flood(freshLobby(rt), rt.rss, { read: true, maxMs: CLOSE_WITHIN_MS });
    summary("ping flood (reading pongs) in an active lobby", figures(f));

    expect(f.close).toMatchObject({ code: 1008 });
    expect(f.bystanderP99ms).toBeLessThan(BYSTANDER_P99_MAX_MS);
  });
});
