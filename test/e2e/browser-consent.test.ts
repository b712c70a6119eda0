// Consent that sticks, in Chromium: Decline and block, Block from the list and the chat header (and blocks kept
// across a reload), Do not disturb as others see it, the typing line, and Escape that hides a request without
// answering it. This server's cooldown after a no is 1 ms, so that a blocked person can be seen asking again.

import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerEvent } from "../../public/wire/protocol.js";
import { renderText } from "../../public/wire/text.js";
import {
  type Client,
  DESKTOP,
  PHONE,
  chatLine,
  launchChromium,
  logIn,
  notice,
  openClient,
  say,
  shot,
} from "./browser-support.ts";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";

const text = (e: ServerEvent) => renderText(e)[0]!;

let dev: DevServer;
let browser: Browser;
let clients: Client[] = [];
let lobby = "";

beforeAll(async () => {
  [browser, dev] = await Promise.all([launchChromium(), startDevServer({ vars: { REQUEST_COOLDOWNS_MS: "1", RESUME_GRACE_MS: "3000" } })]);
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.context.close()));
  clients = [];
});
afterAll(async () => {
  await browser?.close();
  await dev?.stop();
});

async function open(viewport = DESKTOP): Promise<Client> {
  const client = await openClient(browser, dev.url, lobby, viewport);
  clients.push(client);
  return client;
}

/** alice and bob, logged in, each seeing the other. */
async function pair(bobViewport = DESKTOP): Promise<[Client, Client]> {
  lobby = `consent-${crypto.randomUUID()}`;
  const alice = await open(DESKTOP);
  const bob = await open(bobViewport);
  await logIn(alice.page, "alice");
  await logIn(bob.page, "bob");
  return [alice, bob];
}

/** Counts every request dialog a page opens, to show that a blocked person's requests never reach it. */
const countDialogs = (c: Client) =>
  c.page.evaluate(() => {
    const w = window as unknown as { dialogsOpened: number };
    w.dialogsOpened = 0;
    new MutationObserver(() => {
      if (document.querySelector("#incoming")!.hasAttribute("open")) w.dialogsOpened++;
    }).observe(document.querySelector("#incoming")!, { attributes: true, attributeFilter: ["open"] });
  });
const dialogsOpened = (c: Client) => c.page.evaluate(() => (window as unknown as { dialogsOpened: number }).dialogsOpened);

describe("consent in the web client", () => {
  it("Decline and block: alice is told no at once, and when she asks again, no again after a pause bob never sees", async () => {
    const [alice, bob] = await pair();
    await alice.page.getByRole("button", { name: "Connect with bob" }).click();
    const request = bob.page.getByRole("dialog", { name: "alice wants to chat" });
    await request.getByRole("button", { name: "Decline and block" }).click();
    await request.waitFor({ state: "hidden" });
    const declined = text({ type: "request_declined", by: "bob" });
    await notice(alice.page, declined).waitFor();
    await notice(bob.page, text({ type: "blocked", names: ["alice"], changed: { name: "alice", blocked: true } })).waitFor();
    const aliceRow = bob.page.locator(".person", { hasText: "alice" });
    await aliceRow.getByText("Blocked", { exact: true }).waitFor();
    expect(await aliceRow.getByRole("button", { name: "Connect with alice" }).isDisabled()).toBe(true);
    await shot(bob.page, "consent-01-bob-blocked-alice");

    // alice cannot tell a block from a decline: she asks again, waits, and is told no the same way.
    await countDialogs(bob);
    await alice.page.locator("#notices .notice-close").first().click();
    await alice.page.getByRole("button", { name: "Connect with bob" }).click();
    await alice.page.getByText("Waiting for bob to answer…").waitFor();
    await notice(alice.page, declined).waitFor({ timeout: 20_000 }); // the server waits 3–12 s
    expect(await dialogsOpened(bob)).toBe(0);
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it("blocks from the chat header (ending the chat) and from the list, keeps blocks across a reload, and unblocks", async () => {
    const [alice, bob] = await pair(PHONE);
    await bob.page.getByRole("button", { name: "Connect with alice" }).click();
    await alice.page.getByRole("dialog", { name: "bob wants to chat" }).getByRole("button", { name: "Accept" }).click();
    await chatLine(bob.page, text({ type: "connected", with: "alice" })).waitFor();

    // In the chat header: blocking the partner ends the chat as Exit does.
    await bob.page.getByRole("button", { name: "Block alice" }).click();
    await chatLine(alice.page, text({ type: "partner_left", name: "bob", reason: "exit" })).waitFor();
    await chatLine(bob.page, text({ type: "you_left", with: "alice" })).waitFor();
    await bob.page.getByRole("button", { name: "Close chat" }).click();
    const aliceRow = bob.page.locator(".person", { hasText: "alice" });
    await aliceRow.getByText("Blocked", { exact: true }).waitFor();
    await shot(bob.page, "consent-02-bob-phone-blocked");

    // From the list: Unblock, then Block again.
    await aliceRow.getByRole("button", { name: "Unblock alice" }).click();
    await notice(bob.page, text({ type: "blocked", names: [], changed: { name: "alice", blocked: false } })).waitFor();
    await aliceRow.getByText("Available", { exact: true }).waitFor();
    await aliceRow.getByRole("button", { name: "Block alice" }).click();
    await aliceRow.getByText("Blocked", { exact: true }).waitFor();

    // A reload picks the session up again, blocks and all, without asking for the name.
    await bob.page.reload();
    await bob.page.locator("#me-name").getByText("bob", { exact: true }).waitFor();
    await aliceRow.getByText("Blocked", { exact: true }).waitFor();
    expect(await bob.page.locator("#login-view").isVisible()).toBe(false);
    // Away past the resume window, the server forgot the session and its blocks: back, the tab signs in again with
    // the same name and says the blocks again.
    const bobUrl = bob.page.url();
    await bob.page.goto("about:blank");
    await alice.page.locator(".person", { hasText: "bob" }).waitFor({ state: "detached" });
    await bob.page.goto(bobUrl);
    await bob.page.locator("#me-name").getByText("bob", { exact: true }).waitFor();
    await aliceRow.getByText("Blocked", { exact: true }).waitFor();
    await bob.page.locator("#blocked-people summary").click();
    await bob.page.locator("#blocked-list").getByRole("button", { name: "Unblock alice" }).waitFor();
    await countDialogs(bob);
    const connectBob = alice.page.getByRole("button", { name: "Connect with bob" });
    await expect.poll(() => connectBob.isEnabled()).toBe(true);
    await connectBob.click();
    await alice.page.getByText("Waiting for bob to answer…").waitFor();
    await bob.page.waitForTimeout(1500); // a request that reached bob would be on screen by now
    expect(await dialogsOpened(bob)).toBe(0);
    await alice.page.getByRole("button", { name: "Cancel request" }).click();
    await notice(alice.page, text({ type: "cancelled", to: "bob" })).waitFor();
    expect(await bob.page.locator(".notice", { hasText: "You blocked" }).count()).toBe(0); // said again quietly

    // Unblocked from the list of blocked people, alice's requests reach bob again.
    await bob.page.locator("#blocked-list").getByRole("button", { name: "Unblock alice" }).click();
    await aliceRow.getByText("Available", { exact: true }).waitFor();
    await expect.poll(() => connectBob.isEnabled()).toBe(true);
    await connectBob.click();
    await bob.page.getByRole("dialog", { name: "alice wants to chat" }).waitFor();
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it("Do not disturb: others see 'Not taking requests' and cannot press Connect until it is off", async () => {
    const [alice, bob] = await pair();
    const dnd = bob.page.getByRole("button", { name: "Do not disturb" });
    expect(await dnd.getAttribute("aria-pressed")).toBe("false");
    await dnd.click();
    await expect.poll(() => dnd.getAttribute("aria-pressed")).toBe("true");
    const bobRow = alice.page.locator(".person", { hasText: "bob" });
    await bobRow.getByText("Not taking requests", { exact: true }).waitFor();
    expect(await bobRow.getByRole("button", { name: "Connect with bob" }).isDisabled()).toBe(true);
    await bob.page.locator(".person.is-you").getByText("Not taking requests", { exact: true }).waitFor();
    await shot(alice.page, "consent-03-alice-sees-bob-away");
    await shot(bob.page, "consent-04-bob-away");

    await dnd.click();
    await expect.poll(() => dnd.getAttribute("aria-pressed")).toBe("false");
    await notice(bob.page, text({ type: "availability", taking: true })).waitFor();
    await bobRow.getByText("Available", { exact: true }).waitFor();
    await expect.poll(() => bobRow.getByRole("button", { name: "Connect with bob" }).isEnabled()).toBe(true);
    expect(bob.errors).toEqual([]);
  });

  it("shows 'alice is typing…' while she types, and clears it on her message, after a quiet spell, and on exit", async () => {
    const [alice, bob] = await pair();
    await alice.page.getByRole("button", { name: "Connect with bob" }).click();
    await bob.page.getByRole("dialog", { name: "alice wants to chat" }).getByRole("button", { name: "Accept" }).click();
    await chatLine(alice.page, text({ type: "connected", with: "bob" })).waitFor();
    const typing = bob.page.locator("#typing");
    const box = alice.page.locator("#message");

    await box.pressSequentially("hel");
    await typing.getByText("alice is typing…", { exact: true }).waitFor();
    await shot(bob.page, "consent-05-bob-sees-typing");
    await box.pressSequentially("lo");
    await box.press("Enter");
    await bob.page.locator("#transcript .msg-theirs").getByText("hello", { exact: true }).waitFor();
    expect(await typing.textContent()).toBe("");

    // She types and stops: the line goes after about 6 s without a notice.
    await box.pressSequentially("wait");
    await typing.getByText("alice is typing…", { exact: true }).waitFor();
    const shownAt = Date.now();
    await expect.poll(() => typing.textContent(), { timeout: 10_000, interval: 250 }).toBe("");
    expect(Date.now() - shownAt).toBeGreaterThan(4000);

    // She types, then leaves: gone with the chat.
    await box.fill("");
    await box.pressSequentially("bye");
    await typing.getByText("alice is typing…", { exact: true }).waitFor();
    await alice.page.getByRole("button", { name: "Exit chat" }).click();
    await chatLine(bob.page, text({ type: "partner_left", name: "alice", reason: "exit" })).waitFor();
    expect(await typing.textContent()).toBe("");
    expect(bob.errors).toEqual([]);
  });

  it("Escape hides the request without declining it; a banner keeps it answerable", async () => {
    const [alice, bob] = await pair(PHONE);
    await alice.page.getByRole("button", { name: "Connect with bob" }).click();
    const request = bob.page.getByRole("dialog", { name: "alice wants to chat" });
    await request.waitFor();
    await bob.page.keyboard.press("Escape");
    await request.waitFor({ state: "hidden" });
    const banner = bob.page.locator("#request-banner");
    await banner.getByText("alice is waiting for your answer", { exact: true }).waitFor();
    expect(await bob.page.evaluate(() => document.activeElement?.id)).toBe("request-answer");
    await shot(bob.page, "consent-06-bob-phone-request-banner");
    // Nothing was said to alice: she is still waiting, with no decline.
    await bob.page.waitForTimeout(500);
    expect(await alice.page.getByText("Waiting for bob to answer…").isVisible()).toBe(true);
    expect(await notice(alice.page, text({ type: "request_declined", by: "bob" })).count()).toBe(0);

    await banner.getByRole("button", { name: "Answer" }).click();
    await request.getByRole("button", { name: "Accept" }).click();
    await chatLine(alice.page, text({ type: "connected", with: "bob" })).waitFor();
    await banner.waitFor({ state: "hidden" });
    await say(bob.page, "sorry, I was away");
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});
