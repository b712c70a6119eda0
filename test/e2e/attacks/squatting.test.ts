// Issue 9, attack 7: a logged-in socket that sends nothing at all holds its name for as long as TCP stays up. Past
// IDLE_TIMEOUT_MS of silence it is closed (4001 "idle") and its name is free; a socket that pings is not.

import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient } from "../raw-client.ts";
import { ATTACK_VARS, Bystander, type Runtime, freshLobby, login, startRuntime, summary } from "./support.ts";

const IDLE_TIMEOUT_MS = 3000;
const PING_EVERY_MS = 500;
/** When the names are tried: well past the idle timeout, so that a pinging socket would have been reaped were pings not heard. */
const CHECK_AFTER_MS = 2 * IDLE_TIMEOUT_MS;

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime({
    // A short heartbeat timeout too, so that a sweep (which runs while anyone is in a chat) comes every second.
    vars: { ...ATTACK_VARS, IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS), HEARTBEAT_TIMEOUT_MS: String(IDLE_TIMEOUT_MS) },
  });
});
afterAll(async () => {
  await rt?.stop();
});

/** Tries to log in as `name` on a new socket: "welcome" or the server's first line instead. */
async function tryLogin(url: string, name: string): Promise<string> {
  const c = await RawClient.open(url, {}, `login-${name}`);
  await c.until("Please enter a username");
  await c.sendText(name);
  const answer = await c.until(/Welcome|taken|not allowed/);
  c.destroy();
  return answer.startsWith("Welcome") ? "welcome" : answer.split("\n")[0]!;
}

it(`closes a socket silent for IDLE_TIMEOUT_MS with 4001 and frees its name, but not one that pings`, { timeout: 30_000 }, async () => {
  const url = freshLobby(rt);
  // Someone is chatting, as in any busy lobby.
  const bystander = await Bystander.start(url, 250);
  const squatter = await login(url, "squatter");
  const pinger = await login(url, "pinger");
  const since = Date.now();
  const pings = setInterval(() => void pinger.sendText("ping"), PING_EVERY_MS);

  await new Promise((r) => setTimeout(r, CHECK_AFTER_MS)); // the silence is the point of this test
  const squatterName = await tryLogin(url, "squatter");
  const squatterClose = await squatter.waitClose(3000).catch(() => null);
  const pingerName = await tryLogin(url, "pinger");
  clearInterval(pings);
  await bystander.stop();
  summary("squatting", {
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    squatterClose: squatterClose ? `${squatterClose.code} ${squatterClose.reason}` : "none",
    squatterClosedAfterMs: squatterClose ? squatterClose.at - since : "never",
    loginAsSquatter: squatterName,
    pingerPongs: pinger.texts.filter((t) => t === "pong").length,
    pingerClose: pinger.closeFrame ? `${pinger.closeFrame.code} ${pinger.closeFrame.reason}` : "none",
    loginAsPinger: pingerName,
  });
  bystander.close();
  squatter.destroy();
  pinger.destroy();

  expect(squatterClose).toMatchObject({ code: 4001, reason: "idle" });
  expect(squatterName).toBe("welcome");
  expect(pinger.closeFrame).toBeNull();
  expect(pingerName).toMatch(/taken/);
});
