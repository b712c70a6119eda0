// @ts-check
// Starts `wrangler dev` on free loopback ports for the end-to-end tests, the load test and the benchmark, and
// stops it, with every workerd process it spawned, at the end, on an error, or when the caller exits.

import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QUIET_ENV } from "./dev.mjs";

export const ROOT = resolve(import.meta.dirname, "..");
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const HOST = "127.0.0.1";

/** @returns {Promise<number>} a port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => res(port));
    });
  });
}

/**
 * A copy of what the worker is built from. wrangler dev restarts the worker when a source file changes, dropping
 * every socket (each client sees 1006); a run on a copy is immune to edits made while it runs.
 * @param {string} into
 */
export function snapshot(into) {
  for (const entry of ["src", "public", "wrangler.toml", "tsconfig.json", "package.json"]) {
    const from = join(ROOT, entry);
    if (existsSync(from)) cpSync(from, join(into, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(into, "node_modules"), "dir");
}

/**
 * @typedef {object} DevServer
 * @property {string} url  http://127.0.0.1:PORT
 * @property {string} wsUrl  ws://127.0.0.1:PORT/ws
 * @property {number} port
 * @property {number} inspectorPort
 * @property {number} pid  wrangler's pid, which is also the process group of every workerd it runs
 * @property {() => string} output  everything wrangler dev printed so far, the worker's console included
 * @property {(pattern: RegExp, opts?: { from?: number, timeoutMs?: number }) => Promise<string>} waitForOutput
 *   resolves with the first match of `pattern` in the output after offset `from`
 * @property {() => Promise<void>} stop
 */

/**
 * @param {object} [opts]
 * @param {Record<string, string>} [opts.vars]  `--var NAME:VALUE`, as a user overrides a limit locally
 * @param {string} [opts.dir]  the code to run: a directory laid out like the repository (default: a fresh snapshot)
 * @param {string} [opts.config]  the wrangler config, relative to `dir`
 * @param {string[]} [opts.flags]  extra `--compatibility-flags`
 * @param {string} [opts.logLevel]  wrangler's --log-level; "log" keeps the worker's console output
 * @param {number} [opts.timeoutMs]  how long to wait for GET /health
 * @returns {Promise<DevServer>}
 */
export async function startDevServer({ vars = {}, dir, config = "wrangler.toml", flags = [], logLevel = "log", timeoutMs = 90_000 } = {}) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const tmp = mkdtempSync(join(tmpdir(), "parley-dev-"));
  const code = dir ?? join(tmp, "code");
  if (!dir) snapshot(code);
  const args = [
    WRANGLER, "dev",
    "-c", join(code, config),
    "--ip", HOST,
    "--port", String(port),
    "--inspector-ip", HOST,
    "--inspector-port", String(inspectorPort),
    // Storage outside the code, so that nothing workerd writes is near what wrangler watches.
    "--persist-to", join(tmp, "state"),
    "--show-interactive-dev-session=false",
    "--log-level", logLevel,
    // Tests and tools each open a fresh lobby (?lobby=NAME), which a real deployment does not allow by default.
    ...Object.entries({ LOBBY_NAMES: "*", ...vars }).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ...flags.flatMap((f) => ["--compatibility-flags", f]),
  ];
  // Its own process group, so that stopping it also stops the workerd processes it spawned.
  const child = spawn(process.execPath, args, {
    cwd: code,
    detached: true,
    env: { ...process.env, ...QUIET_ENV, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = /** @type {number} */ (child.pid);
  let output = "";
  let changed = () => {};
  /** @param {Buffer} d */
  const append = (d) => {
    output += d;
    changed();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  let exited = false;
  const exit = new Promise((res) => child.once("exit", () => res((exited = true))));
  // Last resort when the caller dies without stopping us.
  const onExit = () => {
    killGroup(pid, "SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  /** @type {Promise<void> | null} */
  let stopping = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (!exited) {
        killGroup(pid, "SIGTERM");
        const timer = setTimeout(() => killGroup(pid, "SIGKILL"), 5000);
        await exit;
        clearTimeout(timer);
      }
      // workerd may outlive wrangler by a moment; anything left in the group goes now.
      killGroup(pid, "SIGKILL");
      process.off("exit", onExit);
      rmSync(tmp, { recursive: true, force: true });
    })());

  /** @type {DevServer["waitForOutput"]} */
  const waitForOutput = async (pattern, { from = 0, timeoutMs: wait = 30_000 } = {}) => {
    const deadline = Date.now() + wait;
    for (;;) {
      const match = output.slice(from).match(pattern);
      if (match) return match[0];
      if (Date.now() > deadline) throw new Error(`wrangler dev never printed ${pattern} in ${wait} ms:\n${output.slice(from)}`);
      await new Promise((done) => {
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()) + 1);
        changed = () => {
          clearTimeout(timer);
          done(undefined);
        };
      });
    }
  };

  const url = `http://${HOST}:${port}`;
  const started = Date.now();
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before answering /health:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) {
      await stop();
      throw new Error(`wrangler dev did not answer /health within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, wsUrl: `ws://${HOST}:${port}/ws`, port, inspectorPort, pid, output: () => output, waitForOutput, stop };
}

/**
 * @param {number} pgid
 * @param {NodeJS.Signals} signal
 */
function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}
