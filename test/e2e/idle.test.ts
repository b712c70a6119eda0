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

it(`lets a lobby with ${USERS.toLocaleString("en-US")} idle users hibernate, and wakes it for the next frame`, { timeout: 90_000 }, async () => {
  const url = `${dev.wsUrl}?lobby=idle-${crypto.randomUUID()}`;
  const users: Awaited<ReturnType<typeof login>>[] = [];
  for (let next = 0; next < USERS; ) {
    const batch = Array.from({ length: Math.min(50, USERS - next) }, (_, i) => login(url, `user${next + i}`));
    next += batch.length;
    users.push(...(await Promise.all(batch)));
  }

  const mark = dev.output().length;
  await new Promise((resolve) => setTimeout(resolve, 14_000)); // the idle period is the point of this test
  // Nothing woke it while it was idle (an alarm would have constructed it again, and said so)...
  expect(dev.output().slice(mark)).not.toMatch(/Lobby woke/);

  // ...and it had been evicted: the next frame constructs it again, and `list` rebuilds every socket and user.
  const woke = dev.waitForOutput(new RegExp(`Lobby woke[^]*Lobby rebuilt: ${USERS} sockets, ${USERS} users, 0 pending requests`), { from: mark });
  users[0]!.send("list");
  expect(await woke).toBeTruthy();
  await users[0]!.expect(`${USERS} online:`);

  await Promise.all(users.map((u) => u.close(1000, "done")));
});
