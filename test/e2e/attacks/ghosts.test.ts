// Issue 9, attack 3: a socket the server closed (after `quit`, or by the heartbeat sweep) whose client never answers
// the close keeps its TCP connection, and so its place in ctx.getWebSockets(); when the Lobby wakes from hibernation
// it must not come back as a user.

import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient } from "../raw-client.ts";
import { ATTACK_VARS, type Runtime, chatting, freshLobby, login, startRuntime, summary } from "./support.ts";

/** Small, so the sweep (every max(1 s, a third of this) while anyone is in a chat) reaps the silent socket soon. */
const HEARTBEAT_TIMEOUT_MS = 1500;
/**
 * workerd evicts an object ~10 s after its last event when only hibernatable sockets hold it. Waiting is the point
 * of this test; a frame sent sooner would restart that clock, so the wait is a little longer, and is repeated (up
 * to HIBERNATION_TRIES times) until the next frame makes the constructor say it woke.
 */
const QUIET_MS = 11_500;
const HIBERNATION_TRIES = 3;

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime({ vars: { ...ATTACK_VARS, HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS) } });
});
afterAll(async () => {
  await rt?.stop();
});

/** Tries to log in as `name` on a new socket: "welcome" or what the server said instead. */
async function tryLogin(url: string, name: string): Promise<{ result: string; client: RawClient }> {
  const c = await RawClient.open(url, {}, `login-${name}`);
  await c.until("Please enter a username");
  await c.sendText(name);
  const answer = await c.until(/Welcome|taken|not allowed/);
  return { result: answer.startsWith("Welcome") ? "welcome" : answer.split("\n")[0]!, client: c };
}

it("lets no socket closed by the server come back as a user after the Lobby hibernates", { timeout: 60_000 }, async () => {
  const url = freshLobby(rt);
  // zombie pings once and then goes silent; its partner keeps the sweep alarm running until zombie is reaped.
  const [partner, zombie] = await chatting(url, "partner", "zombie", { b: { answerClose: false } });
  await zombie.sendText("ping");
  await zombie.until(/^pong$/);
  // ghost quits and never answers the close frame; TCP stays up.
  const ghost = await login(url, "ghost", { answerClose: false });
  await ghost.sendText("quit");
  const ghostClose = await ghost.waitClose();
  const zombieClose = await zombie.waitClose(HEARTBEAT_TIMEOUT_MS * 3 + 3000);
  await partner.until("zombie has left the chat (disconnected)");

  // Nobody sends anything now: the runtime evicts the Lobby; partner's `list` then wakes it.
  const quietFrom = Date.now();
  let woke: string | null = null;
  for (let tries = 0; woke === null && tries < HIBERNATION_TRIES; tries++) {
    const mark = rt.output().length;
    await new Promise((r) => setTimeout(r, QUIET_MS)); // the idle period is the point of this test
    const wake = rt.waitForOutput(/Lobby woke[^]*?Lobby rebuilt:[^\n]*/, { from: mark, timeoutMs: 3000 });
    await partner.sendText("list");
    woke = await wake.catch(() => null);
  }
  const hibernatedAfterMs = Date.now() - quietFrom;
  const list = await partner.until(/^\d+ online:/);
  const again = { ghost: await tryLogin(url, "ghost"), zombie: await tryLogin(url, "zombie") };

  summary("ghosts after hibernation", {
    ghostClose: ghostClose.code,
    zombieClose: zombieClose.code,
    ghostTcpOpen: ghost.endedAt === null,
    zombieTcpOpen: zombie.endedAt === null,
    woke: woke ?? "never",
    hibernatedAfterMs,
    listAfterWake: list,
    loginAsGhost: again.ghost.result,
    loginAsZombie: again.zombie.result,
  });
  for (const c of [partner, zombie, ghost, again.ghost.client, again.zombie.client]) c.destroy();

  expect(ghostClose.code).toBe(1000);
  expect(zombieClose).toMatchObject({ code: 4000 });
  expect(woke, "the Lobby never hibernated (no `Lobby woke` after the quiet periods)").not.toBeNull();
  // Only partner is online: neither departed socket was restored.
  expect(list.split("\n")[0]).toBe("1 online:");
  expect(again.ghost.result).toBe("welcome");
  expect(again.zombie.result).toBe("welcome");
});
