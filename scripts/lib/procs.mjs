// @ts-check
// What /proc says about processes (Linux only; nothing elsewhere): which ones a dev server runs, their CPU time and
// resident memory, and the whole machine's CPU time, so that the tools can say where the CPU of a run went.

import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second in /proc/PID/stat; 100 on every Linux we run on. */
const TICK_MS = 10;

/**
 * @typedef {object} Proc
 * @property {number} pid
 * @property {number} ppid
 * @property {number} pgrp  its process group
 * @property {string} name  the command name (`workerd`, `node`, …)
 * @property {number} cpuMs  user and system CPU time used so far
 */

/**
 * Every process `pick` accepts.
 * @param {(p: Proc) => boolean} pick
 * @returns {Proc[]}
 */
export function processes(pick) {
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  /** @type {Proc[]} */
  const found = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (name) state ppid pgrp … utime stime …": the name may hold spaces, so split after its closing paren.
      const close = stat.lastIndexOf(")");
      const f = stat.slice(close + 2).split(" ");
      const p = {
        pid: Number(entry),
        ppid: Number(f[1]),
        pgrp: Number(f[2]),
        name: stat.slice(stat.indexOf("(") + 1, close),
        cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS,
      };
      if (pick(p)) found.push(p);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/**
 * A process's arguments, space-separated; "" once it has exited.
 * @param {number} pid
 */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/**
 * Resident memory of a process in bytes (VmRSS); 0 once it has exited.
 * @param {number} pid
 */
export function rssBytes(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The whole machine's CPU time so far, busy and in all, summed over the cores (ms); zeros without /proc. */
export function machineCpu() {
  try {
    const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busyMs: (total - (f[3] ?? 0) - (f[4] ?? 0)) * TICK_MS, totalMs: total * TICK_MS };
  } catch {
    return { busyMs: 0, totalMs: 0 };
  }
}
