// A restart of the server mid-chat, as a deploy or a crash does it: `wrangler dev` killed outright (every process
// of it, every socket dropped without a close frame) and started again on the same port and the same storage.
// The clients come back by themselves with their own reconnect and resume logic, four terminal clients
// (bin/parley.mjs) in one test and two web pages in Chromium in the other: the chat carries on with every line
// exactly once and in order in both directions, lines in flight and lines typed while the server was down
// included, and a request that was waiting for an answer can still be answered (issue 12).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { type DevServer, freePort, snapshot, startDevServer } from "../../scripts/dev-server.mjs";
import { chatLine, launchChromium, logIn, myMessages, openClient, say, startChat, theirMessages } from "./browser-support.ts";
import { type TerminalClient, killTerminalClients, loggedIn } from "./terminal-support.ts";

/** How long a restart may take on a busy machine: wrangler dev builds the worker and starts two runtimes. */
const RESTART_MS = 60_000;

const code = snapshot();
const state = mkdtempSync(join(tmpdir(), "parley-restart-"));
let port = 0;
let dev: DevServer;
/**
 * Windows wider than the defaults (30 s to resume, 60 s to answer a request), so that what is tested is the
 * restart, not the clock: on a shared 2-core machine wrangler dev has taken up to 8 s to come back, and the web
 * page's backoff (1, 2, 4, 8, 16 s, less up to half of each) may add as much again before it tries.
 */
const GRACE_S = 60;
const start = () =>
  startDevServer({
    dir: code.dir,
    port,
    persistDir: state,
    timeoutMs: RESTART_MS,
    vars: { RESUME_GRACE_MS: String(GRACE_S * 1000), REQUEST_TIMEOUT_MS: "180000" },
  });
beforeAll(async () => {
  port = await freePort();
  dev = await start();
});
afterEach(killTerminalClients);
afterAll(async () => {
  await dev?.stop();
  code.remove();
  rmSync(state, { recursive: true, force: true });
});

/** SIGKILL to every process of wrangler dev: no close frame, no close handler, as a crash; nothing is flushed. */
async function kill(): Promise<number> {
  process.kill(-dev.pid, "SIGKILL");
  const at = Date.now();
  await dev.stop();
  return at;
}

/** The lines `from` said that `client` showed, by number, in the order shown. */
function heard(client: TerminalClient, from: string, prefix: string): number[] {
  const line = new RegExp(`^${from}: ${prefix}(\\d+)$`, "gm");
  return [...client.output.matchAll(line)].map((m) => Number(m[1]));
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

it("carries a chat and a pending request through a kill and restart of wrangler dev", { timeout: 240_000 }, async () => {
  const url = `${dev.wsUrl}?lobby=restart-${crypto.randomUUID()}`;

  const [alice, bob, carol, dave] = await Promise.all(["alice", "bob", "carol", "dave"].map((name) => loggedIn(url, name)));
  alice.type("connect bob");
  await bob.expect("alice is trying to connect with you (y/n)");
  bob.type("y");
  await alice.expect("You are now connected with bob");
  await bob.expect("You are now connected with alice");
  carol.type("connect dave");
  await carol.expect("Waiting for dave to answer");
  await dave.expect("carol is trying to connect with you (y/n)");

  alice.type("a1");
  bob.type("b1");
  await bob.until("alice's a1", () => heard(bob, "alice", "a").length === 1);
  await alice.until("bob's b1", () => heard(alice, "bob", "b").length === 1);

  // Lines in flight both ways: typed, written to the socket (each client echoes a line once it has sent it), and
  // the server killed before they can all have arrived.
  for (const i of [2, 3, 4, 5, 6]) {
    alice.type(`a${i}`);
    bob.type(`b${i}`);
  }
  await alice.expect("alice: a6");
  await bob.expect("bob: b6");
  const killedAt = await kill();
  const before = { bobHad: heard(bob, "alice", "a"), aliceHad: heard(alice, "bob", "b") };
  for (const client of [alice, bob, carol, dave]) await client.expect("reconnecting…");
  // Typed while the server is down: kept, and sent with the rest on resume.
  alice.type("a7");
  bob.type("b7");
  await alice.expect("alice: a7");
  await bob.expect("bob: b7");

  dev = await start();
  const upAfterMs = Date.now() - killedAt;
  for (const client of [alice, bob, carol, dave]) await client.expect(/Welcome back, \w+!/, RESTART_MS);
  const resumedAfterMs = Date.now() - killedAt;

  for (const i of [8, 9, 10]) {
    alice.type(`a${i}`);
    bob.type(`b${i}`);
  }
  await bob.until("alice's a1-a10", () => heard(bob, "alice", "a").length >= 10, 20_000);
  await alice.until("bob's b1-b10", () => heard(alice, "bob", "b").length >= 10, 20_000);
  // The request survived with the chat: dave can still say yes.
  dave.type("y");
  await dave.expect("You are now connected with carol");
  await carol.expect("You are now connected with dave");
  // And nothing arrives twice afterwards: a last line each way, then the transcripts are final.
  alice.type("a11");
  bob.type("b11");
  await bob.until("alice's a11", () => heard(bob, "alice", "a").includes(11));
  await alice.until("bob's b11", () => heard(alice, "bob", "b").includes(11));

  console.log(
    `restart: killed with alice's a${before.bobHad.join(",a")} and bob's b${before.aliceHad.join(",b")} delivered of 6 each; ` +
      `server up again after ${upAfterMs} ms, all four resumed after ${resumedAfterMs} ms`,
  );
  expect(heard(bob, "alice", "a")).toEqual(upTo(11));
  expect(heard(alice, "bob", "b")).toEqual(upTo(11));
  for (const client of [alice, bob, carol, dave]) expect(client.output).not.toContain("has left the chat");
});

it("carries a chat between two web pages through a kill and restart of wrangler dev", { timeout: 240_000 }, async () => {
  const browser = await launchChromium();
  try {
    const lobby = `restart-web-${crypto.randomUUID()}`;
    const [alice, bob] = await Promise.all([openClient(browser, dev.url, lobby), openClient(browser, dev.url, lobby)]);
    await logIn(alice.page, "alice");
    await logIn(bob.page, "bob");
    await startChat({ page: bob.page, name: "bob" }, { page: alice.page, name: "alice" });
    await say(alice.page, "a1");
    await say(bob.page, "b1");
    await theirMessages(bob.page).getByText("a1", { exact: true }).waitFor();
    await theirMessages(alice.page).getByText("b1", { exact: true }).waitFor();

    // Lines in flight both ways: three sent at once from each page (as fast as Enter, Enter, Enter), and the server
    // killed right after, without waiting for them.
    const burst = (page: Page, lines: string[]) =>
      page.evaluate((lines) => {
        const box = document.querySelector<HTMLTextAreaElement>("#message")!;
        const form = document.querySelector<HTMLFormElement>("#composer")!;
        for (const line of lines) {
          box.value = line;
          form.requestSubmit();
        }
      }, lines);
    await Promise.all([burst(alice.page, ["a2", "a3", "a4"]), burst(bob.page, ["b2", "b3", "b4"])]);
    const killedAt = await kill();
    const before = { bobHad: await theirMessages(bob.page).allTextContents(), aliceHad: await theirMessages(alice.page).allTextContents() };
    for (const { page } of [alice, bob]) await page.locator("#notices").getByText(new RegExp(`^Reconnecting… your chat with \\w+ is kept for ${GRACE_S} s$`)).waitFor();
    // Typed while the server is down: kept, and sent with the rest on resume.
    await say(alice.page, "a5");
    await say(bob.page, "b5");

    dev = await start();
    await chatLine(alice.page, "Back; your chat with bob goes on").waitFor({ timeout: RESTART_MS });
    await chatLine(bob.page, "Back; your chat with alice goes on").waitFor({ timeout: RESTART_MS });
    const resumedAfterMs = Date.now() - killedAt;
    await say(alice.page, "a6");
    await say(bob.page, "b6");
    // A page shows a line only after every earlier one, so the last line shown means all are.
    await theirMessages(bob.page).getByText("a6", { exact: true }).waitFor();
    await theirMessages(alice.page).getByText("b6", { exact: true }).waitFor();

    console.log(
      `restart (web): killed with ${before.bobHad.join(",")} and ${before.aliceHad.join(",")} shown of 4 each; both pages resumed after ${resumedAfterMs} ms`,
    );
    const lines = (p: string) => upTo(6).map((i) => `${p}${i}`);
    expect(await theirMessages(bob.page).allTextContents()).toEqual(lines("a"));
    expect(await theirMessages(alice.page).allTextContents()).toEqual(lines("b"));
    expect(await myMessages(alice.page).allTextContents()).toEqual(lines("a"));
    expect(await myMessages(bob.page).allTextContents()).toEqual(lines("b"));
    for (const c of [alice, bob]) {
      expect(await c.page.locator("#transcript").textContent()).not.toContain("has left the chat");
      expect(c.errors).toEqual([]);
      expect(c.dialogs).toEqual([]);
    }
  } finally {
    await browser.close();
  }
});
