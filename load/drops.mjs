// @ts-check
// `npm run load -- --drops`: pairs of JSON users chat while the driver drops their sockets at random moments (either
// side, right after both sides typed a few lines, so that some are in flight both ways: a TCP destroy without a
// close frame, as a network change or a closed lid
// does it). A dropped user opens a new socket and resumes with its credential; its client resends what its partner
// did not confirm, as PROTOCOL.md's "Resuming" says, through the clients' own Conversation
// (public/wire/conversation.js). Each chat is then drained and one side exits; checkDrops (check.mjs) reads every
// user's transcript for lines lost, duplicated or reordered and for away, back and left notices that never came.
//
// One side of a chat is away at a time: the dropped side comes back once its partner has been told it went, and
// the next drop waits until the partner has been told it is back, so each drop is one the server saw (not a
// reload the new socket takes over) and each must give one partner_away, one partner_back and one resumed. Both
// sides away at once (a restart) is test/e2e/restart.test.ts.

import { Conversation } from "../public/wire/conversation.js";
import { Client, barrier, limiter, pairUp } from "../scripts/lib/client.mjs";
import { Problems, checkDrops, tag, untag } from "./check.mjs";

/** @typedef {import("../scripts/lib/client.mjs").Ev} Ev */
/** @typedef {import("./check.mjs").Shown} Shown */
/** @typedef {import("./check.mjs").UserRecord} UserRecord */
/** @typedef {import("./check.mjs").DropSession} DropSession */

/**
 * @typedef {object} DropsOptions
 * @property {string} wsUrl
 * @property {number} pairs
 * @property {number} seconds  length of the chat phase
 * @property {number} rate  lines per second per user in a chat
 * @property {number} window  at most this many of a user's lines not yet shown by the partner
 * @property {[number, number]} chatSeconds
 * @property {number} dropShare  per chat and side, the chance that its socket is dropped once
 * @property {number} concurrency  sockets opened and logged in at once
 * @property {() => number} rng
 * @property {(line: string) => void} progress
 */

const TIMEOUT = { open: 30_000, login: 30_000, connect: 30_000, notice: 30_000, resume: 30_000, drain: 30_000, quit: 10_000, ramp: 180_000, grace: 90_000 };

const now = () => performance.now();
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `done` (it reads state the sockets' events update) until it holds.
 * @param {() => boolean} done
 * @param {number} timeoutMs
 * @param {string} what
 */
async function until(done, timeoutMs, what) {
  const deadline = now() + timeoutMs;
  while (!done()) {
    if (now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Everything a run records and counts. */
class Run {
  /** @type {UserRecord[]} */ records = [];
  /** @type {DropSession[]} */ sessions = [];
  /** @type {Set<User>} */ users = new Set();
  problems = new Problems();
  /** @type {number[]} */ latencies = [];
  /** @type {number[]} */ resumeMs = [];
  /** @type {number[]} */ loginMs = [];
  /** Chat line frames received, duplicates included, and sent on a live socket, resends included. */
  rawLines = 0;
  sayFrames = 0;
  notDelivered = 0;
  windowStalls = 0;
  stopping = false;
  phaseEnd = Infinity;
}

/** One person: a JSON socket at a time, its resume credential, and its client's Conversation. */
class User {
  /** @type {Client | null} */ client = null;
  /** @type {string | null} */ token = null;
  /** Logged in on a live socket: lines go out at once; otherwise they wait in the Conversation. */
  online = false;
  /** partner_away and partner_back notices heard, to know the server saw a drop, and the partner saw the resume. */
  awaysHeard = 0;
  backsHeard = 0;
  /** @type {DropSession | null} */ session = null;
  /** @type {0 | 1} */ side = 0;

  /**
   * @param {string} name
   * @param {string} wsUrl
   * @param {Run} run
   */
  constructor(name, wsUrl, run) {
    this.name = name;
    this.wsUrl = wsUrl;
    this.run = run;
    /** @type {UserRecord} */
    this.record = { id: run.records.length, name, shown: [], sessions: [] };
    run.records.push(this.record);
    run.users.add(this);
    this.conversation = new Conversation((action) => {
      if (action.type === "say" && this.client && !this.client.dead) run.sayFrames++;
      this.client?.send(action);
    });
  }

  /** @param {Shown} ev */
  show(ev) {
    this.record.shown.push({ t: now(), ev });
  }

  /** A new socket, up to the username prompt. */
  async open() {
    if (this.run.stopping) throw new Error(`${this.name}: not opened, the run was aborted`);
    const c = await Client.open(this.wsUrl, this.name, { dialect: "json", timeoutMs: TIMEOUT.open, onEvent: (_c, ev, t) => this.heard(ev, t) });
    this.client = c;
    await c.next((e) => e.type === "ask_name", "username prompt", TIMEOUT.login);
    return c;
  }

  async login() {
    const started = now();
    const c = await this.open();
    const ev = await c.login(TIMEOUT.login);
    if (ev.type !== "welcome") throw new Error(`${this.name}: login refused (${ev.type})`);
    if (!this.token) throw new Error(`${this.name}: welcome without a resume credential (is RESUME_GRACE_MS 0?)`);
    this.online = true;
    this.run.loginMs.push(now() - started);
  }

  /**
   * Every event of every socket of this user, as its client would take it.
   * @param {Ev} ev
   * @param {number} t
   */
  heard(ev, t) {
    switch (ev.type) {
      case "welcome":
        this.token = ev.resume?.token ?? null;
        break;
      case "connected":
        this.conversation.start(ev.with);
        this.show(ev);
        break;
      case "message":
        this.run.rawLines++;
        for (const m of this.conversation.received(ev)) this.shownLine(m, t);
        break;
      case "seen":
        this.conversation.partnerSaw(ev.seq);
        break;
      case "partner_away":
        this.awaysHeard++;
        this.show(ev);
        break;
      case "partner_back":
        this.backsHeard++;
        this.show(ev);
        this.conversation.partnerBack(ev.seen);
        break;
      case "resumed":
        this.token = ev.resume.token;
        this.show(ev);
        for (const m of ev.missed) this.heard(m, t);
        if (ev.partner !== null && ev.partner === this.conversation.partner) this.conversation.resumed();
        break;
      case "partner_left":
      case "you_left":
        this.show(ev);
        this.chatEnded();
        break;
      case "error":
        // A line sent while the partner was away: the Conversation sends it again at partner_back.
        if (ev.code === "not_delivered") this.run.notDelivered++;
        else this.show(ev);
        break;
      case "resume_failed":
      case "other":
        this.show(ev);
        break;
      default:
        break;
    }
  }

  /**
   * A partner's line the Conversation released: shown, timed, and counted for the sender's window.
   * @param {{ from: string, text: string }} m
   * @param {number} t
   */
  shownLine(m, t) {
    this.show({ type: "message", from: m.from, text: m.text });
    const id = untag(m.text);
    const s = id ? this.run.sessions[id.session] : undefined;
    if (!id || !s) return;
    const d = s.clients[0] === this.record ? 1 : 0;
    const sentAt = s.sentAt[d][id.seq];
    if (sentAt !== undefined) this.run.latencies.push(t - sentAt);
    s.shownCount[d]++;
  }

  /** As a client says it at the end of a chat: its lines never confirmed, and the partner's held for a gap. */
  chatEnded() {
    const { undelivered, stranded } = this.conversation.end();
    for (const m of stranded) this.show({ type: "message", from: "?", text: m.text });
    for (const line of undelivered) this.show({ type: "undelivered", text: line.text });
  }

  /**
   * Drop this user's socket without a close frame, wait until its partner has been told, and resume on a new one.
   * @param {User} partner
   */
  async dropAndResume(partner) {
    const s = /** @type {DropSession} */ (this.session);
    const client = /** @type {Client} */ (this.client);
    const [told, welcomed] = [partner.awaysHeard, partner.backsHeard];
    const at = now();
    this.show({ type: "dropped" });
    s.drops[this.side]++;
    this.online = false;
    client.crash();
    await until(() => partner.awaysHeard > told, TIMEOUT.notice, `partner_away for ${this.name} at ${partner.name}`).catch((err) =>
      this.run.problems.add("away_wait_timeout", err.message),
    );
    const c = await this.open();
    c.send({ type: "resume", token: /** @type {string} */ (this.token), seen: this.conversation.seen });
    const { ev } = await c.next((e) => e.type === "resumed" || e.type === "resume_failed", "resumed", TIMEOUT.resume);
    if (ev.type !== "resumed") throw new Error(`${this.name}: resume failed`);
    this.online = true;
    this.run.resumeMs.push(now() - at);
    // Not over until the partner has heard it: a partner_back still on its way dies with the partner's socket if
    // that drops next, and a notice sent to a socket that then drops is not kept for the resume (only what is
    // said while a user is away is). One drop at a time means one whose notices can all arrive.
    await until(() => partner.backsHeard > welcomed, TIMEOUT.notice, `partner_back for ${this.name} at ${partner.name}`).catch((err) =>
      this.run.problems.add("back_wait_timeout", err.message),
    );
  }

  destroy() {
    this.client?.destroy();
    this.run.users.delete(this);
  }
}

/**
 * @param {DropsOptions} o
 * @param {Run} run
 * @param {DropSession} s
 * @param {User} u
 * @param {0 | 1} side
 */
async function sendLoop(o, run, s, u, side) {
  const gap = 1000 / o.rate;
  for (;;) {
    await sleep(gap * (0.5 + o.rng()));
    if (s.stop[side] || run.stopping) return;
    if (s.sentAt[side].length - s.shownCount[side] >= o.window) {
      run.windowStalls++;
      continue;
    }
    typeLine(s, u, side);
  }
}

/**
 * Side `side` types its next line: sent at once while online, else kept by the Conversation for the resume.
 * @param {DropSession} s
 * @param {User} u
 * @param {0 | 1} side
 */
function typeLine(s, u, side) {
  const seq = s.sentAt[side].length;
  s.sentAt[side].push(now());
  u.conversation.say(tag(s.id, seq), u.online);
}

/** Lines each side types right before a drop, so that some are in flight both ways when the socket goes. */
const BURST = 3;

/**
 * One chat: paired, lines both ways with drops at random moments, drained, confirmed, and one side exits.
 * @param {DropsOptions} o
 * @param {Run} run
 * @param {[User, User]} pair
 * @param {number} cycle  requesters alternate
 */
async function chatOnce(o, run, pair, cycle) {
  const users = /** @type {[User, User]} */ ([pair[cycle % 2], pair[1 - (cycle % 2)]]);
  /** @type {DropSession} */
  const s = {
    id: run.sessions.length,
    clients: [users[0].record, users[1].record],
    sentAt: [[], []],
    shownCount: [0, 0],
    stop: [false, false],
    drops: [0, 0],
    connected: false,
    end: null,
    aborted: null,
  };
  run.sessions.push(s);
  users.forEach((u, side) => {
    u.record.sessions.push(s.id);
    u.session = s;
    u.side = /** @type {0 | 1} */ (side);
  });
  const loops = [];
  try {
    await pairUp(/** @type {Client} */ (users[0].client), /** @type {Client} */ (users[1].client), TIMEOUT.connect);
    s.connected = true;
    loops.push(sendLoop(o, run, s, users[0], 0), sendLoop(o, run, s, users[1], 1));
    const start = now();
    const lasts = (o.chatSeconds[0] + (o.chatSeconds[1] - o.chatSeconds[0]) * o.rng()) * 1000;
    const endAt = Math.min(start + lasts, run.phaseEnd);
    const plan = /** @type {(0 | 1)[]} */ ([0, 1])
      .filter(() => o.rng() < o.dropShare)
      .map((side) => ({ side, at: start + lasts * o.rng() }))
      .sort((a, b) => a.at - b.at);
    for (const { side, at } of plan) {
      if (at >= endAt) break;
      await sleep(at - now());
      if (run.stopping) throw new Error("aborted");
      for (let i = 0; i < BURST; i++) users.forEach((u, d) => typeLine(s, u, /** @type {0 | 1} */ (d)));
      await users[side].dropAndResume(users[1 - side]);
    }
    await sleep(endAt - now());
    if (run.stopping) throw new Error("aborted");
    // The end: both stop typing, every line is shown on the other side, each side confirms what it has (so that
    // neither client is left holding lines it cannot know arrived), and one side exits.
    s.stop = [true, true];
    await Promise.all(loops);
    const drained = () => s.shownCount[0] >= s.sentAt[0].length && s.shownCount[1] >= s.sentAt[1].length;
    await until(drained, TIMEOUT.drain, "drain").catch(() => {}); // what never came, the checker counts as lost
    for (const u of users) u.conversation.mark();
    await until(() => users.every((u) => u.conversation.unconfirmed === 0), TIMEOUT.drain, "confirmation").catch(() => {});
    const e = o.rng() < 0.5 ? 0 : 1;
    const [ender, partner] = [users[e], users[1 - e]];
    s.end = { how: "exit", by: e };
    ender.client?.send({ type: "exit" });
    await Promise.all([
      ender.client?.next((ev) => ev.type === "you_left" && ev.with === partner.name, `"You left the chat with ${partner.name}"`, TIMEOUT.notice),
      partner.client?.next((ev) => ev.type === "partner_left" && ev.name === ender.name && ev.reason === "exit", `"${ender.name} has left the chat"`, TIMEOUT.notice),
    ]);
  } catch (err) {
    if (!s.end) s.aborted = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    s.stop = [true, true];
    await Promise.allSettled(loops);
  }
}

/**
 * @param {DropsOptions} o
 * @param {Run} run
 * @param {number} i
 * @param {(fn: () => Promise<void>) => Promise<void>} gate
 * @param {Promise<void>} everyoneIn
 * @param {() => void} ready
 */
async function runPair(o, run, i, gate, everyoneIn, ready) {
  const pair = /** @type {[User, User]} */ ([new User(`d${i}a`, o.wsUrl, run), new User(`d${i}b`, o.wsUrl, run)]);
  try {
    const logins = await Promise.allSettled(pair.map((u) => gate(() => u.login())));
    ready();
    const failed = logins.find((r) => r.status === "rejected");
    if (failed) throw Object.assign(new Error(String(failed.reason?.message ?? failed.reason)), { phase: "login" });
    await everyoneIn;
    for (let cycle = 0; !run.stopping && now() < run.phaseEnd; cycle++) await chatOnce(o, run, pair, cycle);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const phase = /** @type {{ phase?: string }} */ (err).phase ?? "chat";
    run.problems.add(/within \d+ ms/.test(message) ? `${phase}_timeout` : `${phase}_failed`, message);
    for (const u of pair) u.destroy();
    return;
  }
  await Promise.all(
    pair.map(async (u) => {
      await u.client?.quit(TIMEOUT.quit);
      if (u.client?.closeCode !== 1000) run.problems.add("quit_not_closed_1000", `${u.name}: closed with ${u.client?.closeCode}`);
      u.destroy();
    }),
  );
}

/** The run in progress, for abortDrops. @type {Run | null} */
let current = null;

/** Drop every socket of the run in progress (Ctrl-C, or the hard deadline); its waits then fail and it ends. */
export function abortDrops() {
  if (!current) return;
  current.stopping = true;
  for (const u of current.users) u.destroy();
}

/** A percentile in ms, to 0.1 ms; null without samples. @param {number[]} xs @param {number} p */
function pct(xs, p) {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const v = sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  return Math.round(v * 10) / 10;
}

/**
 * The whole --drops run: ramp, chat phase, check. Resolves with the summary and whether anything failed.
 * @param {DropsOptions} o
 */
export async function runDrops(o) {
  const run = (current = new Run());
  const gate = limiter(o.concurrency);
  const rampStart = now();
  const { ready, all: everyoneIn } = barrier(o.pairs, TIMEOUT.ramp);
  const pairs = Array.from({ length: o.pairs }, (_, i) => runPair(o, run, i, gate, everyoneIn, ready));
  await everyoneIn;
  const rampSeconds = (now() - rampStart) / 1000;
  o.progress(`load --drops: ${run.loginMs.length} users logged in in ${rampSeconds.toFixed(1)} s; chatting for ${o.seconds} s`);
  const phaseStart = now();
  run.phaseEnd = phaseStart + o.seconds * 1000;
  const ticker = setInterval(() => {
    const drops = run.sessions.reduce((n, s) => n + s.drops[0] + s.drops[1], 0);
    o.progress(`load --drops: ${Math.round((now() - phaseStart) / 1000)} s: chats=${run.sessions.length} lines shown=${run.latencies.length} drops=${drops} resumed=${run.resumeMs.length} problems=${run.problems.total()}`);
  }, 10_000);
  const hard = setTimeout(abortDrops, o.seconds * 1000 + TIMEOUT.grace);
  try {
    await Promise.all(pairs);
  } finally {
    clearInterval(ticker);
    clearTimeout(hard);
  }
  const phaseMs = Math.min(now(), run.phaseEnd) - phaseStart;
  const result = checkDrops(run.records, run.sessions);
  const errors = run.problems.total() + result.errors.total();
  for (const [kind, { count, example }] of Object.entries(result.errors.toJSON())) run.problems.add(kind, example, count);
  current = null;
  const summary = {
    users: o.pairs * 2,
    pairs: o.pairs,
    seconds: o.seconds,
    chats: result.chats,
    messages: result.delivered,
    drops: result.drops,
    resumed: result.resumes,
    lost: result.lost,
    duplicates: result.duplicates,
    reordered: result.reordered,
    notices_missing: result.noticesMissing,
    errors,
    p50: pct(run.latencies, 50),
    p99: pct(run.latencies, 99),
    resumeP50: pct(run.resumeMs, 50),
    resumeP99: pct(run.resumeMs, 99),
    msgsPerSecond: Math.round(result.delivered / (phaseMs / 1000)),
  };
  const detail = {
    sent: result.sent,
    resent: run.sayFrames - result.sent,
    duplicatesDropped: run.rawLines - result.delivered,
    notDelivered: run.notDelivered,
    windowStalls: run.windowStalls,
    ramp: { loggedIn: run.loginMs.length, seconds: Number(rampSeconds.toFixed(1)) },
    problems: run.problems.toJSON(),
    noticesMissing: result.missing.toJSON(),
  };
  const failed = summary.lost + summary.duplicates + summary.reordered + summary.notices_missing + summary.errors > 0;
  return { summary, detail, failed };
}
