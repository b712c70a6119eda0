// Nothing missed: what happens while a tab is hidden waits in an inbox on the page, is counted in the title and
// on the favicon, and (once the person turns them on) shows as desktop notifications. The hidden tab is a real
// one, behind another tab (see openHideableClient), and requests expire after 3 s on this server.

import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ServerEvent } from "../../public/wire/protocol.js";
import { renderText } from "../../public/wire/text.js";
import {
  type Client,
  DESKTOP,
  type HideableClient,
  chatLine,
  launchChromium,
  logIn,
  openClient,
  openHideableClient,
  say,
  shot,
} from "./browser-support.ts";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";

const text = (e: ServerEvent) => renderText(e)[0]!;

let dev: DevServer;
let browser: Browser;
let clients: Client[] = [];
let hideable: HideableClient[] = [];
let lobby = "";

beforeAll(async () => {
  [browser, dev] = await Promise.all([launchChromium(), startDevServer({ vars: { REQUEST_TIMEOUT_MS: "3000" } })]);
});
afterEach(async () => {
  await Promise.all([...clients.map((c) => c.context.close()), ...hideable.map((c) => c.close())]);
  clients = [];
  hideable = [];
});
afterAll(async () => {
  await browser?.close();
  await dev?.stop();
});

async function open(): Promise<Client> {
  const client = await openClient(browser, dev.url, lobby, DESKTOP);
  clients.push(client);
  return client;
}

/**
 * Someone whose tab can be hidden, with notifications allowed by the browser and every notification the page
 * makes counted in `window.shown` (the real ones are made too).
 */
async function openHideable(): Promise<HideableClient> {
  const client = await openHideableClient(dev.url, lobby, DESKTOP, async (context: BrowserContext) => {
    await context.grantPermissions(["notifications"], { origin: dev.url });
    await context.addInitScript(() => {
      const Real = window.Notification;
      const shown: { title: string; body: string | undefined }[] = [];
      class Counted extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          shown.push({ title, body: options?.body });
        }
      }
      Object.assign(window, { shown, Notification: Counted });
    });
  });
  hideable.push(client);
  return client;
}

const title = (page: Page) => page.evaluate(() => document.title);
const icon = (page: Page) => page.evaluate(() => document.querySelector<HTMLLinkElement>("#favicon")!.href);
const shown = (page: Page) => page.evaluate(() => (window as unknown as { shown: { title: string; body?: string }[] }).shown);
const inboxLines = (page: Page) => page.locator("#inbox .inbox-text").allTextContents();

describe("the web client while its tab is hidden", () => {
  it("keeps a request that expired in a hidden tab in the inbox, counted in the title and on the favicon", async () => {
    lobby = `hidden-${crypto.randomUUID()}`;
    const alice = await open();
    const bob = await openHideable();
    await logIn(alice.page, "alice");
    await logIn(bob.page, "bob");
    expect(await bob.page.getByRole("button", { name: "Desktop notifications" }).getAttribute("aria-pressed")).toBe("false");

    await bob.hide();
    expect(await title(bob.page)).toBe("Parley");
    await alice.page.getByRole("button", { name: "Connect with bob" }).click();
    await expect.poll(() => title(bob.page)).toBe("(1) alice wants to chat · Parley");
    await expect.poll(() => icon(bob.page)).toMatch(/^data:image\/png;base64,/);
    // Nobody answers: it expires, and the count stays at one piece of news.
    await alice.page.locator("#notices").getByText(text({ type: "request_ended", name: "bob", role: "sent", reason: "expired" })).waitFor();
    await expect.poll(() => title(bob.page)).toBe("(1) Parley");
    // Notifications were never turned on in this page, so none was shown though the browser allows them.
    expect(await shown(bob.page)).toEqual([]);

    await bob.show();
    await expect.poll(() => title(bob.page)).toBe("Parley");
    expect(await icon(bob.page)).toMatch(/\/favicon\.svg$/);
    const inbox = bob.page.getByRole("region", { name: "While you were away" });
    await inbox.waitFor();
    expect(await inboxLines(bob.page)).toEqual(["alice asked to chat, expired"]);
    await shot(bob.page, "hidden-01-inbox");
    // Seen, it stays until dismissed.
    await inbox.getByRole("button", { name: "Dismiss" }).click();
    await inbox.waitFor({ state: "hidden" });
    expect(bob.errors).toEqual([]);
    expect(alice.errors).toEqual([]);
  });

  it("shows desktop notifications for a request and a message once turned on, and lists the chat's news", async () => {
    lobby = `hidden-${crypto.randomUUID()}`;
    const alice = await open();
    const bob = await openHideable();
    await logIn(alice.page, "alice");
    await logIn(bob.page, "bob");
    const notifications = bob.page.getByRole("button", { name: "Desktop notifications" });
    await notifications.click();
    await expect.poll(() => notifications.getAttribute("aria-pressed")).toBe("true");

    await bob.hide();
    await alice.page.getByRole("button", { name: "Connect with bob" }).click();
    await expect.poll(() => shown(bob.page)).toEqual([{ title: "alice wants to chat", body: "Open Parley to accept or decline." }]);
    await bob.show();
    await bob.page.getByRole("dialog", { name: "alice wants to chat" }).getByRole("button", { name: "Accept" }).click();
    await chatLine(alice.page, text({ type: "connected", with: "bob" })).waitFor();

    await bob.hide();
    await say(alice.page, "are you there?");
    await say(alice.page, "hello?");
    await expect.poll(() => title(bob.page)).toBe("(2) Parley");
    await alice.page.getByRole("button", { name: "Exit chat" }).click();
    await expect.poll(() => title(bob.page)).toBe("(3) Parley");
    expect((await shown(bob.page)).slice(1)).toEqual([
      { title: "alice", body: "are you there?" },
      { title: "alice", body: "hello?" },
    ]);

    await bob.show();
    expect(await inboxLines(bob.page)).toEqual([
      "alice asked to chat, you accepted",
      "alice sent you 2 messages",
      text({ type: "partner_left", name: "alice", reason: "exit" }),
    ]);
    await shot(bob.page, "hidden-02-inbox-chat");
    expect(bob.errors).toEqual([]);
    expect(alice.errors).toEqual([]);
  });
});
