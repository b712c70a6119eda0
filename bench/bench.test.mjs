// @ts-check
// The benchmark as a check, so that it keeps working: its verdict logic on made-up rows, and one tiny run end to
// end (both targets, with and without deflate, the compression decision and the probes), whose counts must hold what
// docs/PERFORMANCE.md claims and feed the cost model.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../scripts/dev-server.mjs";
import { pooled } from "./measure.mjs";
import { ratios } from "./verdict.mjs";
import { measureWake } from "./wake.mjs";

/**
 * One row per target, size and deflate setting, as measure() makes them; only the fields the verdict reads matter.
 * @param {string} target @param {number} size @param {boolean} deflate
 * @param {{ rate?: number, p99?: number, logins?: number, lost?: number, reordered?: number }} [o]
 * @returns {import("./measure.mjs").Row}
 */
const row = (target, size, deflate, o = {}) => ({
  target, size, deflate, negotiated: deflate ? "permessage-deflate" : "", together: true,
  logins: o.logins ?? 1000, runtimeUsPerLogin: 300, pairings: 1000, rxBytesPerUser: 300,
  rate: o.rate ?? 50_000, rates: [], p50: 1, p99: o.p99 ?? 10, lost: o.lost ?? 0, reordered: o.reordered ?? 0,
  rxBytesPerMsg: 60, runtimeUsPerMsg: 16, proxyUsPerMsg: 0, clientUsPerMsg: 13, messages: 100,
});

/**
 * Lobby and Relay rows at sizes 10 and 100, both deflate settings; `lobby(size, deflate)` gives the Lobby's figures.
 * @param {(size: number, deflate: boolean) => Parameters<typeof row>[3]} lobby
 */
function cells(lobby) {
  const rows = [];
  for (const size of [10, 100]) {
    for (const deflate of [false, true]) rows.push(row("Relay", size, deflate), row("Lobby", size, deflate, lobby(size, deflate)));
  }
  return rows;
}

describe("the bench's verdict", () => {
  it("judges the geometric mean over the sizes, and reports the worst cell beside it", () => {
    // One cell below every bar, the others above: the Lobby as a whole clears them.
    const r = ratios(cells((size, deflate) => (size === 100 && deflate ? { rate: 40_000, p99: 15, logins: 600 } : { rate: 55_000, p99: 9, logins: 900 })));
    expect(r.missed).toEqual([]);
    expect(r.worst).toMatchObject({ throughputDeflate: 0.8, p99: 1.5, logins: 0.6 });
    expect(r.summary.throughputDeflate).toBeCloseTo(Math.sqrt(1.1 * 0.8), 10);
  });

  it("fails each target its mean misses", () => {
    expect(ratios(cells((_, deflate) => (deflate ? { rate: 44_900 } : {}))).missed).toEqual(["throughput with deflate"]);
    expect(ratios(cells((_, deflate) => (deflate ? {} : { rate: 44_900 }))).missed).toEqual(["throughput without deflate"]);
    expect(ratios(cells(() => ({ p99: 12.6 }))).missed).toEqual(["p99"]);
    expect(ratios(cells(() => ({ logins: 699 }))).missed).toEqual(["logins/s"]);
  });

  it("fails on one lost or reordered message anywhere", () => {
    expect(ratios(cells((size) => (size === 10 ? { lost: 1 } : {}))).missed).toEqual(["lost"]);
    expect(ratios(cells((size, deflate) => (size === 100 && deflate ? { reordered: 1 } : {}))).missed).toEqual(["reordered"]);
  });
});

describe("pooled percentiles", () => {
  it("takes the quantile over every run's messages, not the median of the runs' own", () => {
    // Two quiet runs and one with a stall: per run p99s are 1, 1 and 50, but only 1 message in 300 waited.
    const quiet = () => ({ latencies: Float64Array.from({ length: 100 }, () => 1) });
    const stalled = { latencies: Float64Array.from({ length: 100 }, (_, i) => (i === 99 ? 50 : 1)) };
    expect(pooled([quiet(), quiet(), stalled], 0.99)).toBe(1);
    expect(pooled([quiet(), stalled], 0.995)).toBe(50);
  });
});

describe("npm run bench, end to end at 2 pairs", () => {
  it("relays everything in order, refuses deflate as wrangler.toml says, never wakes the Lobby for a heartbeat, and a chat writes 3 rows", async () => {
    const args = ["--sizes", "2", "--reps", "1", "--messages", "20", "--no-profile", "--wake-sizes", "none", "--json"];
    const { code, stdout, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, [join(ROOT, "bench/run.mjs"), ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, out, errOut) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout: out, stderr: errOut }),
      );
    });
    // 1 is a missed ratio, which one run at 2 pairs can miss by chance; 2 is a crash.
    expect(code, stderr).toBeLessThan(2);
    const report = JSON.parse(stdout);
    expect(report.flags).toContain("no_web_socket_compression");

    /** @type {import("./measure.mjs").Row[]} */
    const rows = report.rows;
    expect(rows.map((r) => `${r.target} ${r.deflate}`).sort()).toEqual(["Lobby false", "Lobby true", "Relay false", "Relay true"]);
    for (const r of rows) {
      expect(r.lost, `${r.target} lost`).toBe(0);
      expect(r.reordered, `${r.target} reordered`).toBe(0);
      expect(r.rate).toBeGreaterThan(0);
      expect(r.logins).toBeGreaterThan(0);
      // Offered by the client, refused by the runtime (wrangler.toml's no_web_socket_compression).
      expect(r.negotiated).toBe("");
    }
    // The compression decision: the same clients in a runtime without the flag get deflate.
    const { flagged, unflagged } = report.compression;
    expect([flagged.plain.negotiated, flagged.browser.negotiated, unflagged.plain.negotiated]).toEqual(["", "", ""]);
    expect(unflagged.browser.negotiated).toContain("permessage-deflate");
    expect(report.compression.refused).toBe(true);
    expect(report.compression.typicalBytes.deflated).toBeLessThan(report.compression.typicalBytes.plain);

    const { heartbeat, storage, rowsPerChat } = report.probes;
    expect(heartbeat).toMatchObject({ pings: 1000, pongs: 1000, otherReplies: 0, callsForPings: 0, callsForControl: 1 });
    for (const dialect of ["text", "json"]) {
      /** @param {string} op */
      const per = (op) => storage[dialect].find((/** @type {{ op: string }} */ s) => s.op === op);
      expect(per("chat line")).toMatchObject({ writeStatements: 0, rowsWritten: 0, alarms: 0, messages: per("chat line").count });
      expect(per("login")).toMatchObject({ writeStatements: 0, rowsWritten: 0 });
      expect(per("request (connect)").rowsWritten).toBe(per("request (connect)").count);
      expect(rowsPerChat[dialect], dialect).toBe(3);
    }

    // The cost model prices what this very run counted.
    const dir = mkdtempSync(join(tmpdir(), "parley-bench-test-"));
    try {
      writeFileSync(join(dir, "bench.json"), stdout);
      const cost = await new Promise((resolve, reject) => {
        execFile(process.execPath, [join(ROOT, "scripts/cost-model.mjs"), "--bench", join(dir, "bench.json")], (err, out) =>
          err ? reject(err) : resolve(out),
        );
      });
      expect(cost).toContain("counts measured by the bench");
      expect(cost).toContain("3 per chat from request to exit, 0 per login; 0 per line");
      expect(cost).toContain("per web user who leaves: 2 rows");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

describe("the wake bench, at 40 sockets", () => {
  it("finds each object evicted, and the Lobby relays the chat line that wakes it without rebuilding", async () => {
    const { rows, report } = await measureWake({ sizes: [40], samples: 1, log: () => {} });
    const [row] = rows;
    expect(row?.sockets).toBe(40);
    expect(row?.line).toHaveLength(1);
    expect(row?.echo).toHaveLength(1);
    expect(row?.list).toHaveLength(1);
    expect(row?.lineRebuilt).toBe(false);
    expect(report).toContain("Wake at 40 sockets");
  }, 240_000);
});
