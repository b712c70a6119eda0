// The random scenarios of the property tests, run through real sockets against the worker: every socket must
// receive exactly the events the pure rules say it should, in order, and nothing else.

import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../src/config";
import type { ServerEvent } from "../public/wire/protocol.js";
import type { Attachment } from "../src/lobby";
import { type Input, type State, chatRoute, emptyState, step } from "../src/rules";
import { asReceived, asTheLobby, freshLobby, lobbyStub, open } from "./support/lobby";
import type { Peer } from "./support/peer";
import { SLOTS, resolve, scenario } from "./support/scenarios";

const RUNS = Number(env.FUZZ_RUNS) > 0 ? Math.ceil(Number(env.FUZZ_RUNS) / 20) : 25;

async function nextEvent(peer: Peer): Promise<ServerEvent> {
  for (;;) {
    const event = await peer.json<ServerEvent>();
    if (event.type !== "presence") return event;
  }
}

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
    const model = emptyState();
    const peers = new Map<string, Peer>(); // model sid -> socket
    const slots: (string | null)[] = Array(SLOTS).fill(null);
    let generation = 0;
    let ticks = 0;
    let issued = 0;
    const fresh = () => `model-${issued++}`;
    const tokens = { model: [] as string[], real: [] as string[] };

    for (const c of commands) {
      let input: Input;
      const closing: string[] = [];
      // The model runs on the Lobby's clock: actions at the time they are sent, ticks at the time the Lobby's
      // timers are run at (further ahead at each tick, past every pending deadline).
      let now = Date.now();
      if (c.kind === "tick") {
        ticks++;
        now += ticks * (DEFAULT_CONFIG.requestTimeoutMs + 1000);
        input = { type: "tick" };
      } else if (c.kind === "open") {
        if (slots[c.slot]) continue;
        const sid = `s${c.slot}.${generation++}`;
        slots[c.slot] = sid;
        peers.set(sid, await open(lobby, sid, { json: true }));
        input = { type: "open", sid };
      } else if (c.kind === "resume") {
        // A new socket resumes with the i-th credential handed out: the model's and the Lobby's are made up apart,
        // but in the same order, so the i-th of each is the same credential (maybe a stale one).
        if (slots[c.slot] || tokens.model.length === 0) continue;
        const sid = `s${c.slot}.${generation++}`;
        slots[c.slot] = sid;
        const peer = await open(lobby, sid, { json: true });
        peers.set(sid, peer);
        step(model, asTheLobby({ type: "open", sid }, true, fresh), now, DEFAULT_CONFIG);
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

      const { effects } = step(model, asTheLobby(input, true, fresh), now, DEFAULT_CONFIG);
      for (const effect of effects) {
        // A session resumed on another socket: its old socket is closed.
        if (effect.type === "close" && effect.sid !== ("sid" in input ? input.sid : "") && peers.has(effect.sid)) {
          slots[slots.indexOf(effect.sid)] = null;
          closing.push(effect.sid);
        }
      }

      if (input.type === "tick") {
        await runInDurableObject(lobbyStub(lobby), (instance) => instance.runTimers(now));
      } else if (input.type === "action" && input.action.type !== "resume") {
        // (a resume was sent above, with the Lobby's own credential)
        peers.get(input.sid)!.send(JSON.stringify(input.action));
      } else if (input.type === "gone") {
        // The Lobby closes back only after handling our close, so once it is closed the departure is done.
        const peer = peers.get(input.sid)!;
        peer.close(1001, "gone");
        await peer.waitClosed();
      }

      for (const [sid, peer] of peers) {
        for (const effect of effects) {
          if (effect.type !== "send" || effect.sid !== sid) continue;
          const got = await nextEvent(peer);
          expect(got).toEqual(asReceived(effect.event));
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
      // Each socket's attachment routes chat lines where the rules do: a woken Lobby relays from it alone.
      expect(await routes(lobby)).toEqual(modelRoutes(model));
    }

    // Nothing more arrived than the model said: a help round trip is the next event on every open socket.
    for (const peer of peers.values()) {
      peer.send(JSON.stringify({ type: "help" }));
      expect(await nextEvent(peer)).toEqual({ type: "help" });
    }
  });
});
