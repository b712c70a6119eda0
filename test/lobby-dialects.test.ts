// One scenario, run through the pure rules and through real sockets in both dialects: the JSON events must equal
// the model's events, and the text lines must be exactly those events rendered. So the dialects carry the same facts.

import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../src/config";
import type { Action, ServerEvent } from "../public/wire/protocol.js";
import { renderText } from "../public/wire/text.js";
import { emptyState, step } from "../src/rules";
import { asReceived, asTheLobby, freshLobby, open } from "./support/lobby";
import type { Peer } from "./support/peer";

type Who = "a" | "b" | "c";

const SCRIPT: [Who, Action][] = [
  ["a", { type: "login", name: "   " }],
  ["a", { type: "login", name: "alice" }],
  ["b", { type: "login", name: "ALICE" }],
  ["b", { type: "login", name: "bob" }],
  ["c", { type: "login", name: "carol" }],
  ["a", { type: "connect" }],
  ["a", { type: "cancel" }],
  ["a", { type: "connect", to: "Alice" }],
  ["a", { type: "connect", to: "dave" }],
  ["a", { type: "connect", to: "bob" }],
  ["b", { type: "answer", accept: false }],
  ["a", { type: "connect", to: "bob" }],
  ["b", { type: "connect", to: "carol" }],
  ["b", { type: "cancel" }],
  ["b", { type: "connect", to: "alice" }],
  ["a", { type: "answer", accept: true }],
  ["a", { type: "say", text: "hi bob" }],
  ["b", { type: "say", text: "hi alice" }],
  ["c", { type: "connect", to: "bob" }],
  ["c", { type: "list" }],
  ["c", { type: "help" }],
  ["c", { type: "exit" }],
  ["b", { type: "exit" }],
  ["c", { type: "quit" }],
];

/** How a wscat user types each action (the text dialect reads the line in the sender's current mode). */
function asLine(action: Action): string {
  switch (action.type) {
    case "login":
      return action.name;
    case "connect":
      return action.to === undefined ? "connect" : `connect ${action.to}`;
    case "answer":
      return action.accept ? "y" : "n";
    case "say":
      return action.text;
    case "invalid":
      throw new Error("not a client action");
    default:
      return action.type;
  }
}

async function nextEvent(peer: Peer): Promise<ServerEvent> {
  for (;;) {
    const event = await peer.json<ServerEvent>();
    if (event.type !== "presence") return event;
  }
}

async function runScenario(json: boolean): Promise<Set<string>> {
  const lobby = freshLobby();
  const model = emptyState();
  const seen = new Set<string>();
  const peers = {} as Record<Who, Peer>;
  const expectFrom = async (who: Who, events: ServerEvent[]) => {
    for (const event of events) {
      seen.add(event.type);
      // A wait (a cooldown) is worked out by the model and the Lobby a few milliseconds apart.
      if (json) expect(await nextEvent(peers[who])).toEqual(asReceived(event));
      else for (const line of renderText(event)) expect(await peers[who].next()).toBe(line);
    }
  };
  for (const who of ["a", "b", "c"] as const) {
    peers[who] = await open(lobby, who, { json });
    const { effects } = step(model, asTheLobby({ type: "open", sid: who }, json, () => "model"), Date.now(), DEFAULT_CONFIG);
    await expectFrom(who, effects.flatMap((e) => (e.type === "send" ? [e.event] : [])));
  }
  for (const [who, action] of SCRIPT) {
    const { effects } = step(model, asTheLobby({ type: "action", sid: who, action }, json, () => "model"), Date.now(), DEFAULT_CONFIG);
    peers[who].send(json ? JSON.stringify(action) : asLine(action));
    for (const target of ["a", "b", "c"] as const) {
      await expectFrom(target, effects.flatMap((e) => (e.type === "send" && e.sid === target ? [e.event] : [])));
    }
    for (const e of effects) if (e.type === "close") expect((await peers[e.sid as Who].waitClosed()).code).toBe(e.code);
  }
  return seen;
}

describe("both dialects carry the same facts as the rules", () => {
  it("in the text dialect, every line is the model's event rendered", async () => {
    await runScenario(false);
  });

  it("in the JSON dialect, every event is the model's event, and the scenario covers every event type", async () => {
    const seen = await runScenario(true);
    const ALL: { [K in ServerEvent["type"]]: true } = {
      ask_name: true, name_rejected: true, welcome: true, ask_target: true, request_failed: true, request_sent: true,
      incoming_request: true, request_declined: true, you_declined: true, request_ended: true, cancelled: true,
      connected: true, message: true, partner_left: true, you_left: true, users: true, presence: true, help: true,
      bye: true, error: true, check: true, typing: true, availability: true, blocked: true, seen: true, resumed: true,
      resume_failed: true, partner_away: true, partner_back: true,
    };
    // Covered by their own tests: presence (lobby-json), checks (lobby-unread), typing, availability and blocks
    // (lobby-consent), resuming (lobby-resume); everything else appears here.
    const elsewhere = new Set(["presence", "check", "typing", "availability", "blocked", "seen", "resumed", "resume_failed", "partner_away", "partner_back"]);
    expect([...seen].sort()).toEqual(Object.keys(ALL).filter((t) => !elsewhere.has(t)).sort());
  });
});
