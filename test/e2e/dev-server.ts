// Starts `wrangler dev` on a free loopback port for end-to-end tests, and stops it afterwards.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

export interface DevServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT/ws */
  wsUrl: string;
  /** Everything wrangler dev printed so far, including the worker's console output. */
  output(): string;
  /** Resolves once the output matches `pattern` after `from` (an offset from output().length). */
  waitForOutput(pattern: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/** `vars` become `--var NAME:VALUE`, as a user would override a limit locally. */
export async function startDevServer(vars: Record<string, string> = {}, timeoutMs = 60_000): Promise<DevServer> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const persist = mkdtempSync(join(tmpdir(), "parley-dev-"));
  const args = [
    "dev",
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--persist-to", persist,
    "--show-interactive-dev-session=false",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const child = spawn(join(ROOT, "node_modules/.bin/wrangler"), args, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let changed = () => {};
  const append = (d: Buffer) => {
    output += d;
    changed();
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child).then(() => rmSync(persist, { recursive: true, force: true }));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/health`);
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
  const waitForOutput = async (pattern: RegExp, { from = 0, timeoutMs = 30_000 } = {}) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = output.slice(from).match(pattern);
      if (match) return match[0];
      if (Date.now() > deadline) throw new Error(`wrangler dev never printed ${pattern} in ${timeoutMs} ms:\n${output.slice(from)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()) + 1);
        changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return { url, wsUrl: `ws://127.0.0.1:${port}/ws`, output: () => output, waitForOutput, stop };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(kill);
      res();
    });
    child.kill("SIGTERM");
  });
}
