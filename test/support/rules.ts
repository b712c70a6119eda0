// Driving the pure rules in unit tests: a lobby of logged-in users, requests and pairs, and reading a step's result.

import { DEFAULT_CONFIG, limitsOf } from "../../src/config";
import type { Action, ServerEvent } from "../../public/wire/protocol.js";
import { type Input, type State, type StepResult, emptyState, step } from "../../src/rules";

export const CONFIG = DEFAULT_CONFIG;
/** What every welcome carries. */
export const welcome = (name: string) => ({ type: "welcome", name, limits: limitsOf(CONFIG) });
export const NOW = 1_700_000_000_000;

// Sockets are named after their user, whatever case the name was typed in, so helpers can find them.
export const sidOf = (name: string) => `sid-${name.toLowerCase()}`;

export function run(state: State, input: Input, now = NOW): StepResult {
  return step(state, input, now, CONFIG);
}

export function act(state: State, sid: string, action: Action, now = NOW): StepResult {
  return run(state, { type: "action", sid, action }, now);
}

export const open = (state: State, sid: string) => run(state, { type: "open", sid });
export const login = (state: State, sid: string, name: string) => act(state, sid, { type: "login", name });
export const connect = (state: State, sid: string, to?: string, now = NOW) =>
  act(state, sid, to === undefined ? { type: "connect" } : { type: "connect", to }, now);
export const answer = (state: State, sid: string, accept: boolean) => act(state, sid, { type: "answer", accept });
export const say = (state: State, sid: string, text: string) => act(state, sid, { type: "say", text });
export const gone = (state: State, sid: string) => run(state, { type: "gone", sid });
export const tick = (state: State, now: number) => run(state, { type: "tick" }, now);

/** A lobby with these users logged in, each on a socket of its own; returns the state and their sids. */
export function lobby(...names: string[]): { state: State; sids: string[] } {
  const state = emptyState();
  const sids = names.map((name) => {
    const sid = sidOf(name);
    open(state, sid);
    const welcome = eventsTo(login(state, sid, name), sid);
    if (welcome[0]?.type !== "welcome") {
      throw new Error(`lobby(): ${name} could not log in: ${JSON.stringify(welcome)}`);
    }
    return sid;
  });
  return { state, sids };
}

/** `requester` has asked `target`; the request is pending. */
export function request(state: State, requester: string, target: string, now = NOW): void {
  const sent = eventsTo(connect(state, sidOf(requester), target, now), sidOf(requester));
  if (sent[0]?.type !== "request_sent") throw new Error(`request(): ${JSON.stringify(sent)}`);
}

/** `a` and `b` are chatting. */
export function pair(state: State, a: string, b: string): void {
  request(state, a, b);
  const ok = eventsTo(answer(state, sidOf(b), true), sidOf(b));
  if (ok[0]?.type !== "connected") throw new Error(`pair(): ${JSON.stringify(ok)}`);
}

/** The events sent to one socket, in order. */
export function eventsTo(result: StepResult, sid: string): ServerEvent[] {
  return result.effects.flatMap((e) => (e.type === "send" && e.sid === sid ? [e.event] : []));
}

/** Every socket the step sent something to or closed. */
export function recipients(result: StepResult): string[] {
  return [...new Set(result.effects.map((e) => e.sid))].sort();
}

/** The dirty sets as sorted arrays, for exact comparison. */
export function dirtyOf(result: StepResult): { users: string[]; links: string[]; sessions: string[]; away: string[] } {
  return {
    users: [...result.dirty.users].sort(),
    links: [...result.dirty.links].sort(),
    sessions: [...result.dirty.sessions].sort(),
    away: [...result.dirty.away].sort(),
  };
}

export const clean = { users: [], links: [], sessions: [], away: [] };

export function errorCode(result: StepResult, sid: string): string | undefined {
  const event = eventsTo(result, sid)[0];
  return event?.type === "error" ? event.code : undefined;
}

