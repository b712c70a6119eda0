// Real hibernation under wrangler dev: the Lobby is evicted from memory after ~10 s without events while its
// sockets stay connected. Every state must come back from attachments and storage exactly as it was.

import { afterAll, beforeAll, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";
import { connect, login } from "./support.ts";

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer();
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

  // No events for a while: the runtime evicts the object (~10 s after its last event). The chat keeps a sweep alarm
  // every 15 s, and the first one after the eviction constructs the Lobby again and rebuilds it, which it says.
  // Waited for, not slept for: how soon that comes depends on the runtime and on how busy the machine is.
  const mark = dev.output().length;
  await dev.waitForOutput(/Lobby rebuilt: 6 sockets, 5 users, 1 pending requests/, { from: mark, timeoutMs: 90_000 });
  alice.send("still here?");
  await bob.expect("alice: still here?");
  bob.send("yes!");
  await alice.expect("bob: yes!");

  dave.send("y");
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
