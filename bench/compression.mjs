// @ts-check
// The compression decision (issue 13 §1): a browser-like client (it offers permessage-deflate, as every browser
// does) against a plain one, on the Lobby, in a runtime with and in one without `no_web_socket_compression`. Only
// measured where the worker meets the client (Miniflare's direct socket, as on Cloudflare's edge): through
// `wrangler dev` or Miniflare's usual entry, their proxy negotiates compression with the client itself.

import { deflateRawSync, constants } from "node:zlib";
import { fmt, table, times } from "../scripts/lib/figures.mjs";
import { measure } from "./measure.mjs";
import { lobbyTarget } from "./targets.mjs";

/** The compatibility flag that makes the runtime refuse permessage-deflate. */
export const NO_COMPRESSION = "no_web_socket_compression";

/** What a browser-like client must relay at, as a share of a plain client's rate, with the flag set. */
export const COMPRESSION_TARGET = 0.9;

/**
 * Chat lines as people type them (and as the web client sends them, in the JSON dialect), for the bytes a line
 * takes on the wire with and without deflate; the timed runs' lines repeat one filler, deflate's best case.
 */
const TYPICAL = [
  "hi!", "hey, how are you?", "good thanks, you?", "not bad. busy week", "same here, the release is on friday",
  "oh nice, what are you shipping?", "the new search page, finally", "ha, I remember the mockups from march",
  "yeah it took a while", "lunch tomorrow?", "sure, 12:30 at the usual place?", "perfect", "did you see the game last night",
  "no, who won?", "3-1, late goal", "wow", "ok I have to run, talk later", "bye 👋", "one more thing: can you send me the link?",
  "https://example.com/docs/search-v2", "thanks!", "np", "lol", "brb", "back", "where were we", "the deploy", "right, it's green now",
];

/**
 * The bytes of a WebSocket frame, server to client (unmasked): header and payload.
 * @param {number} payload
 */
const frameBytes = (payload) => payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);

/**
 * What the typical lines take on the wire from server to client: as they are, and through one permessage-deflate
 * stream with context takeover and a 15-bit window (what workerd negotiates), each message flushed and its 4-byte
 * tail dropped as RFC 7692 says.
 * @param {"text" | "json"} dialect
 */
export function typicalLineBytes(dialect) {
  const frames = TYPICAL.map((text) => (dialect === "json" ? JSON.stringify({ type: "message", from: "alice", text }) : `alice: ${text}`));
  let plain = 0;
  let deflated = 0;
  let history = Buffer.alloc(0);
  for (const f of frames) {
    const bytes = Buffer.from(f);
    plain += frameBytes(bytes.length);
    // Context takeover: each message is compressed with the stream so far as its dictionary (up to the window).
    const dictionary = history.subarray(Math.max(0, history.length - (1 << 15)));
    const out = deflateRawSync(bytes, { windowBits: 15, dictionary, finishFlush: constants.Z_SYNC_FLUSH });
    deflated += frameBytes(Math.max(1, out.length - 4));
    history = Buffer.concat([history, bytes]);
  }
  return { lines: frames.length, plain: plain / frames.length, deflated: deflated / frames.length };
}

/**
 * The two clients on one runtime, interleaved as the timed runs are.
 * @param {import("../scripts/dev-server.mjs").DevServer} dev
 * @param {import("./measure.mjs").Settings} s
 * @param {number} size  pairs
 * @param {(line: string) => void} log
 */
export async function compressionRuns(dev, s, size, log) {
  const plain = { ...lobbyTarget(s.dialect), label: "plain client", offersDeflate: false };
  const browser = { ...lobbyTarget(s.dialect), label: "browser-like client", offersDeflate: true };
  // The same number of lines for both, so that neither p99 comes from shorter runs.
  const same = { ...s, messages: (/** @type {number} */ n) => s.messages(n, true) };
  const [a, b] = await measure(dev, same, [plain, browser], size, false, log);
  return { plain: /** @type {import("./measure.mjs").Row} */ (a), browser: /** @type {import("./measure.mjs").Row} */ (b) };
}

/** @typedef {Awaited<ReturnType<typeof compressionRuns>>} CompressionRuns */

/**
 * @param {{ flagged: CompressionRuns, unflagged: CompressionRuns, deployed: boolean, size: number, dialect: "text" | "json", reps: number }} r
 *   `deployed`: wrangler.toml sets the flag
 */
export function compressionReport({ flagged, unflagged, deployed, size, dialect, reps }) {
  const ratio = (/** @type {CompressionRuns} */ c) => c.browser.rate / c.plain.rate;
  const met = ratio(flagged) >= COMPRESSION_TARGET;
  // With the flag, a client that offers deflate must not get it: then its frames are a plain client's, byte for byte.
  const refused = !flagged.browser.negotiated && !flagged.plain.negotiated;
  const bytes = typicalLineBytes(dialect);
  const other = typicalLineBytes(dialect === "json" ? "text" : "json");
  const row = (/** @type {string} */ runtime, /** @type {import("./measure.mjs").Row} */ r) => [
    runtime,
    r.target,
    r.negotiated ? "deflate" : "none",
    fmt(r.rate),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.runtimeUsPerMsg.toFixed(1),
    r.clientUsPerMsg.toFixed(1),
    r.rxBytesPerMsg.toFixed(1),
  ];
  const lines = [
    `Compression (issue 13 §1): the Lobby, ${size} pairs, ${dialect} dialect, ${flagged.plain.messages} lines per requester per run, medians of ${reps} runs;`,
    `a browser-like client offers permessage-deflate, a plain one does not. wrangler.toml ${deployed ? "sets" : "does not set"} ${NO_COMPRESSION}.`,
    table(
      ["runtime", "client", "negotiated", "msgs/s", "p50 ms", "p99 ms", "runtime µs/line", "client µs/line", "rx B/line"],
      [
        row(`with ${NO_COMPRESSION}`, flagged.plain),
        row(`with ${NO_COMPRESSION}`, flagged.browser),
        row("without it", unflagged.plain),
        row("without it", unflagged.browser),
      ],
      2,
    ),
    `browser-like/plain: msgs/s ${times(ratio(flagged))} with the flag, ${times(ratio(unflagged))} without; ` +
      `p99 ${times(flagged.browser.p99 / flagged.plain.p99)} with, ${times(unflagged.browser.p99 / unflagged.plain.p99)} without; ` +
      `runtime CPU ${times(flagged.browser.runtimeUsPerMsg / flagged.plain.runtimeUsPerMsg)} with, ` +
      `${times(unflagged.browser.runtimeUsPerMsg / unflagged.plain.runtimeUsPerMsg)} without`,
    `typical chat lines (${bytes.lines} of them, as frames to the partner; the runs above repeat one filler, deflate's best case): ` +
      `${dialect} ${bytes.plain.toFixed(1)} B a frame as they are, ${bytes.deflated.toFixed(1)} B deflated (${times(bytes.deflated / bytes.plain)}); ` +
      `${dialect === "json" ? "text" : "json"} ${other.plain.toFixed(1)} B, ${other.deflated.toFixed(1)} B (${times(other.deflated / other.plain)})`,
    `target: a browser-like client relays at ≥ ${COMPRESSION_TARGET}× a plain one's rate with the flag: ${met ? "met" : "missed"}` +
      (refused ? " (deflate refused: the two clients send the same frames, so a miss is the machine's noise)" : "; DEFLATE WAS NEGOTIATED despite the flag"),
  ];
  return { met, refused, ratioFlagged: ratio(flagged), ratioUnflagged: ratio(unflagged), typicalBytes: bytes, report: lines.join("\n") };
}
