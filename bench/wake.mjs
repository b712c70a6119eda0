// @ts-check
// How fast a big Lobby wakes: the first frame's latency after hibernation, with 1,000 to 30,000 idle sockets
// logged in, against an echo object that keeps nothing per socket (the runtime's own floor), and the memory each
// idle socket holds. Part of `npm run bench` (--wake-sizes); alone: `node bench/wake.mjs [--sizes 1000,10000]`.
//
// The clients are in the runtime, in a Holder object (bench/wake/worker.ts): this machine allows a process 20,000
// descriptors, and a socket from Node costs one on each side. RSS therefore counts both ends of every socket.
// A sample counts only when the constructor's log line shows that the frame found the object evicted; an object
// is evicted ~10 s after its last event, and the Lobby's last event after a line is the heartbeat hand-over
// alarm 3 s later (keepalive.ts), so each sample waits ~14 s: the default run takes about six minutes.

import { join } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { LIFTED_LIMITS, ROOT, startDevServer } from "../scripts/dev-server.mjs";
import { median, table } from "../scripts/lib/figures.mjs";

/**
 * @typedef {object} WakeRow
 * @property {number} sockets
 * @property {number} fillSecs  to open and log in every Lobby socket
 * @property {number[]} echo  ms, the first echo after a wake (the runtime's floor)
 * @property {number[]} line  ms, a chat line after a wake, until the partner has it
 * @property {number[]} list  ms, `list` after a wake (the whole lobby rebuilt first)
 * @property {number[]} warm  ms, a chat line while the Lobby is awake
 * @property {boolean} lineRebuilt  whether any line wake rebuilt the whole lobby (it should not)
 * @property {number} echoKbPerSocket  runtime RSS per idle socket, both ends, echo object
 * @property {number} lobbyKbPerSocket  the same with the Lobby, logged in
 */

/** @param {number[]} xs */
const span = (xs) => (xs.length ? `${median(xs)} [${Math.min(...xs)}–${Math.max(...xs)}]` : "–");

/**
 * @param {{ sizes?: number[], samples?: number, log?: (line: string) => void, src?: string }} [opts]
 * @returns {Promise<{ rows: WakeRow[], report: string, met: boolean }>}
 */
export async function measureWake({ sizes = [1000, 10_000, 30_000], samples = 3, log = console.error, src } = {}) {
  // The flags the real worker deploys with (compression, for one), as wrangler reads them.
  const flags = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml")).workerOptions.compatibilityFlags ?? [];
  /** @type {WakeRow[]} */
  const rows = [];
  for (const n of sizes) {
    /** @type {WakeRow} */
    const row = { sockets: n, fillSecs: 0, echo: [], line: [], list: [], warm: [], lineRebuilt: false, echoKbPerSocket: 0, lobbyKbPerSocket: 0 };
    // One runtime per object: every client socket is a JS object in the same isolate as the objects it talks to,
    // and 60,000 of them at once outgrow it (workerd then resets the isolate, Holder and all).
    for (const kind of /** @type {const} */ (["echo", "lobby"])) {
      const dev = await startDevServer({
        runtime: "miniflare",
        config: "bench/wake/wrangler.toml",
        src,
        flags,
        // A lobby with a chat sweeps for silent sockets every HEARTBEAT_TIMEOUT_MS / 3 (15 s), and a sweep reads
        // every socket: a wake of its own, which would leave the bench few idle windows. Measured apart (`list`).
        vars: { ...LIFTED_LIMITS, MAX_SOCKETS_PER_LOBBY: String(n + 100), HEARTBEAT_TIMEOUT_MS: "3600000" },
        logLevel: "warn",
      });
      try {
        /** @param {string} path */
        const call = async (path, query = "") => {
          const res = await fetch(`${dev.url}${path}?kind=${kind}&name=n${n}${query}`, { method: "POST" });
          const body = await res.text();
          if (!res.ok) throw new Error(`${path} (${kind}): ${res.status} ${body}`);
          return /** @type {{ ms: number }} */ (JSON.parse(body));
        };
        const who = kind === "echo" ? "Echo" : "Lobby";
        /**
         * The probe's ms, once it found the object evicted: retried after a longer wait when it did not.
         * @param {string} path @param {string} [query]
         */
        const afterWake = async (path, query) => {
          for (let wait = kind === "echo" ? 11_000 : 14_000; wait < 40_000; wait += 4_000) {
            await new Promise((r) => setTimeout(r, wait));
            const from = dev.output().length;
            const { ms } = await call(path, query);
            const woke = await dev.waitForOutput(new RegExp(`${who} woke`), { from, timeoutMs: 2_000 }).then(
              () => true,
              () => false,
            );
            if (woke) return { ms, rebuilt: /Lobby rebuilt/.test(dev.output().slice(from)) };
            log(`wake ${n}: ${who} ${path} after ${wait / 1000} s idle found it awake; waiting longer`);
          }
          throw new Error(`the ${who} with ${n} sockets never hibernated`);
        };

        const rss0 = dev.rss();
        const fill = await call("/fill", `&n=${n}&pairs=${samples}`);
        const kb = (dev.rss() - rss0) / 1024 / n;
        log(`wake ${n}: ${who} filled in ${(fill.ms / 1000).toFixed(1)} s, ${kb.toFixed(0)} KB a socket`);
        if (kind === "echo") row.echoKbPerSocket = kb;
        else [row.lobbyKbPerSocket, row.fillSecs] = [kb, fill.ms / 1000];
        for (let s = 0; s < samples; s++) {
          if (kind === "echo") {
            row.echo.push((await afterWake("/line", `&pair=${s}`)).ms);
            log(`wake ${n}: echo sample ${s + 1}/${samples}: ${row.echo.at(-1)} ms`);
            continue;
          }
          const line = await afterWake("/line", `&pair=${s}`);
          row.line.push(line.ms);
          row.lineRebuilt ||= line.rebuilt;
          for (let w = 0; w < 5; w++) row.warm.push((await call("/line", `&pair=${s}`)).ms);
          if (s < 2) row.list.push((await afterWake("/list")).ms);
          log(`wake ${n}: Lobby sample ${s + 1}/${samples}: line ${line.ms} ms, list ${row.list.at(-1) ?? "–"} ms`);
        }
      } catch (err) {
        console.error(dev.output().slice(-3000));
        throw err;
      } finally {
        await dev.stop();
      }
    }
    rows.push(row);
  }
  const big = rows.at(-1);
  const met = rows.every((r) => median(r.line) <= 100 && !r.lineRebuilt);
  const report =
    "Wake from hibernation (Miniflare directly; clients in-process, see bench/wake.mjs): ms, median [min–max]\n" +
    table(
      ["sockets", "echo first frame", "Lobby chat line", "Lobby `list` (rebuild)", "Lobby warm line", "line rebuilt?", "KB/socket echo", "KB/socket Lobby", "fill s"],
      rows.map((r) => [
        r.sockets, span(r.echo), span(r.line), span(r.list), span(r.warm), r.lineRebuilt ? "yes" : "no",
        r.echoKbPerSocket.toFixed(0), r.lobbyKbPerSocket.toFixed(0), r.fillSecs.toFixed(1),
      ]),
      2,
    ) +
    `\nWake at ${big?.sockets ?? "–"} sockets: a chat line ${big ? median(big.line) : "–"} ms after the wake (target ≤ 100 ms, no rebuild)` +
    ` — ${met ? "met" : "MISSED"}`;
  return { rows, report, met };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { readArgs, list, whole, text } = await import("../scripts/lib/args.mjs");
  const o = readArgs("node bench/wake.mjs [options]", {
    sizes: { arg: "N,M", help: "idle sockets in the lobby", default: "1000,10000,30000", read: list(whole()) },
    samples: { arg: "S", help: "wakes per size", default: "3", read: whole() },
    src: { arg: "DIR", help: "run another copy of src/ (to A/B a change)", read: text },
  });
  const { report, met } = await measureWake({ sizes: o.sizes, samples: o.samples, src: o.src });
  console.log(report);
  process.exitCode = met ? 0 : 1;
}
