// The web client in Debian's Chromium against wrangler dev: two people in two browser contexts go through the
// story of the rules (ask, decline, ask the other way, accept, chat, exit, drop), and a dropped socket reconnects by itself.

import type { Browser, Page, WebSocketRoute } from "playwright-core";
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
  myMessages,
  nameBox,
  notice,
  openClient,
  say,
  shot,
  startChat,
  submitName,
  theirMessages,
} from "./browser-support.ts";
import { type DevServer, startDevServer } from "../../scripts/dev-server.mjs";

/** What the server says for an event: the page must use the same words. */
const text = (e: ServerEvent) => renderText(e)[0]!;

// Long enough for the 5 s network cut below; short enough that a page closed for good is told about soon.
const GRACE_MS = 8000;

let dev: DevServer;
let browser: Browser;
let clients: Client[] = [];
let lobby = "";

beforeAll(async () => {
  // A dropped socket's session is kept 5 s (30 s by default), so that a closed page's partner is told soon.
  [browser, dev] = await Promise.all([launchChromium(), startDevServer({ vars: { RESUME_GRACE_MS: String(GRACE_MS) } })]);
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.context.close()));
  clients = [];
});
afterAll(async () => {
  await browser?.close();
  await dev?.stop();
});

/** A fresh lobby per test, passed from the page's URL to its socket (`/?lobby=…` → `/ws?lobby=…`). */
const freshLobby = () => (lobby = `web-${crypto.randomUUID()}`);

/** One more person, in a browser context of their own, on the current lobby's page. */
async function open(viewport = DESKTOP, setup?: (page: Page) => Promise<void>): Promise<Client> {
  const client = await openClient(browser, dev.url, lobby, viewport, setup);
  clients.push(client);
  return client;
}

describe("the web client in Chromium", () => {
  it("goes through the rules' story: decline, the other way round, accept, chat both ways, markup as text, exit, and a closed page", async () => {
    freshLobby();
    const alice = await open(DESKTOP);
    const bob = await open(PHONE);
    // The login page is ready to type into.
    await expect.poll(() => alice.page.evaluate(() => document.activeElement?.id)).toBe("name");
    await shot(alice.page, "01-login");

    await logIn(alice.page, "alice");

    // The form checks the name by the server's own rules before sending it, then shows the server's refusal inline.
    await submitName(bob.page, "bob smith");
    await bob.page.locator("#name-error").getByText("That username is not allowed: spaces not allowed", { exact: false }).waitFor();
    await submitName(bob.page, "Alice");
    const taken = text({ type: "name_rejected", name: "Alice", reason: "taken", detail: "" });
    await bob.page.locator("#name-error").getByText(taken, { exact: true }).waitFor();
    expect(await nameBox(bob.page).getAttribute("aria-invalid")).toBe("true");
    await shot(bob.page, "02-bob-name-taken");
    await logIn(bob.page, "bob");

    // Each sees the other in the list; you cannot connect with yourself.
    const connectBob = alice.page.getByRole("button", { name: "Connect with bob" });
    await expect.poll(() => connectBob.isEnabled()).toBe(true);
    expect(await alice.page.getByRole("button", { name: "Connect (that is you)" }).isDisabled()).toBe(true);
    await shot(alice.page, "03-alice-lobby");

    // alice asks; bob gets a dialog with a countdown and declines.
    await connectBob.click();
    await alice.page.getByText("Waiting for bob to answer…").waitFor();
    const request = bob.page.getByRole("dialog", { name: "alice wants to chat" });
    await request.waitFor();
    await request.getByText(/^\d+ seconds left to answer$/).waitFor();
    expect(await bob.page.evaluate(() => document.activeElement?.id)).toBe("accept");
    await shot(bob.page, "04-bob-incoming-request");
    await shot(alice.page, "05-alice-waiting");
    await request.getByRole("button", { name: "Decline", exact: true }).click();
    await notice(alice.page, text({ type: "request_declined", by: "bob" })).waitFor();
    await notice(bob.page, text({ type: "you_declined", from: "alice" })).waitFor();
    await request.waitFor({ state: "hidden" });
    await shot(alice.page, "06-alice-declined");

    // Asked again at once, bob's no still holds: alice is told to wait (the button waits until bob is free again).
    await connectBob.click();
    await alice.page.locator("#notices").getByText(/^You asked bob recently; you can ask again in \d+ s$/).waitFor();
    // bob changes his mind and asks alice; she accepts from the keyboard, as focus starts on Accept.
    const connectAlice = bob.page.getByRole("button", { name: "Connect with alice" });
    await expect.poll(() => connectAlice.isEnabled()).toBe(true);
    await connectAlice.click();
    await alice.page.getByRole("dialog", { name: "bob wants to chat" }).waitFor();
    await alice.page.keyboard.press("Enter");
    await chatLine(alice.page, text({ type: "connected", with: "bob" })).waitFor();
    await chatLine(bob.page, text({ type: "connected", with: "alice" })).waitFor();
    // The list follows: both are now in a chat.
    await alice.page.locator('.person[data-status="busy"]', { hasText: "bob" }).waitFor();
    await alice.page.locator('.person[data-status="busy"]', { hasText: "alice" }).waitFor();

    // Messages both ways, own and partner's apart.
    await say(alice.page, "hi bob!");
    await theirMessages(bob.page).getByText("hi bob!", { exact: true }).waitFor();
    await say(bob.page, "hi alice, how are you?");
    await theirMessages(alice.page).getByText("hi alice, how are you?", { exact: true }).waitFor();
    await say(alice.page, "Fine, thanks. Shall we test some markup?");
    await theirMessages(bob.page).getByText("Shall we test some markup?", { exact: false }).waitFor();

    // Markup is shown as the text it is: no element made, no script run.
    const evil = "<img src=x onerror=alert(1)>";
    await say(bob.page, evil);
    await expect.poll(() => theirMessages(alice.page).last().textContent()).toBe(evil);
    expect(await alice.page.locator("#transcript img").count()).toBe(0);
    expect(await alice.page.locator("img").count()).toBe(0);
    expect(alice.dialogs).toEqual([]);
    expect(await myMessages(alice.page).count()).toBe(2);
    expect(await theirMessages(alice.page).count()).toBe(2);
    await alice.page.mouse.move(1, 1); // no hover left on the list in the pictures
    await shot(alice.page, "07-alice-chat");
    await shot(alice.page, "chat");
    await shot(bob.page, "chat-phone");

    // alice exits: bob is told, and both can talk again.
    await alice.page.getByRole("button", { name: "Exit chat" }).click();
    await chatLine(bob.page, text({ type: "partner_left", name: "alice", reason: "exit" })).waitFor();
    await chatLine(alice.page, text({ type: "you_left", with: "bob" })).waitFor();
    await shot(bob.page, "08-bob-partner-left");

    // This time bob asks, from the phone: back to the list, then Connect.
    await bob.page.getByRole("button", { name: "Close chat" }).click();
    await bob.page.getByRole("button", { name: "Connect with alice" }).click();
    await alice.page.getByRole("dialog", { name: "bob wants to chat" }).getByRole("button", { name: "Accept" }).click();
    await chatLine(bob.page, text({ type: "connected", with: "alice" })).waitFor();
    await say(bob.page, "back again");
    await theirMessages(alice.page).getByText("back again", { exact: true }).waitFor();

    // bob closes the page: alice hears at once that he dropped, and after the resume window that he is gone, and
    // may ask someone else.
    await bob.context.close();
    await chatLine(alice.page, text({ type: "partner_away", name: "bob", graceMs: GRACE_MS })).waitFor();
    await chatLine(alice.page, text({ type: "partner_left", name: "bob", reason: "disconnected" })).waitFor({ timeout: GRACE_MS + 10_000 });
    await alice.page.getByRole("button", { name: "Connect with bob" }).waitFor({ state: "detached" });
    await shot(alice.page, "09-alice-partner-disconnected");

    expect(alice.dialogs).toEqual([]);
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it("rides out dropped connections: the chat goes on, and lines lost on a half-open socket arrive once", async () => {
    freshLobby();
    // Every socket alice opens goes through Playwright, so the test can cut it from either side.
    const routes: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
    const alice = await open(DESKTOP, (page) =>
      page.routeWebSocket(/\/ws/, (route) => {
        routes.push({ page: route, server: route.connectToServer() });
      }),
    );
    const bob = await open(DESKTOP);
    await logIn(alice.page, "alice");
    await logIn(bob.page, "bob");
    await startChat({ page: bob.page, name: "bob" }, { page: alice.page, name: "alice" });
    await say(bob.page, "one");
    await theirMessages(alice.page).getByText("one", { exact: true }).waitFor();

    // alice's connection drops (both sides close): bob is told she is away, she comes back by herself, the chat
    // goes on, and bob is told she is back.
    const first = routes.at(-1)!;
    await first.server.close({ code: 1000, reason: "test: dropped" });
    await first.page.close({ code: 4001, reason: "test: dropped" });
    await chatLine(bob.page, text({ type: "partner_away", name: "alice", graceMs: GRACE_MS })).waitFor();
    await chatLine(alice.page, "Back; your chat with bob goes on").waitFor();
    await chatLine(bob.page, text({ type: "partner_back", name: "alice", seen: null })).waitFor();
    await alice.page.locator("#conn-text").getByText("Online", { exact: true }).waitFor();
    await shot(alice.page, "10-alice-resumed");
    await say(alice.page, "two");
    await theirMessages(bob.page).getByText("two", { exact: true }).waitFor();

    // Now only the page's side drops: the server still holds the old socket and sends bob's next line to it, where
    // it is lost. The page's new socket takes the session over and bob's page sends what alice has not seen.
    const old = routes.at(-1)!;
    old.server.onClose(() => {});
    old.page.onClose(() => {});
    await old.page.close({ code: 4001, reason: "test: page side only" });
    await say(bob.page, "three");
    await chatLine(bob.page, text({ type: "partner_back", name: "alice", seen: null })).nth(1).waitFor();
    await theirMessages(alice.page).getByText("three", { exact: true }).waitFor();
    await say(bob.page, "four");
    await theirMessages(alice.page).getByText("four", { exact: true }).waitFor();
    // Each line once, in order, on both sides.
    expect(await theirMessages(alice.page).allTextContents()).toEqual(["one", "three", "four"]);
    expect(await theirMessages(bob.page).allTextContents()).toEqual(["two"]);
    expect(await myMessages(bob.page).allTextContents()).toEqual(["one", "three", "four"]);

    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it("carries a chat through 5 s offline: lines typed on both sides meanwhile arrive once, in order", async () => {
    freshLobby();
    // Offline: the page's socket is cut and every new one is refused at once, as when the network is gone.
    let offline = false;
    const routes: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
    const alice = await open(DESKTOP, (page) =>
      page.routeWebSocket(/\/ws/, (route) => {
        if (offline) return void route.close({ code: 1006, reason: "offline" });
        routes.push({ page: route, server: route.connectToServer() });
      }),
    );
    const bob = await open(DESKTOP);
    await logIn(alice.page, "alice");
    await logIn(bob.page, "bob");
    await startChat({ page: bob.page, name: "bob" }, { page: alice.page, name: "alice" });
    await say(bob.page, "before");
    await theirMessages(alice.page).getByText("before", { exact: true }).waitFor();

    const cutAt = Date.now();
    offline = true;
    await alice.context.setOffline(true);
    const cut = routes.at(-1)!;
    await cut.server.close({ code: 1001, reason: "test: network gone" });
    await cut.page.close({ code: 1006, reason: "test: network gone" });
    await chatLine(bob.page, text({ type: "partner_away", name: "alice", graceMs: GRACE_MS })).waitFor();
    await say(bob.page, "while away 1");
    await say(bob.page, "while away 2");
    await say(alice.page, "typed offline");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 5000 - (Date.now() - cutAt)))); // the cut is the point
    offline = false;
    await alice.context.setOffline(false);

    await chatLine(alice.page, "Back; your chat with bob goes on").waitFor({ timeout: GRACE_MS + 5000 });
    await theirMessages(alice.page).getByText("while away 2", { exact: true }).waitFor();
    await theirMessages(bob.page).getByText("typed offline", { exact: true }).waitFor();
    await say(bob.page, "after");
    await theirMessages(alice.page).getByText("after", { exact: true }).waitFor();
    expect(await theirMessages(alice.page).allTextContents()).toEqual(["before", "while away 1", "while away 2", "after"]);
    expect(await theirMessages(bob.page).allTextContents()).toEqual(["typed offline"]);
    expect(await myMessages(alice.page).allTextContents()).toEqual(["typed offline"]);
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it("picks the chat up again after a reload, with the same transcript", async () => {
    freshLobby();
    const alice = await open(DESKTOP);
    const bob = await open(PHONE);
    await logIn(alice.page, "alice");
    await logIn(bob.page, "bob");
    await startChat({ page: bob.page, name: "bob" }, { page: alice.page, name: "alice" });
    await say(alice.page, "before the reload");
    await say(bob.page, "me too");
    await theirMessages(alice.page).getByText("me too", { exact: true }).waitFor();
    await theirMessages(bob.page).getByText("before the reload", { exact: true }).waitFor();
    const transcript = async (page: Page) => page.locator("#transcript .msg-text").allTextContents();
    const before = await transcript(alice.page);

    await alice.page.reload();
    await alice.page.locator("#me-name").getByText("alice", { exact: true }).waitFor();
    await theirMessages(alice.page).getByText("me too", { exact: true }).waitFor();
    expect(await alice.page.locator("#login-view").isVisible()).toBe(false);
    expect(await transcript(alice.page)).toEqual(before);
    await chatLine(bob.page, text({ type: "partner_back", name: "alice", seen: null })).waitFor();
    await say(bob.page, "after");
    await theirMessages(alice.page).getByText("after", { exact: true }).waitFor();
    await say(alice.page, "still here");
    await theirMessages(bob.page).getByText("still here", { exact: true }).waitFor();
    expect(await transcript(alice.page)).toEqual([...before, "after", "still here"]);
    await shot(alice.page, "11-alice-after-reload");

    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it("counts the message in characters against the server's limit in bytes, and offers Send only while it fits", async () => {
    // A server of its own, with a limit far below the default 4096 bytes.
    const small = await startDevServer({ vars: { MAX_MESSAGE_BYTES: "300" } });
    try {
      freshLobby();
      const [alice, bob] = await Promise.all([openClient(browser, small.url, lobby, DESKTOP), openClient(browser, small.url, lobby, DESKTOP)]);
      clients.push(alice, bob);
      await logIn(alice.page, "alice");
      await logIn(bob.page, "bob");
      await alice.page.getByRole("button", { name: "Connect with bob" }).click();
      await bob.page.getByRole("dialog", { name: "alice wants to chat" }).getByRole("button", { name: "Accept" }).click();
      await chatLine(alice.page, text({ type: "connected", with: "bob" })).waitFor();

      const box = alice.page.locator("#message");
      const hint = alice.page.locator("#message-hint");
      const send = alice.page.getByRole("button", { name: "Send" });
      // {"type":"say","text":"…","seq":…} is counted as 40 bytes (the number at its widest), so 400 characters are
      // 140 too many.
      await box.fill("x".repeat(400));
      await hint.getByText("Too long to send: remove 140 characters", { exact: true }).waitFor();
      expect(await box.getAttribute("aria-invalid")).toBe("true");
      expect(await send.isDisabled()).toBe(true);
      await box.press("Enter"); // refused here, not by the server
      expect(await myMessages(alice.page).count()).toBe(0);
      await shot(alice.page, "12-alice-message-too-long");
      // 250 plain letters: 290 bytes, near the limit, and allowed.
      await box.fill("y".repeat(250));
      await hint.getByText("10 characters left", { exact: true }).waitFor();
      expect(await send.isEnabled()).toBe(true);
      await box.press("Enter");
      await theirMessages(bob.page).getByText("y".repeat(250), { exact: true }).waitFor();

      // A euro sign is 3 bytes: 80 of them leave 20 bytes, which is 6 more of them, and the counter says 6.
      await box.fill("€".repeat(80));
      await hint.getByText("6 characters left", { exact: true }).waitFor();
      // The counter's promise holds: 6 more fit (298 bytes at the widest number) and the server takes them…
      await box.fill("€".repeat(86));
      await hint.getByText("0 characters left", { exact: true }).waitFor();
      await box.press("Enter");
      await theirMessages(bob.page).getByText("€".repeat(86), { exact: true }).waitFor();
      // …and one more is one too many.
      await box.fill("€".repeat(87));
      await hint.getByText("Too long to send: remove 1 character", { exact: true }).waitFor();
      expect(await send.isDisabled()).toBe(true);
      expect(alice.errors).toEqual([]);
    } finally {
      await small.stop();
    }
  });

  it("uses the server's own words for notices, chat lines and refused names", async () => {
    freshLobby();
    const { page } = await open(DESKTOP);
    const events: ServerEvent[] = [
      { type: "request_failed", reason: "self" },
      { type: "request_failed", reason: "in_chat", partner: "bob" },
      { type: "request_failed", reason: "offline", to: "dave" },
      { type: "request_failed", reason: "busy", to: "bob" },
      { type: "request_failed", reason: "unavailable", to: "bob" },
      // Refusals with a wait: the server's sentence and its seconds, with no timer of the page's own.
      { type: "request_failed", reason: "cooldown", to: "bob", waitMs: 24_200 },
      { type: "request_failed", reason: "too_many_requests", waitMs: 9_500 },
      { type: "availability", taking: true },
      { type: "blocked", names: ["mallory"], changed: { name: "mallory", blocked: true } },
      { type: "blocked", names: [], changed: { name: "mallory", blocked: false } },
      { type: "request_declined", by: "bob" },
      { type: "you_declined", from: "alice" },
      { type: "request_ended", name: "bob", role: "sent", reason: "expired" },
      { type: "request_ended", name: "alice", role: "received", reason: "expired" },
      { type: "request_ended", name: "alice", role: "received", reason: "withdrawn" },
      { type: "request_ended", name: "alice", role: "received", reason: "offline" },
      { type: "cancelled", to: "bob" },
      { type: "connected", with: "bob" },
      { type: "partner_left", name: "alice", reason: "exit" },
      { type: "partner_left", name: "alice", reason: "disconnected" },
      { type: "you_left", with: "bob" },
      { type: "error", code: "rate_limited", message: "slow down" },
      { type: "name_rejected", name: "Alice", reason: "taken", detail: "someone online already has that name" },
      { type: "name_rejected", name: "аlice", reason: "confusable", detail: "it looks the same as alice, who is online" },
      { type: "name_rejected", name: "a b", reason: "invalid", detail: "spaces not allowed; use letters, digits, _ - ." },
    ];
    // A string, not a function: the test runner would rewrite a dynamic import() inside a function for Node.
    const shown = await page.evaluate(`import("/texts.js").then((texts) =>
      ${JSON.stringify(events)}.map((e) => texts.rejectedName(e) ?? texts.noticeFor(e)?.text ?? texts.transcriptLine(e)))`);
    expect(shown).toEqual(events.map(text));
  });
});
