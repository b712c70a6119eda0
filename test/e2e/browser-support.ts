// Playwright helpers for the browser test: Debian's Chromium, one browser context per person, and screenshots.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, type Locator, type Page, chromium } from "playwright-core";
import { renderText } from "../../public/wire/text.js";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = resolve(import.meta.dirname, "../../test-results/screenshots");
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function needChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's Chromium (apt-get install -y chromium)`);
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
}

export async function launchChromium(): Promise<Browser> {
  needChromium();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
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

/** `asker` presses Connect beside `answerer`'s name, `answerer` accepts, and `answerer`'s page says they are connected. */
export async function startChat(asker: { page: Page; name: string }, answerer: { page: Page; name: string }): Promise<void> {
  await asker.page.getByRole("button", { name: `Connect with ${answerer.name}` }).click();
  await answerer.page.getByRole("dialog", { name: `${asker.name} wants to chat` }).getByRole("button", { name: "Accept" }).click();
  await chatLine(answerer.page, renderText({ type: "connected", with: asker.name })[0]!).waitFor();
}

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

/**
 * A person whose tab can really be hidden: `hide()` opens another tab in front of it, so the page's
 * `document.visibilityState` turns "hidden" and `visibilitychange` fires, as when someone switches tabs.
 *
 * Playwright keeps every page it drives visible: it turns on the DevTools focus emulation for each page, and
 * Chromium counts an emulated page as being captured, which keeps it visible behind other tabs (and calling
 * `Emulation.setFocusEmulationEnabled` from a CDP session of our own does not undo Playwright's). Chromium has no
 * DevTools command that sets the visibility itself. So this person gets a Chromium of their own, reached with
 * `connectOverCDP(…, { noDefaults: true })`, which leaves focus emulation off in the browser's default context.
 */
export interface HideableClient extends Client {
  hide(): Promise<void>;
  show(): Promise<void>;
  close(): Promise<void>;
}

export async function openHideableClient(
  baseUrl: string,
  lobby: string,
  viewport = DESKTOP,
  setup?: (context: BrowserContext) => Promise<void>,
): Promise<HideableClient> {
  needChromium();
  const profile = mkdtempSync(join(tmpdir(), "parley-chromium-"));
  const child = spawn(
    CHROMIUM,
    [...ARGS, "--headless", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "--lang=en-GB", "about:blank"],
    // Its own process group, so that its renderer and helper processes can be stopped with it.
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LANGUAGE: "en_GB" }, detached: true },
  );
  const exited = new Promise((res) => child.once("exit", res));
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  };
  process.once("exit", kill); // the test runner stopped before close()
  const endpoint = await new Promise<string>((res, rej) => {
    let text = "";
    const timer = setTimeout(() => rej(new Error(`Chromium did not say where DevTools listens:\n${text}`)), 20_000);
    child.stderr.on("data", (d: Buffer) => {
      text += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    child.once("exit", () => rej(new Error(`Chromium exited:\n${text}`)));
  });
  const browser = await chromium.connectOverCDP(endpoint, { noDefaults: true, isLocal: true });
  const context = browser.contexts()[0]!;
  context.setDefaultTimeout(10_000);
  await setup?.(context);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.setViewportSize(viewport);
  const client: HideableClient = {
    context,
    page,
    dialogs: [],
    errors: [],
    async hide() {
      front ??= await context.newPage();
      await front.bringToFront();
      await page.waitForFunction(() => document.visibilityState === "hidden", undefined, { polling: 100 });
    },
    async show() {
      await page.bringToFront();
      await page.waitForFunction(() => document.visibilityState === "visible", undefined, { polling: 100 });
    },
    async close() {
      // Asked to close, Chromium stops its helpers and stops writing to the profile before it exits.
      await browser
        .newBrowserCDPSession()
        .then((cdp) => cdp.send("Browser.close"))
        .catch(() => {});
      await Promise.race([exited, new Promise((res) => setTimeout(res, 5000))]);
      kill();
      await exited;
      process.off("exit", kill);
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
  let front: Page | undefined;
  page.on("dialog", (d) => {
    client.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => client.errors.push(e.message));
  await page.goto(`${baseUrl}/?lobby=${encodeURIComponent(lobby)}`);
  return client;
}
