// An idle lobby costs nothing while it waits: with 1,000 users logged in and nothing pending, no alarm and no timer
// keeps the Lobby awake, so the runtime evicts it (~10 s without events) with every socket still open, and the
// next frame constructs it again from the sockets' attachments.

import { afterAll, beforeAll, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";
import { login } from "./support.ts";

const USERS = 1000;

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer({
    vars: {
      // All 1,000 sockets come from 127.0.0.1.
      MAX_SOCKETS_PER_IP: String(USERS + 10),
      LOGINS_PER_MINUTE_PER_IP: String(USERS * 10),
      // A sweep alarm, were one set, would fire every second: it would keep the object awake, or wake it during
      // the wait below. Either fails the test.
      HEARTBEAT_TIMEOUT_MS: "3000",
    },
  });
});
afterAll(async () => {
  await dev?.stop();
});

it(`lets a lobby with ${USERS.toLocaleString("en-US")} idle users hibernate, and wakes it for the next frame`, { timeout: 180_000 }, async () => {
  const url = `${dev.wsUrl}?lobby=idle-${crypto.randomUUID()}`;
  const users: Awaited<ReturnType<typeof login>>[] = [];
  for (let next = 0; next < USERS; ) {
    const batch = Array.from({ length: Math.min(50, USERS - next) }, (_, i) => login(url, `user${next + i}`));
    next += batch.length;
    users.push(...(await Promise.all(batch)));
  }

  // Left alone, the runtime evicts the object about 10 s after its last event (here the alarm that hands pings back
  // to the runtime, 3 s after the last login: ~13 s in all). An eviction cannot be seen from outside without waking
  // the object, so the test pokes it after a quiet spell and reads how it answered: rebuilt, so it had been
  // evicted; or from memory, not yet (a busy machine), and the poke starts a new quiet spell, waited for longer.
  const rebuiltLine = new RegExp(`Lobby rebuilt: ${USERS} sockets, ${USERS} users, 0 pending requests`);
  let woke: string | null = null;
  for (const quietMs of [15_000, 20_000, 30_000]) {
    const mark = dev.output().length;
    await new Promise((resolve) => setTimeout(resolve, quietMs)); // the quiet spell is the point of this test
    // Nothing woke it while it was idle (an alarm would have constructed it again, and said so)...
    expect(dev.output().slice(mark)).not.toMatch(/Lobby woke/);
    // ...and the next frame finds every socket and user.
    users[0]!.send("list");
    await users[0]!.until(`${USERS} online:`);
    woke = await dev.waitForOutput(rebuiltLine, { from: mark, timeoutMs: 3000 }).catch(() => null);
    if (woke) break;
  }
  expect(woke, "the Lobby was never evicted").toBeTruthy();

  await Promise.all(users.map((u) => u.close(1000, "done")));
});
