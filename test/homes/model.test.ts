// The random scenarios of the property tests, through real sockets placed on different homes (HOMES=4 in the
// "homes" project; one Lobby in the "workers" one): every socket must receive exactly the events that ONE pure
// state machine says it should, in order, and nothing else. This is "no user can tell homes from one Lobby",
// checked over random interleavings of logins, requests, answers, chats, exits, drops, blocks and expiries, with
// the homes' calls to each other delivered as the runtime delivers them.

import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/config";
import type { ServerEvent } from "../../public/wire/protocol.js";
import { type Input, emptyState, step } from "../../src/rules";
import { freshLobby, modeHomes, openOn, runTimersEverywhere } from "../support/homes";
import { asReceived, asTheLobby } from "../support/lobby";
import type { Peer } from "../support/peer";
import { SLOTS, resolve, scenario } from "../support/scenarios";

const RUNS = Number(env.FUZZ_RUNS) > 0 ? Math.ceil(Number(env.FUZZ_RUNS) / 20) : 25;
const HOMES = modeHomes();
const CONFIG = DEFAULT_CONFIG;

/**
 * A resumed session's open request says how long it has left, read from the clock of the home that resumes it: a
 * resume that went through two homes reads it later than the model did (by the calls between them, not by a rule).
 */
function acrossHomes(expected: unknown): unknown {
  const e = expected as { type?: string; request?: { expiresInMs: number } | null };
  if (HOMES === 1 || e.type !== "resumed" || !e.request) return expected;
  return { ...e, request: { ...e.request, expiresInMs: expect.any(Number) } };
}

async function nextEvent(peer: Peer): Promise<ServerEvent> {
  for (;;) {
    const event = await peer.json<ServerEvent>();
    if (event.type !== "presence") return event;
  }
}

describe(`sockets on ${HOMES} home(s) match one pure state machine`, () => {
  const scenarios = fc.sample(scenario(30), { numRuns: RUNS, seed: 20261202 });

  it.each(scenarios.map((s, i) => [i, s] as const))("random scenario %i", { timeout: 30_000 }, async (_, commands) => {
    const ns = freshLobby();
    const model = emptyState();
    const peers = new Map<string, Peer>(); // model sid -> socket
    const slots: (string | null)[] = Array(SLOTS).fill(null);
    let generation = 0;
    let issued = 0;
    const fresh = () => `model-${issued++}`;
    const tokens = { model: [] as string[], real: [] as string[] };

    for (const c of commands) {
      let input: Input;
      const closing: string[] = [];
      let now = Date.now();
      if (c.kind === "tick") {
        // Past every pending deadline, but not ticks piled on ticks: a home whose clock ran past its name leases
        // (90 s) without renewing them gives its users' names up, as it must (claims.ts, rule 2).
        now += DEFAULT_CONFIG.requestTimeoutMs + 1000;
        input = { type: "tick" };
      } else if (c.kind === "open") {
        if (slots[c.slot]) continue;
        const sid = `s${c.slot}.${generation++}`;
        slots[c.slot] = sid;
        // Slot i lives on home i mod HOMES: half the pairs meet on one home, half across two.
        peers.set(sid, await openOn(ns, c.slot % HOMES, sid, { json: true }));
        input = { type: "open", sid };
      } else if (c.kind === "resume") {
        // A new socket (on its slot's home, maybe not the one that holds the session) resumes with the i-th
        // credential handed out: the model's and the server's are made up apart, but in the same order.
        if (slots[c.slot] || tokens.model.length === 0) continue;
        const sid = `s${c.slot}.${generation++}`;
        slots[c.slot] = sid;
        const peer = await openOn(ns, c.slot % HOMES, sid, { json: true });
        peers.set(sid, peer);
        step(model, asTheLobby({ type: "open", sid }, true, fresh), now, CONFIG);
        expect(await nextEvent(peer)).toEqual({ type: "ask_name" });
        const i = c.pick % tokens.model.length;
        peer.send(JSON.stringify({ type: "resume", token: tokens.real[i] }));
        input = { type: "action", sid, action: { type: "resume", token: tokens.model[i]! } };
      } else {
        const resolved = resolve(c, slots.filter((x): x is string => x !== null), model);
        if (!resolved) continue;
        const { sid, action } = resolved;
        input = action ? { type: "action", sid, action } : { type: "gone", sid };
        if (!action || action.type === "quit") {
          slots[slots.indexOf(sid)] = null;
          closing.push(sid);
        }
      }

      const { effects } = step(model, asTheLobby(input, true, fresh), now, CONFIG);
      for (const effect of effects) {
        // A session resumed on another socket: its old socket is closed.
        if (effect.type === "close" && effect.sid !== ("sid" in input ? input.sid : "") && peers.has(effect.sid)) {
          slots[slots.indexOf(effect.sid)] = null;
          closing.push(effect.sid);
        }
      }

      if (input.type === "tick") await runTimersEverywhere(ns, now);
      else if (input.type === "action" && input.action.type !== "resume") peers.get(input.sid)!.send(JSON.stringify(input.action));
      else if (input.type === "gone") {
        const peer = peers.get(input.sid)!;
        peer.close(1001, "gone");
        await peer.waitClosed();
      }

      for (const [sid, peer] of peers) {
        for (const effect of effects) {
          if (effect.type !== "send" || effect.sid !== sid) continue;
          const got = await nextEvent(peer);
          expect(got).toEqual(acrossHomes(asReceived(effect.event)));
          if ((effect.event.type === "welcome" || effect.event.type === "resumed") && effect.event.resume) {
            tokens.model.push(effect.event.resume.token);
            tokens.real.push((got as typeof effect.event).resume!.token);
          }
        }
      }
      for (const sid of closing) {
        await peers.get(sid)!.waitClosed();
        peers.delete(sid);
      }
    }

    // Nothing more arrived than the model said: a help round trip is the next event on every open socket.
    for (const peer of peers.values()) {
      peer.send(JSON.stringify({ type: "help" }));
      expect(await nextEvent(peer)).toEqual({ type: "help" });
    }
  });
});
