// Shared pieces of the attack tests: the runtime they attack, logged-in raw clients, a bystander pair that measures
// its round trips, memory sampling and the one summary line each test prints.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { type RawOptions, RawClient } from "../raw-client.ts";
import { type DevServer, startDevServer } from "../../../scripts/dev-server.mjs";
import { decode, encode } from "../../../scripts/lib/client.mjs";
import { readLine } from "../../../public/wire/text.js";

export type Runtime = DevServer;

/**
 * The real worker on workerd directly (Miniflare, clients on the worker's own socket): nothing stands between a
 * misbehaving client and the runtime. wrangler dev's proxy workerd would relay every frame, hold about six
 * descriptors per socket and buffer on its own, so a client that stops reading would fill the proxy's memory rather
 * than the runtime's; and it negotiates compression with the client itself. `rss()` is the runtime's memory.
 * The vars are wrangler.toml's, LOBBY_NAMES included, unless a test sets them.
 *
 * PARLEY_SRC=/path/to/a/copy/of/src runs that copy instead of src/ (to try a fix against the attack tests).
 */
export function startRuntime(opts: { vars?: Record<string, string>; persist?: boolean } = {}): Promise<Runtime> {
  return startDevServer({ runtime: "miniflare", openLobbies: false, src: process.env.PARLEY_SRC, ...opts });
}

/** Files under `dir`, recursively, relative to it (for looking for SQLite files in the persist directory). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** Vars every attack runtime sets: named lobbies for a fresh one per test (the default allows only the default). */
export const ATTACK_VARS = { LOBBY_NAMES: "atk-*" };

export const freshLobby = (rt: Runtime) => `${rt.wsUrl}?lobby=atk-${crypto.randomUUID()}`;

/** A text line that is a check (see public/wire/text.js), which a reading client answers. */
export const isCheck = (text: string) => readLine(text)?.sentence === "check";

/** Answers the server's proof-of-reading checks in a frame of either dialect, as every client that reads does. */
export function answerChecks(text: string, client: RawClient): void {
  const dialect = text.startsWith("{") ? "json" : "text";
  for (const ev of decode(text, dialect)) {
    if (ev.type === "check") void client.sendText(encode({ type: "checked", token: ev.token }, dialect));
  }
}

/**
 * A raw client logged in under `name` in the text dialect, the prompt and greeting consumed. The greeting is one
 * frame (`Welcome, …!\nCommands: …`) or two (today): either way it ends with the frame holding `Commands:`.
 */
export async function login(url: string, name: string, opts: RawOptions = {}): Promise<RawClient> {
  const c = await RawClient.open(url, { onText: answerChecks, ...opts }, name);
  await c.until("Please enter a username");
  await c.sendText(name);
  await c.until("Commands:");
  return c;
}

/** Two logged-in raw clients in a chat with each other (a asks, b says y), the notices consumed. */
export async function chatting(url: string, a: string, b: string, opts: { a?: RawOptions; b?: RawOptions } = {}) {
  const ca = await login(url, a, opts.a);
  const cb = await login(url, b, opts.b);
  await ca.sendText(`connect ${b}`);
  await cb.until(`${a} is trying to connect with you`);
  await cb.sendText("y");
  await ca.until(`You are now connected with ${b}`);
  await cb.until(`You are now connected with ${a}`);
  return [ca, cb] as const;
}

export interface Latency {
  sent: number;
  returned: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * A separate chatting pair that measures the round trip of its own lines during an attack: one side sends
 * `rt <n>` every `intervalMs` (well under the rate limit), the other echoes it, and the first records how long the
 * line took to come back. A line still out when the measurement stops counts with the time it has waited so far,
 * so a stall shows in p99 rather than disappearing.
 */
export class Bystander {
  private readonly sentAt = new Map<number, number>();
  private readonly times: number[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly a: RawClient,
    readonly b: RawClient,
  ) {}

  static async start(url: string, intervalMs = 100): Promise<Bystander> {
    const names = [`by${crypto.randomUUID().slice(0, 6)}`, `st${crypto.randomUUID().slice(0, 6)}`] as const;
    let self: Bystander | null = null;
    const [a, b] = await chatting(url, names[0], names[1], {
      a: {
        onText: (text, c) => {
          answerChecks(text, c);
          const n = new RegExp(`^${names[1]}: rt (\\d+)$`).exec(text)?.[1];
          const at = n === undefined ? undefined : self?.sentAt.get(Number(n));
          if (at === undefined) return;
          self!.sentAt.delete(Number(n));
          self!.times.push(performance.now() - at);
        },
      },
      b: {
        onText: (text, c) => {
          answerChecks(text, c);
          const n = new RegExp(`^${names[0]}: rt (\\d+)$`).exec(text)?.[1];
          if (n !== undefined) void c.sendText(`rt ${n}`);
        },
      },
    });
    self = new Bystander(a, b);
    self.timer = setInterval(() => {
      const n = self!.seq++;
      self!.sentAt.set(n, performance.now());
      void a.sendText(`rt ${n}`);
    }, intervalMs);
    return self;
  }

  /** Stops sending; waits up to `graceMs` for lines still out, then reports. */
  async stop(graceMs = 2000): Promise<Latency> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + graceMs;
    while (this.sentAt.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const now = performance.now();
    const all = [...this.times, ...[...this.sentAt.values()].map((at) => now - at)].sort((x, y) => x - y);
    return { sent: this.seq, returned: this.times.length, p50: quantile(all, 0.5), p99: quantile(all, 0.99), max: all.at(-1) ?? 0 };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.a.destroy();
    this.b.destroy();
  }
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Samples the runtime's resident memory every 100 ms: what it held before, at its peak, and now. */
export class MemoryWatch {
  readonly before: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly rt: Runtime) {
    this.before = rt.rss();
    this.peak = this.before;
    this.timer = setInterval(() => this.sample(), 100);
  }

  sample(): number {
    const now = this.rt.rss();
    this.peak = Math.max(this.peak, now);
    return now;
  }

  /** Growth of the peak over the start, in bytes. */
  get growth(): number {
    return this.peak - this.before;
  }

  stop(): { beforeMB: number; peakMB: number; afterMB: number; growthMB: number } {
    clearInterval(this.timer);
    const after = this.sample();
    return { beforeMB: mb(this.before), peakMB: mb(this.peak), afterMB: mb(after), growthMB: mb(this.growth) };
  }
}

export const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
export const ms = (x: number) => Math.round(x * 10) / 10;

/** The one line of figures a test prints: `[attack] name: key=value …`. */
export function summary(name: string, figures: Record<string, unknown>): void {
  const show = (v: unknown) => (typeof v === "object" || (typeof v === "string" && /\s/.test(v)) ? JSON.stringify(v) : String(v));
  console.log(`[attack] ${name}: ${Object.entries(figures).map(([k, v]) => `${k}=${show(v)}`).join(" ")}`);
}

/** Resolves true when `ready()` holds, polled every `everyMs`; false after `timeoutMs`. */
export async function poll(ready: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
