// The random scenarios of the property tests, through real sockets placed on different homes (HOMES=4 in the
// "homes" project; one Lobby in the "workers" one): every socket must receive exactly the events that ONE pure
// state machine says it should, in order, and nothing else (test/support/model-run.ts). This is "no user can tell
// homes from one Lobby", checked over random interleavings of logins, requests, answers, chats, exits, drops,
// blocks, expiries and resumes (on a slot's home, usually not the one that holds the session), with the homes'
// calls to each other delivered as the runtime delivers them.

import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/config";
import type { ServerEvent } from "../../public/wire/protocol.js";
import { freshLobby, modeHomes, openOn, runTimersEverywhere } from "../support/homes";
import { asReceived } from "../support/lobby";
import { runScenario } from "../support/model-run";
import { scenario } from "../support/scenarios";

const RUNS = Number(env.FUZZ_RUNS) > 0 ? Math.ceil(Number(env.FUZZ_RUNS) / 20) : 25;
const HOMES = modeHomes();

/**
 * A resumed session's open request says how long it has left, read from the clock of the home that resumes it: a
 * resume that went through two homes reads it later than the model did (by the calls between them, not by a rule).
 */
function acrossHomes(event: ServerEvent): unknown {
  const e = asReceived(event) as { type?: string; request?: { expiresInMs: number } | null };
  if (HOMES === 1 || e.type !== "resumed" || !e.request) return e;
  return { ...e, request: { ...e.request, expiresInMs: expect.any(Number) } };
}

describe(`sockets on ${HOMES} home(s) match one pure state machine`, () => {
  const scenarios = fc.sample(scenario(30), { numRuns: RUNS, seed: 20261202 });

  it.each(scenarios.map((s, i) => [i, s] as const))("random scenario %i", { timeout: 30_000 }, async (_, commands) => {
    const ns = freshLobby();
    await runScenario(commands, {
      config: DEFAULT_CONFIG,
      // Slot i lives on home i mod HOMES: half the pairs meet on one home, half across two.
      open: (slot, sid) => openOn(ns, slot % HOMES, sid, { json: true }),
      // Past every pending deadline, but not ticks piled on ticks: a home whose clock ran past its name leases
      // (90 s) without renewing them gives its users' names up, as it must (claims.ts, rule 2).
      tickAt: (_n, now) => now + DEFAULT_CONFIG.requestTimeoutMs + 1000,
      runTimers: (now) => runTimersEverywhere(ns, now),
      expected: acrossHomes,
    });
  });
});
