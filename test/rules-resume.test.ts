// Conversations that survive, in the pure rules: a JSON session that loses its socket is away for the resume window,
// keeps its name, chat and requests, and resumes on a new socket with its credential (docs/RULES.md, R18-R20).

import { describe, expect, it } from "vitest";
import type { ServerEvent } from "../public/wire/protocol.js";
import { type Input, type LinkRow, type State, awayRow, emptyState, linkRow, nextDeadline, rebuild, statusOf, step } from "../src/rules";
import { CONFIG, NOW, eventsTo } from "./support/rules";

const GRACE = CONFIG.resumeGraceMs;

/** A lobby of JSON users (sockets that may resume), each given the credential `token-<name>-0` at login. */
function lobby(...names: string[]) {
  const state = emptyState();
  const tokens = new Map<string, string>();
  for (const name of names) {
    const sid = `sid-${name}`;
    step(state, { type: "open", sid, resumable: true }, NOW, CONFIG);
    const welcome = eventsTo(step(state, { type: "action", sid, action: { type: "login", name }, fresh: `token-${name}-0` }, NOW, CONFIG), sid)[0];
    if (welcome?.type !== "welcome" || !welcome.resume) throw new Error(`no credential for ${name}`);
    tokens.set(name, welcome.resume.token);
  }
  return { state, tokens };
}

const run = (state: State, input: Input, now = NOW) => step(state, input, now, CONFIG);
const act = (state: State, sid: string, action: Extract<Input, { type: "action" }>["action"], now = NOW, fresh?: string) =>
  run(state, { type: "action", sid, action, fresh }, now);
const drop = (state: State, name: string, now = NOW) => run(state, { type: "gone", sid: `sid-${name}`, resumable: true }, now);

/** A new socket resuming `name`'s session; returns what the step did and the new socket's id. */
function resume(state: State, token: string, sid: string, now = NOW, seen?: number) {
  run(state, { type: "open", sid, resumable: true }, now);
  const action = seen === undefined ? { type: "resume" as const, token } : { type: "resume" as const, token, seen };
  return run(state, { type: "action", sid, action, fresh: `fresh-${sid}` }, now);
}

function chatting(...names: [string, string]) {
  const { state, tokens } = lobby(...names);
  act(state, `sid-${names[0]}`, { type: "connect", to: names[1] });
  act(state, `sid-${names[1]}`, { type: "answer", accept: true });
  return { state, tokens };
}

describe("a credential at login", () => {
  it("is given to a socket that may resume (the JSON dialect), kept only as its hash, and not to a text socket", () => {
    const { state, tokens } = lobby("maya");
    expect(tokens.get("maya")).toBe("token-maya-0");
    expect(state.users.get("maya")!.resume).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify([...state.users])).not.toContain("token-maya-0");
    run(state, { type: "open", sid: "text" }, NOW);
    const welcome = eventsTo(act(state, "text", { type: "login", name: "tom" }, NOW, "unused"), "text")[0];
    expect(welcome).toEqual({ type: "welcome", name: "tom", limits: expect.any(Object) });
  });

  it("is not given when resuming is off (RESUME_GRACE_MS 0)", () => {
    const state = emptyState();
    step(state, { type: "open", sid: "s", resumable: true }, NOW, { ...CONFIG, resumeGraceMs: 0 });
    const result = step(state, { type: "action", sid: "s", action: { type: "login", name: "maya" }, fresh: "t" }, NOW, { ...CONFIG, resumeGraceMs: 0 });
    expect(eventsTo(result, "s")[0]).not.toHaveProperty("resume");
  });
});

describe("away", () => {
  it("keeps the name, the chat and the partner, who is told at once", () => {
    const { state } = chatting("maya", "tom");
    const dropped = drop(state, "maya");
    expect(eventsTo(dropped, "sid-tom")).toEqual([{ type: "partner_away", name: "maya", graceMs: GRACE }]);
    expect(statusOf(state, "maya")).toBe("away");
    expect(state.users.get("tom")!.peer).toBe("maya");
    expect(awayRow(state, "maya")).toMatchObject({ key: "maya", until: NOW + GRACE });
    // The end of the window is a timer of its own: the Lobby wakes then to let the user go.
    expect(nextDeadline(state)).toBe(NOW + GRACE);
    run(state, { type: "open", sid: "other" }, NOW);
    expect(eventsTo(act(state, "other", { type: "login", name: "Maya" }), "other")[0]).toMatchObject({ reason: "taken" });
  });

  it("answers a request to an away user, and tells a partner its line was not delivered", () => {
    const { state } = chatting("maya", "tom");
    lobbyJoin(state, "carol");
    drop(state, "maya");
    expect(eventsTo(act(state, "sid-carol", { type: "connect", to: "maya" }), "sid-carol")).toEqual([
      { type: "request_failed", reason: "away", to: "maya" },
    ]);
    expect(eventsTo(act(state, "sid-tom", { type: "say", text: "are you there?", seq: 3 }), "sid-tom")).toEqual([
      { type: "error", code: "not_delivered", message: "maya is away; that line was not delivered" },
    ]);
  });

  it("ends at the end of the window: the partner is told maya left, and the name is free", () => {
    const { state } = chatting("maya", "tom");
    drop(state, "maya");
    expect(run(state, { type: "tick" }, NOW + GRACE - 1).effects).toEqual([]);
    const ended = run(state, { type: "tick" }, NOW + GRACE);
    expect(eventsTo(ended, "sid-tom")).toEqual([{ type: "partner_left", name: "maya", reason: "disconnected" }]);
    expect(state.users.has("maya")).toBe(false);
    expect(awayRow(state, "maya")).toBeNull();
    expect(linkRow(state, "tom")).toBeNull();
  });

  it("lets the partner exit at once, and keeps that for the away user", () => {
    const { state, tokens } = chatting("maya", "tom");
    drop(state, "maya");
    expect(eventsTo(act(state, "sid-tom", { type: "exit" }), "sid-tom")).toEqual([{ type: "you_left", with: "maya" }]);
    const back = resume(state, tokens.get("maya")!, "new");
    expect(eventsTo(back, "new")).toEqual([
      {
        type: "resumed",
        name: "maya",
        resume: { token: "fresh-new", graceMs: GRACE },
        partner: null,
        request: null,
        missed: [{ type: "partner_left", name: "tom", reason: "exit" }],
      },
    ]);
  });

  it("is not where a socket closed for cause goes, nor a quit, nor a text socket", () => {
    const { state } = chatting("maya", "tom");
    expect(eventsTo(run(state, { type: "gone", sid: "sid-maya", resumable: false }), "sid-tom")).toEqual([
      { type: "partner_left", name: "maya", reason: "disconnected" },
    ]);
    const quitter = chatting("ann", "bo").state;
    expect(eventsTo(act(quitter, "sid-ann", { type: "quit" }), "sid-bo")).toEqual([{ type: "partner_left", name: "ann", reason: "disconnected" }]);
  });
});

describe("resume", () => {
  it("brings the session back on a new socket with a new credential, and tells the partner what it saw", () => {
    const { state, tokens } = chatting("maya", "tom");
    drop(state, "maya");
    const back = resume(state, tokens.get("maya")!, "new", NOW + 5000, 12);
    expect(eventsTo(back, "new")).toEqual([
      { type: "resumed", name: "maya", resume: { token: "fresh-new", graceMs: GRACE }, partner: "tom", request: null, missed: [] },
    ]);
    expect(eventsTo(back, "sid-tom")).toEqual([{ type: "partner_back", name: "maya", seen: 12 }]);
    expect(statusOf(state, "maya")).toBe("busy");
    expect(awayRow(state, "maya")).toBeNull();
    expect(state.users.get("maya")!.sid).toBe("new");
    // The line tom sends now reaches maya's new socket.
    expect(act(state, "sid-tom", { type: "say", text: "welcome back", seq: 4 }).effects).toEqual([
      { type: "send", sid: "new", event: { type: "message", from: "tom", text: "welcome back", seq: 4 } },
    ]);
  });

  it("refuses the old credential once it has been used, and a wrong or expired one, with a fresh login prompt", () => {
    const { state, tokens } = chatting("maya", "tom");
    drop(state, "maya");
    resume(state, tokens.get("maya")!, "new");
    run(state, { type: "gone", sid: "new", resumable: true }, NOW);
    for (const token of [tokens.get("maya")!, "wrong", ""]) {
      expect(eventsTo(resume(state, token, `try-${token}`), `try-${token}`)).toEqual([{ type: "resume_failed" }, { type: "ask_name" }]);
    }
    const expired = run(state, { type: "tick" }, NOW + GRACE);
    expect(eventsTo(expired, "sid-tom")).toEqual([{ type: "partner_left", name: "maya", reason: "disconnected" }]);
    expect(eventsTo(resume(state, "fresh-new", "late", NOW + GRACE), "late")).toEqual([{ type: "resume_failed" }, { type: "ask_name" }]);
  });

  it("takes the session over from an old socket that has not closed yet (a reload), closing it", () => {
    const { state, tokens } = chatting("maya", "tom");
    const back = resume(state, tokens.get("maya")!, "new");
    expect(back.effects).toContainEqual({ type: "close", sid: "sid-maya", code: 4003, reason: "resumed elsewhere" });
    expect(state.sessions.has("sid-maya")).toBe(false);
    expect(eventsTo(back, "sid-tom")).toEqual([{ type: "partner_back", name: "maya", seen: null }]);
    // Its close event finds nothing left to do.
    expect(run(state, { type: "gone", sid: "sid-maya", resumable: true }).effects).toEqual([]);
    expect(statusOf(state, "maya")).toBe("busy");
  });

  it("keeps a pending request and its deadline, and says where it stands", () => {
    const { state, tokens } = lobby("maya", "tom");
    act(state, "sid-tom", { type: "connect", to: "maya" });
    drop(state, "maya", NOW + 1000);
    const back = resume(state, tokens.get("maya")!, "new", NOW + 2000);
    expect(eventsTo(back, "new")[0]).toMatchObject({ request: { role: "received", name: "tom", expiresInMs: 58_000 } });
    expect(state.requests.get("maya")?.deadline).toBe(NOW + 60_000);
  });

  it("says again that the partner is away, whose notice may have gone to the socket that dropped", () => {
    const { state, tokens } = chatting("maya", "tom");
    drop(state, "tom", NOW);
    // maya's socket was sent the notice, then dropped before it arrived, as far as the server can tell.
    drop(state, "maya", NOW + 1000);
    const back = eventsTo(resume(state, tokens.get("maya")!, "new", NOW + 5000), "new")[0] as Extract<ServerEvent, { type: "resumed" }>;
    expect(back.partner).toBe("tom");
    expect(back.missed).toEqual([{ type: "partner_away", name: "tom", graceMs: GRACE - 5000 }]);

    // Once tom is back, a later resume of maya's has nothing to add.
    resume(state, tokens.get("tom")!, "tom-new", NOW + 6000);
    run(state, { type: "gone", sid: "new", resumable: true }, NOW + 7000);
    const again = eventsTo(resume(state, "fresh-new", "newer", NOW + 8000), "newer")[0] as Extract<ServerEvent, { type: "resumed" }>;
    expect(again.missed).toEqual([]);
  });

  it("does not say twice that the partner is away when the notice was kept for the user", () => {
    const { state, tokens } = chatting("maya", "tom");
    drop(state, "maya", NOW);
    drop(state, "tom", NOW + 1000);
    const back = eventsTo(resume(state, tokens.get("maya")!, "new", NOW + 2000), "new")[0] as Extract<ServerEvent, { type: "resumed" }>;
    expect(back.missed).toEqual([{ type: "partner_away", name: "tom", graceMs: GRACE }]);
  });

  it("keeps what the user was told while away, and gives it back on resume", () => {
    const { state, tokens } = lobby("maya", "tom");
    act(state, "sid-tom", { type: "connect", to: "maya" });
    drop(state, "maya");
    act(state, "sid-tom", { type: "cancel" });
    const back = eventsTo(resume(state, tokens.get("maya")!, "new"), "new")[0] as Extract<ServerEvent, { type: "resumed" }>;
    expect(back.request).toBeNull();
    expect(back.missed).toEqual([{ type: "request_ended", name: "tom", role: "received", reason: "withdrawn" }]);
  });
});

describe("a restart", () => {
  it("lets both sides of a stored chat resume from the time the object woke", () => {
    const { state, tokens } = chatting("maya", "tom");
    const row: LinkRow = linkRow(state, "tom")!;
    expect(row).toMatchObject({ a: "tom", b: "maya", chat: true, aName: "tom", bName: "maya" });
    // Every socket is gone: only the row is left.
    const woke = rebuild([], [row], [], NOW + 100_000, CONFIG);
    expect(statusOf(woke.state, "maya")).toBe("away");
    expect(woke.state.users.get("maya")!.awayUntil).toBe(NOW + 100_000 + GRACE);
    expect(woke.result.dirty.away).toEqual(new Set(["maya", "tom"]));
    const back = resume(woke.state, tokens.get("maya")!, "new", NOW + 100_001);
    expect(eventsTo(back, "new")[0]).toMatchObject({ type: "resumed", partner: "tom" });
  });

  it("departs a user of a stored link who has no credential (a text socket)", () => {
    const state = emptyState();
    const woke = rebuild([], [{ a: "tom", b: "maya", chat: true, deadline: 0, aName: "tom", bName: "maya", aResume: null, bResume: null }], [], NOW, CONFIG);
    void state;
    expect(woke.state.users.size).toBe(0);
    expect(woke.result.dirty.links).toEqual(new Set(["tom"]));
  });
});

/** Adds a JSON user to an existing lobby. */
function lobbyJoin(state: State, name: string): void {
  step(state, { type: "open", sid: `sid-${name}`, resumable: true }, NOW, CONFIG);
  step(state, { type: "action", sid: `sid-${name}`, action: { type: "login", name }, fresh: `token-${name}-0` }, NOW, CONFIG);
}
