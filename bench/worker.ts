// The bench-only worker (bench/wrangler.toml; never deployed): the real Lobby, an instrumented copy of it and the
// zero-logic Relay in one workerd, so that `npm run bench` compares them under the same machine noise.
//
//   GET /lobby/ws?lobby=NAME        the real Lobby, the raw upgrade forwarded as src/index.ts does
//   GET /probe/ws?lobby=NAME        ProbeLobby: the Lobby, counting webSocketMessage calls and storage writes
//   GET /probe/stats?lobby=NAME     ProbeLobby's counters as JSON
//   GET /nowrite/ws?lobby=NAME      what-if: the Lobby with its SQLite writes dropped, to price storage per login
//   GET /relay/ws?room=NAME         the Relay (bench/relay.ts)
//   GET /health                     {"ok":true}

import type { Env } from "../src/env";
import { Lobby } from "../src/lobby";
import { Relay } from "./relay";

export { Lobby, Relay };

interface BenchEnv extends Env {
  PROBE: DurableObjectNamespace<ProbeLobby>;
  NOWRITE: DurableObjectNamespace<NoWriteLobby>;
  RELAY: DurableObjectNamespace<Relay>;
}

/** What ProbeLobby counts; see `instrument`. */
export interface ProbeCounts {
  /** webSocketMessage calls, i.e. frames that woke the Lobby's JavaScript. */
  messages: number;
  /** sql.exec calls that write (INSERT, REPLACE, UPDATE, DELETE, and CREATE or DROP of a table). */
  writeStatements: number;
  /**
   * The sum of `rowsWritten` over every cursor, as SQLite reports it and Cloudflare bills it: a CREATE TABLE's
   * entries in sqlite_master count too (2 a table), a DROP TABLE reports 0.
   */
  rowsWritten: number;
  /** ctx.storage.setAlarm calls (each one a storage write). */
  alarms: number;
  /** serializeAttachment calls on the Lobby's sockets (not storage, but the per-socket hibernation state). */
  attachments: number;
}

// Counters live at module level, keyed by object id, so they survive the Lobby being evicted and constructed
// again (the runtime hibernates it after ~10 s without events); the isolate, and this module, stay.
const counters = new Map<string, ProbeCounts>();
const probedSockets = new WeakMap<WebSocket, ProbeCounts>();

function countsFor(id: string): ProbeCounts {
  let counts = counters.get(id);
  if (!counts) {
    counts = { messages: 0, writeStatements: 0, rowsWritten: 0, alarms: 0, attachments: 0 };
    counters.set(id, counts);
  }
  return counts;
}

const WRITE = /^\s*(INSERT|REPLACE|UPDATE|DELETE)\b/i;
const SCHEMA = /^\s*(CREATE|DROP)\b/i;
/** Miniflare records each object's name through the same `sql.exec` once; that write is not the Lobby's. */
const MINIFLARE = /__miniflare/;
let attachmentsPatched = false;

/**
 * Wraps the object's storage before the Lobby's constructor first touches it. `ctx.storage.sql` and `ctx.storage`
 * are each one object for the life of the Durable Object, so an own `exec` / `setAlarm` / `acceptWebSocket` shadows
 * the prototype's for this object only. Attachments are counted through WebSocket.prototype, for the sockets this
 * probe accepted (or found at construction):
 * that patch is installed the first time a ProbeLobby is constructed, so run the probes after the timed runs.
 */
function instrument(ctx: DurableObjectState, counts: ProbeCounts): void {
  const sql = ctx.storage.sql;
  const exec = sql.exec.bind(sql);
  sql.exec = ((query: string, ...bindings: unknown[]) => {
    const cursor = exec(query, ...bindings);
    if (MINIFLARE.test(query)) return cursor;
    if (WRITE.test(query) || SCHEMA.test(query)) counts.writeStatements++;
    counts.rowsWritten += cursor.rowsWritten;
    return cursor;
  }) as typeof sql.exec;
  const accept = ctx.acceptWebSocket.bind(ctx);
  ctx.acceptWebSocket = (ws, tags) => {
    probedSockets.set(ws, counts);
    return accept(ws, tags);
  };
  const setAlarm = ctx.storage.setAlarm.bind(ctx.storage);
  ctx.storage.setAlarm = (time, options) => {
    counts.alarms++;
    return setAlarm(time, options);
  };
  if (attachmentsPatched) return;
  attachmentsPatched = true;
  const serialize = WebSocket.prototype.serializeAttachment;
  WebSocket.prototype.serializeAttachment = function (this: WebSocket, value: unknown) {
    const owner = probedSockets.get(this);
    if (owner) owner.attachments++;
    return serialize.call(this, value);
  };
}

/** The real Lobby with counters; every behaviour is the superclass's. */
export class ProbeLobby extends Lobby {
  private readonly counts: ProbeCounts;

  constructor(ctx: DurableObjectState, env: Env) {
    const counts = countsFor(ctx.id.toString());
    instrument(ctx, counts);
    super(ctx, env);
    this.counts = counts;
    for (const ws of ctx.getWebSockets()) probedSockets.set(ws, counts);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.counts.messages++;
    return super.webSocketMessage(ws, message);
  }

  /** RPC: the counters so far. */
  stats(): ProbeCounts {
    return { ...this.counts };
  }
}

/**
 * What-if, for the benchmark only: the Lobby with every SQLite write dropped (reads still run), so that the
 * difference to the real Lobby is what storage costs a login or a pairing (the write, the commit, and the output
 * gate that holds the answer until the commit is durable). It forgets everything on a restart: never deploy it.
 */
export class NoWriteLobby extends Lobby {
  constructor(ctx: DurableObjectState, env: Env) {
    const sql = ctx.storage.sql;
    const exec = sql.exec.bind(sql);
    sql.exec = ((query: string, ...bindings: unknown[]) =>
      WRITE.test(query) && !MINIFLARE.test(query) ? exec("SELECT 1 WHERE 0") : exec(query, ...bindings)) as typeof sql.exec;
    super(ctx, env);
  }
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get("lobby") ?? url.searchParams.get("room") ?? "bench";
    if (!NAME.test(name)) return new Response("bad name\n", { status: 400 });
    switch (url.pathname) {
      case "/health":
        return Response.json({ ok: true });
      case "/lobby/ws":
        return env.LOBBY.get(env.LOBBY.idFromName(name)).fetch(request);
      case "/probe/ws":
        return env.PROBE.get(env.PROBE.idFromName(name)).fetch(request);
      case "/probe/stats":
        return Response.json(await env.PROBE.get(env.PROBE.idFromName(name)).stats());
      case "/nowrite/ws":
        return env.NOWRITE.get(env.NOWRITE.idFromName(name)).fetch(request);
      case "/relay/ws":
        return env.RELAY.get(env.RELAY.idFromName(name)).fetch(request);
      default:
        return new Response("Not found\n", { status: 404 });
    }
  },
} satisfies ExportedHandler<BenchEnv>;
