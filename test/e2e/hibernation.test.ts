// Real hibernation under wrangler dev: the Lobby is evicted from memory after ~10 s without events while its
// sockets stay connected. Every state must come back from attachments and storage exactly as it was.

import { afterAll, beforeAll, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";
import { connect, login } from "./support.ts";

let dev: DevServer;
beforeAll(async () => {
  // A lobby with a chat sweeps for silent sockets every HEARTBEAT_TIMEOUT_MS / 3 (15 s by default), and a sweep
  // rebuilds the lobby: kept out of the window in which this test shows that a chat line does not.
  dev = await startDevServer({ vars: { HEARTBEAT_TIMEOUT_MS: "600000" } });
});
afterAll(async () => {
  await dev?.stop();
});

it("resumes a chat, a pending request, a login and a name prompt after the Lobby hibernated", { timeout: 120_000 }, async () => {
  const url = `${dev.wsUrl}?lobby=hibernate-${crypto.randomUUID()}`;
  const alice = await login(url, "alice");
  const bob = await login(url, "bob");
  alice.send("connect bob");
  await bob.expect("alice is trying to connect with you (y/n)");
  bob.send("y");
  await bob.expect("You are now connected with alice");
  await alice.until("You are now connected with bob");

  const carol = await login(url, "carol");
  const dave = await login(url, "dave");
  carol.send("connect dave");
  await carol.expect("Waiting for dave");
  await dave.expect("carol is trying to connect with you (y/n)");

  const erin = await login(url, "erin");
  erin.send("connect");
  await erin.expect("Who do you want to connect with?");

  const newcomer = await connect(url, "newcomer");
  await newcomer.expect("username");

  // No events for a while: the runtime evicts the object; the next frame constructs it again. A chat line needs
  // only its two sockets' attachments; the answer to carol's request needs the whole lobby, rebuilt from them all.
  // The object goes ~10 s after its last event, and its last is the heartbeat hand-over 3 s after the last frame
  // (keepalive.ts): a line sent sooner would find it awake and start the wait again, so it is repeated.
  let mark = 0;
  let woke = false;
  for (let tries = 0; !woke && tries < 3; tries++) {
    mark = dev.output().length;
    await new Promise((resolve) => setTimeout(resolve, 14_000)); // the idle period is the point of this test
    const wake = dev.waitForOutput(/Lobby woke/, { from: mark, timeoutMs: 3000 }).then(() => true, () => false);
    alice.send(`still here? (${tries})`);
    await bob.expect(`alice: still here? (${tries})`);
    woke = await wake;
  }
  expect(woke, "the Lobby never hibernated").toBe(true);
  expect(dev.output().slice(mark)).not.toMatch(/Lobby rebuilt/);
  bob.send("yes!");
  await alice.expect("bob: yes!");

  const rebuilt = dev.waitForOutput(/Lobby rebuilt: 6 sockets, 5 users, 1 pending requests/, { from: mark });
  dave.send("y");
  expect(await rebuilt).toBeTruthy();
  await dave.expect("You are now connected with carol");
  await carol.expect("You are now connected with dave");

  erin.send("alice");
  await erin.expect("alice is busy in a conversation");

  newcomer.send("Alice");
  await newcomer.expect("Username Alice is taken");
  await newcomer.expect("Please enter a username:");
  newcomer.send("frank");
  await newcomer.expect("Welcome, frank!");
});
