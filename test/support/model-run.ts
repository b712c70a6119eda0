// One random scenario of the property tests, run at once through the pure rules (one state machine, the model) and
// through real sockets: every socket must receive exactly the events the model says it should, in order, and
// nothing else. Shared by test/lobby-model.test.ts (one Lobby) and test/homes/model.test.ts (sockets on homes).

import { expect } from "vitest";
import type { ServerEvent } from "../../public/wire/protocol.js";
import { type Input, type RulesConfig, type State, emptyState, step } from "../../src/rules";
import { asReceived, asTheLobby } from "./lobby";
import type { Peer } from "./peer";
import { type Command, SLOTS, resolve } from "./scenarios";

export interface ScenarioSockets {
  config: RulesConfig;
  /** A JSON socket for slot `slot`, labelled `sid`. */
  open(slot: number, sid: string): Promise<Peer>;
  /** The time the `n`-th tick runs at (past every pending deadline). */
  tickAt(n: number, now: number): number;
  /** The server's timers, run at `now`. */
  runTimers(now: number): Promise<void>;
  /** What a socket receives for an event the model sends (default: the event, with made-up values loosened). */
  expected?(event: ServerEvent): unknown;
  /** After each step, once every socket received what it should: more checks against the model. */
  afterStep?(model: State): Promise<void>;
}

async function nextEvent(peer: Peer): Promise<ServerEvent> {
  for (;;) {
    const event = await peer.json<ServerEvent>();
    if (event.type !== "presence") return event;
  }
}

export async function runScenario(commands: Command[], sockets: ScenarioSockets): Promise<void> {
  const { config } = sockets;
  const model = emptyState();
  const peers = new Map<string, Peer>(); // model sid -> socket
  const slots: (string | null)[] = Array(SLOTS).fill(null);
  let generation = 0;
  let ticks = 0;
  let issued = 0;
  const fresh = () => `model-${issued++}`;
  const tokens = { model: [] as string[], real: [] as string[] };
  const expected = sockets.expected ?? asReceived;

  for (const c of commands) {
    let input: Input;
    const closing: string[] = [];
    // The model runs on the server's clock: actions at the time they are sent, ticks at the time the server's
    // timers are run at.
    let now = Date.now();
    if (c.kind === "tick") {
      now = sockets.tickAt(++ticks, now);
      input = { type: "tick" };
    } else if (c.kind === "open") {
      if (slots[c.slot]) continue;
      const sid = `s${c.slot}.${generation++}`;
      slots[c.slot] = sid;
      peers.set(sid, await sockets.open(c.slot, sid));
      input = { type: "open", sid };
    } else if (c.kind === "resume") {
      // A new socket resumes with the i-th credential handed out: the model's and the server's are made up apart,
      // but in the same order, so the i-th of each is the same credential (maybe a stale one).
      if (slots[c.slot] || tokens.model.length === 0) continue;
      const sid = `s${c.slot}.${generation++}`;
      slots[c.slot] = sid;
      const peer = await sockets.open(c.slot, sid);
      peers.set(sid, peer);
      step(model, asTheLobby({ type: "open", sid }, true, fresh), now, config);
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

    const { effects } = step(model, asTheLobby(input, true, fresh), now, config);
    for (const effect of effects) {
      // A session resumed on another socket: its old socket is closed.
      if (effect.type === "close" && effect.sid !== ("sid" in input ? input.sid : "") && peers.has(effect.sid)) {
        slots[slots.indexOf(effect.sid)] = null;
        closing.push(effect.sid);
      }
    }

    if (input.type === "tick") await sockets.runTimers(now);
    else if (input.type === "action" && input.action.type !== "resume") peers.get(input.sid)!.send(JSON.stringify(input.action));
    else if (input.type === "gone") {
      // The server closes back only after handling our close, so once it is closed the departure is done.
      const peer = peers.get(input.sid)!;
      peer.close(1001, "gone");
      await peer.waitClosed();
    }

    for (const [sid, peer] of peers) {
      for (const effect of effects) {
        if (effect.type !== "send" || effect.sid !== sid) continue;
        const got = await nextEvent(peer);
        expect(got).toEqual(expected(effect.event));
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
    await sockets.afterStep?.(model);
  }

  // Nothing more arrived than the model said: a help round trip is the next event on every open socket.
  for (const peer of peers.values()) {
    peer.send(JSON.stringify({ type: "help" }));
    expect(await nextEvent(peer)).toEqual({ type: "help" });
  }
}
