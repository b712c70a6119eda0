// Playwright helpers for the browser test: Debian's Chromium, one browser context per person, and screenshots.

import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, type Locator, type Page, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = resolve(import.meta.dirname, "../../test-results/screenshots");
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's Chromium (apt-get install -y chromium)`);
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** One person: a browser context of their own (own cookies and storage), and what went wrong in it. */
export interface Client {
  context: BrowserContext;
  page: Page;
  /** alert/confirm/prompt messages: there must never be any. */
  dialogs: string[];
  /** Uncaught exceptions in the page. */
  errors: string[];
}

export async function openClient(
  browser: Browser,
  baseUrl: string,
  lobby: string,
  viewport = DESKTOP,
  setup?: (page: Page) => Promise<void>,
): Promise<Client> {
  const context = await browser.newContext({ viewport, locale: "en-GB" });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const client: Client = { context, page, dialogs: [], errors: [] };
  page.on("dialog", (d) => {
    client.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => client.errors.push(e.message));
  await setup?.(page);
  await page.goto(`${baseUrl}/?lobby=${encodeURIComponent(lobby)}`);
  return client;
}

export const nameBox = (page: Page) => page.getByRole("textbox", { name: "Username" });

/** Types a name and presses Enter, as a person would. */
export async function submitName(page: Page, name: string): Promise<void> {
  await nameBox(page).fill(name);
  await nameBox(page).press("Enter");
}

export async function logIn(page: Page, name: string): Promise<void> {
  await submitName(page, name);
  await page.locator("#me-name").getByText(name, { exact: true }).waitFor();
}

/** A notice (declined, busy, expired…) with exactly this text. */
export const notice = (page: Page, text: string): Locator => page.locator("#notices").getByText(text, { exact: true });

/** A line inside the chat transcript (connected, left…) with exactly this text. */
export const chatLine = (page: Page, text: string): Locator =>
  page.locator("#transcript .sys").getByText(text, { exact: true });

export const theirMessages = (page: Page): Locator => page.locator("#transcript .msg-theirs .msg-text");
export const myMessages = (page: Page): Locator => page.locator("#transcript .msg-mine .msg-text");

/** Types into the message box and presses Enter. */
export async function say(page: Page, text: string): Promise<void> {
  const box = page.locator("#message");
  await box.fill(text);
  await box.press("Enter");
  await myMessages(page).last().getByText(text, { exact: true }).waitFor();
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
