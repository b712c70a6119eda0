// The random scenarios of the property tests, run through real sockets against the worker: every socket must
// receive exactly the events the pure rules say it should, in order, and nothing else (test/support/model-run.ts).

import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../src/config";
import type { Attachment } from "../src/lobby";
import { type State, chatRoute } from "../src/rules";
import { freshLobby, lobbyStub, open } from "./support/lobby";
import { runScenario } from "./support/model-run";
import { scenario } from "./support/scenarios";

const RUNS = Number(env.FUZZ_RUNS) > 0 ? Math.ceil(Number(env.FUZZ_RUNS) / 20) : 25;

/** Who each logged-in user's chat lines go to, by key, as the live sockets' attachments say (`Attachment.to`). */
function routes(lobby: string): Promise<Record<string, string | null>> {
  return runInDurableObject(lobbyStub(lobby), (_instance, state) => {
    const atts = state.getWebSockets().map((ws) => ws.deserializeAttachment() as Attachment).filter((a) => a.key && !a.gone);
    return Object.fromEntries(atts.map((a) => [a.key, atts.find((b) => b.sid === a.to)?.key ?? null]));
  });
}

/** The same, as the rules say (chatRoute). */
function modelRoutes(model: State): Record<string, string | null> {
  const entries: [string, string | null][] = [];
  for (const [sid, session] of model.sessions) {
    if (!session.key) continue;
    const to = chatRoute(model, sid)?.to;
    entries.push([session.key, to ? (model.sessions.get(to)?.key ?? null) : null]);
  }
  return Object.fromEntries(entries);
}

describe("the Lobby over real sockets matches the pure rules", () => {
  const scenarios = fc.sample(scenario(30), { numRuns: RUNS, seed: 20261126 });

  it.each(scenarios.map((s, i) => [i, s] as const))("random scenario %i", { timeout: 20_000 }, async (_, commands) => {
    const lobby = freshLobby();
    await runScenario(commands, {
      config: DEFAULT_CONFIG,
      open: (_slot, sid) => open(lobby, sid, { json: true }),
      // Further ahead at each tick, past every pending deadline.
      tickAt: (n, now) => now + n * (DEFAULT_CONFIG.requestTimeoutMs + 1000),
      runTimers: (now) => runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(now)),
      // Each socket's attachment routes chat lines where the rules do: a woken Lobby relays from it alone.
      afterStep: async (model) => expect(await routes(lobby)).toEqual(modelRoutes(model)),
    });
  });
});
