// Exactly once and in order: two clients' Conversations talking through a relay that loses whatever is in flight
// to or from a side that drops, with drops and resumes at any moment (PROTOCOL.md, "Resuming").

import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Conversation, OUTBOX_MAX, SEEN_EVERY } from "../public/wire/conversation.js";
import type { ClientAction } from "../public/wire/protocol.js";

const RUNS = Number(env.FUZZ_RUNS) > 0 ? Number(env.FUZZ_RUNS) : 300;
/** Fixed by default so CI is repeatable; FUZZ_SEED=random explores other runs. */
const SEED = env.FUZZ_SEED === "random" ? Date.now() : Number(env.FUZZ_SEED) || 20261202;

type Side = "a" | "b";
const other = (s: Side): Side => (s === "a" ? "b" : "a");
/** What the relay sends a client: a partner's line, a seen mark, or that the partner is back. */
type Down = { type: "message"; text: string; seq: number } | { type: "seen"; seq: number } | { type: "partner_back"; seen: number | null };

/** Two clients in one chat and the relay between them, which keeps nothing: what it cannot deliver is lost. */
class World {
  readonly up = { a: true, b: true };
  readonly toServer: Record<Side, ClientAction[]> = { a: [], b: [] };
  readonly toClient: Record<Side, Down[]> = { a: [], b: [] };
  readonly shown: Record<Side, string[]> = { a: [], b: [] };
  readonly said: Record<Side, string[]> = { a: [], b: [] };
  readonly conv: Record<Side, Conversation>;
  private count = 0;

  constructor() {
    this.conv = {
      a: new Conversation((action) => this.up.a && this.toServer.a.push(action)),
      b: new Conversation((action) => this.up.b && this.toServer.b.push(action)),
    };
    this.conv.a.start("b");
    this.conv.b.start("a");
  }

  say(s: Side): void {
    const text = `${s}${++this.count}`;
    this.said[s].push(text);
    this.conv[s].say(text, this.up[s]);
  }

  /** The relay handles one frame from `s`: a line or a mark goes to the partner if it is there, else nowhere. */
  serve(s: Side): void {
    const action = this.toServer[s].shift();
    if (!action || !this.up[other(s)]) return;
    if (action.type === "say") this.toClient[other(s)].push({ type: "message", text: action.text, seq: action.seq! });
    if (action.type === "seen") this.toClient[other(s)].push({ type: "seen", seq: action.seq });
  }

  /** Client `s` reads one frame. */
  read(s: Side): void {
    const e = this.toClient[s].shift();
    if (!e) return;
    const c = this.conv[s];
    if (e.type === "message") this.shown[s].push(...c.received(e).map((m) => m.text));
    if (e.type === "seen") c.partnerSaw(e.seq);
    if (e.type === "partner_back") c.partnerBack(e.seen);
  }

  /** The socket of `s` drops: everything in flight to or from it is lost. */
  drop(s: Side): void {
    this.up[s] = false;
    this.toServer[s] = [];
    this.toClient[s] = [];
  }

  /** `s` resumes with what it saw; the relay tells the partner, if it is there. */
  resume(s: Side): void {
    if (this.up[s]) return;
    this.up[s] = true;
    this.conv[s].resumed();
    if (this.up[other(s)]) this.toClient[other(s)].push({ type: "partner_back", seen: this.conv[s].seen });
  }

  /** Both come back and everything in flight is handled. */
  settle(): void {
    for (const s of ["a", "b"] as const) this.resume(s);
    for (let i = 0; i < 100_000 && this.busy(); i++) for (const s of ["a", "b"] as const) (this.serve(s), this.read(s));
  }

  private busy(): boolean {
    return [...this.toServer.a, ...this.toServer.b, ...this.toClient.a, ...this.toClient.b].length > 0;
  }
}

const move = fc.constantFrom("say", "serve", "read", "serve", "read", "drop", "resume");
const side = fc.constantFrom<Side>("a", "b");

describe("a conversation across drops and resumes", () => {
  it(`shows every line exactly once and in order, in ${RUNS} random runs of drops and resumes`, () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(move, side), { maxLength: 200 }), (moves) => {
        const world = new World();
        for (const [m, s] of moves) world[m](s);
        world.settle();
        expect(world.shown.a).toEqual(world.said.b);
        expect(world.shown.b).toEqual(world.said.a);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("keeps only what the partner has not said it saw, thanks to the marks sent every few lines", () => {
    const world = new World();
    for (let i = 0; i < 3 * SEEN_EVERY; i++) world.say("a");
    world.settle();
    expect(world.conv.a.unconfirmed).toBeLessThan(SEEN_EVERY);
  });

  it("drops a duplicate, holds a line that overtook a missing one, and shows a line with no number at once", () => {
    const c = new Conversation(() => {});
    c.start("tom");
    expect(c.received({ seq: 1, text: "one" })).toEqual([{ seq: 1, text: "one" }]);
    expect(c.received({ seq: 1, text: "one" })).toEqual([]);
    expect(c.received({ seq: 3, text: "three" })).toEqual([]);
    expect(c.received({ seq: 3, text: "three" })).toEqual([]);
    expect(c.received({ seq: 2, text: "two" }).map((m) => m.text)).toEqual(["two", "three"]);
    expect(c.received({ text: "from wscat" })).toEqual([{ text: "from wscat" }]);
    expect(c.received({ seq: 5, text: "five" })).toEqual([]);
    expect(c.end().stranded).toEqual([{ seq: 5, text: "five" }]);
  });

  it("gives back, when the chat ends, the lines the partner may never have had, and forgets the oldest past OUTBOX_MAX", () => {
    const sent: ClientAction[] = [];
    const c = new Conversation((a) => sent.push(a));
    c.start("tom");
    for (let i = 0; i < OUTBOX_MAX + 5; i++) c.say(`line ${i}`);
    c.partnerSaw(OUTBOX_MAX);
    expect(c.end().undelivered.map((l) => l.seq)).toEqual([501, 502, 503, 504, 505]);
    expect(c.partner).toBeNull();
  });
});
