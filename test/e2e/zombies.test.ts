// Sockets that die without a close event (a closed Chrome tab can leave one, workerd#1187), under wrangler dev with
// a short heartbeat timeout: an idle one is reaped when its name or its company is wanted.

import { afterAll, beforeAll, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";
import { login } from "./support.ts";

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer({ vars: { HEARTBEAT_TIMEOUT_MS: "1000" } });
});
afterAll(async () => {
  await dev?.stop();
});

it("frees the name of a silent socket when someone wants it, and refuses to connect anyone to it", async () => {
  const url = `${dev.wsUrl}?lobby=zombies-${crypto.randomUUID()}`;
  const ghost = await login(url, "alice");
  const quiet = await login(url, "bob");
  for (const peer of [ghost, quiet]) {
    peer.send("ping");
    await peer.expect(/^pong$/);
  }
  // Both now stay silent past the 1 s timeout, as a dead tab would: the silence is what is tested.
  await new Promise((resolve) => setTimeout(resolve, 1500));

  const carol = await login(url, "carol");
  carol.send("connect bob");
  await carol.expect("bob is not online");
  expect(await quiet.waitClosed()).toEqual({ code: 4000, reason: "heartbeat timeout" });

  const again = await login(url, "alice");
  expect(await ghost.waitClosed()).toEqual({ code: 4000, reason: "heartbeat timeout" });
  again.send("list");
  await again.expect("2 online:");
});
