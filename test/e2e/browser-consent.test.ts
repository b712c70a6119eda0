// Consent that sticks, in Chromium: Escape hides a request without answering it.

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
  [browser, dev] = await Promise.all([launchChromium(), startDevServer()]);
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

describe("consent in the web client", () => {
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
