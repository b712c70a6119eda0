// @ts-check
// What the load run reads about the machine while it runs: which code it measured, and the CPU used by wrangler
// dev's processes and everything else. (scripts/dev-server.mjs starts and stops wrangler dev.)

import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { ROOT } from "../scripts/dev-server.mjs";

const HOST = "127.0.0.1";

/** Which code a run measured: the commit, and whether the working tree differed from it. */
export function sourceVersion() {
  try {
    return execFileSync("git", ["describe", "--always", "--dirty"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

/**
 * wrangler dev runs two workerd processes: one listens on the public port and proxies every request (and every
 * WebSocket frame) to the other, which runs the worker and the Lobby.
 * @param {number} pid
 * @param {string} comm
 */
function label(pid, comm) {
  let cmd = "";
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return comm;
  }
  if (comm === "workerd") return cmd.includes("--inspector-addr") ? "workerd(worker+Lobby)" : "workerd(proxy)";
  if (cmd.includes("wrangler-dist/cli.js")) return "node(wrangler)";
  if (cmd.includes("wrangler/bin/wrangler.js")) return "node(wrangler launcher)";
  return comm;
}

/**
 * CPU time (ms) of a process and every descendant, by pid, read from /proc (Linux only; empty elsewhere), to see
 * which of wrangler (node), workerd and the driver is the bottleneck.
 * @param {number} root
 * @returns {Map<number, { name: string, cpuMs: number }>}
 */
export function processTreeCpu(root) {
  /** @type {Map<number, { ppid: number, name: string, cpuMs: number }>} */
  const all = new Map();
  let pids;
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return new Map();
  }
  for (const d of pids) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      // After the name: state(0) ppid(1) ... utime(11) stime(12), in clock ticks (100 per second on Linux).
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      all.set(Number(d), { ppid: Number(fields[1]), name: comm, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 });
    } catch {
      // exited while we looked
    }
  }
  /** @type {Map<number, { name: string, cpuMs: number }>} */
  const tree = new Map();
  const want = new Set([root]);
  // Parents usually have smaller pids, but not always: iterate until no new descendant is found.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of all) {
      if (!want.has(pid) && want.has(p.ppid)) {
        want.add(pid);
        grew = true;
      }
    }
  }
  for (const pid of want) {
    const p = all.get(pid);
    if (p) tree.set(pid, { name: label(pid, p.name), cpuMs: p.cpuMs });
  }
  return tree;
}

/**
 * For `--direct`: the loopback URL of the workerd that runs the worker itself, behind wrangler dev's proxy. wrangler
 * does not print it, so this finds the ports that process listens on (Linux /proc) and asks each for /health.
 * @param {number} root wrangler's pid
 * @returns {Promise<string | null>} http://127.0.0.1:PORT, or null when it cannot be found
 */
export async function findWorkerUrl(root) {
  const pids = [...processTreeCpu(root)].filter(([, p]) => p.name === "workerd(worker+Lobby)").map(([pid]) => pid);
  for (const pid of pids) {
    /** @type {Set<string>} */
    const inodes = new Set();
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      }
    } catch {
      continue;
    }
    // /proc/net/tcp: local_address is hex IP:port (127.0.0.1 = 0100007F), st 0A = LISTEN, inode is column 10.
    const ports = readFileSync(`/proc/${pid}/net/tcp`, "utf8")
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length > 9 && f[3] === "0A" && f[1].startsWith("0100007F:") && inodes.has(f[9]))
      .map((f) => parseInt(f[1].split(":")[1], 16));
    for (const port of ports) {
      try {
        const res = await fetch(`http://${HOST}:${port}/health`, { signal: AbortSignal.timeout(2000) });
        if (res.ok && (await res.text()).includes('"ok":true')) return `http://${HOST}:${port}`;
      } catch {
        // not the entry socket
      }
    }
  }
  return null;
}

/**
 * The whole machine's CPU time so far (ms of busy and of total, summed over cores), from /proc/stat, so a report
 * can say how much of the machine other work took during a run. Zeros where /proc is missing.
 */
export function machineCpu() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busyMs: (total - f[3] - f[4]) * 10, totalMs: total * 10 };
  } catch {
    return { busyMs: 0, totalMs: 0 };
  }
}
