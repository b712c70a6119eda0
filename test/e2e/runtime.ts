// The real worker (src/index.ts) on workerd directly, for the attack tests: Miniflare with a socket bound to the
// worker itself, so that nothing stands between a misbehaving client and the runtime (see below), and the runtime's
// resident memory read from /proc.
//
// Why not `wrangler dev` (scripts/dev-server.mjs): its proxy workerd relays every frame, holds about six descriptors
// per socket and buffers on its own, so a client that stops reading fills the proxy's memory rather than the
// runtime's, and latency includes a second process; it also negotiates compression with the client itself.
// Why a direct socket rather than Miniflare's usual entry: the entry is a worker of Miniflare's in front of ours,
// which rewrites requests (it sets CF-Connecting-IP from the peer address, for one); Cloudflare's edge is not that.
//
// PARLEY_SRC=/path/to/a/copy/of/src runs that copy instead of src/ (to try a fix against the attack tests; the copy
// needs node_modules beside it, as src/ has).

import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startMiniflareWorker, workerdProcesses } from "../../bench/dev-server.mjs";

export interface Runtime {
  /** ws://127.0.0.1:PORT/ws */
  wsUrl: string;
  /** http://127.0.0.1:PORT */
  httpUrl: string;
  /** host and port, for raw TCP clients */
  host: string;
  port: number;
  /** Resident memory of the workerd process(es) this runtime runs, in bytes (VmRSS in /proc/PID/status). */
  rss(): number;
  /** Everything workerd printed so far (the worker's console.log included). */
  output(): string;
  /** The first match of `pattern` in the output after offset `from`; rejects after `timeoutMs`, saying what it waited for. */
  waitForOutput(pattern: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Where Durable Object storage is kept, when `persist` was asked for. */
  persistDir: string | null;
  stop(): Promise<void>;
}

/**
 * @param opts.vars  wrangler var overrides (on top of wrangler.toml's [vars], as `--var NAME:VALUE` would be)
 * @param opts.persist  keep Durable Object storage in files in a temporary directory (removed by stop())
 * @param opts.src  run another copy of src/ (to try a fix against these tests; default: the repository's src/)
 */
export async function startRuntime(opts: { vars?: Record<string, string>; persist?: boolean; src?: string } = {}): Promise<Runtime> {
  const before = new Set(myWorkerds());
  const persistDir = opts.persist ? mkdtempSync(join(tmpdir(), "parley-attack-state-")) : null;
  const worker = await startMiniflareWorker({
    entry: join(opts.src ?? process.env.PARLEY_SRC ?? join(ROOT, "src"), "index.ts"),
    config: join(ROOT, "wrangler.toml"),
    vars: opts.vars ?? {},
    direct: true,
    ...(persistDir ? { persistTo: persistDir } : {}),
  });
  // This runtime's processes: the workerd children of this process that were not there before it started.
  const pids = myWorkerds().filter((pid) => !before.has(pid));
  if (pids.length === 0) throw new Error("started Miniflare but found no new workerd child of this process in /proc");
  const url = new URL(worker.http);
  return {
    wsUrl: `ws://${url.host}/ws`,
    httpUrl: worker.http,
    host: url.hostname,
    port: Number(url.port),
    rss: () => pids.reduce((sum, pid) => sum + vmRss(pid), 0),
    output: worker.output,
    waitForOutput: (pattern, { from = 0, timeoutMs = 30_000 } = {}) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = worker.output().slice(from).match(pattern);
          if (!match) return false;
          done();
          resolve(match[0]);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`the runtime never printed ${pattern} in ${timeoutMs} ms; it printed:\n${worker.output().slice(from).slice(-3000)}`));
        }, timeoutMs);
        const unsubscribe = worker.onOutput(() => void check());
        const done = () => {
          clearTimeout(timer);
          unsubscribe();
        };
        check();
      }),
    persistDir,
    stop: async () => {
      await worker.stop();
      if (persistDir) rmSync(persistDir, { recursive: true, force: true });
    },
  };
}

/** Files under `dir`, recursively, relative to it (for looking for SQLite files in the persist directory). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

const myWorkerds = () => workerdProcesses().filter((p) => Number(p.fields[1]) === process.pid).map((p) => p.pid);

/** Resident memory of process `pid` in bytes (VmRSS in /proc/PID/status); 0 once it has exited. */
export function vmRss(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0; // exited
  }
}

