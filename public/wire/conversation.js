// @ts-check
// A client's side of one chat's lines, exactly once and in order across drops and resumes: it numbers the lines it
// sends and keeps them until the partner's client says it saw them; it shows the partner's lines in number order,
// holding one that arrives before a missing earlier one, and drops what it has shown already; and it resends what
// the partner missed when either side comes back (PROTOCOL.md, "Resuming"). The server stores no line: both clients
// keep what the other may still need. Shared by the web page and the terminal client.

/** @typedef {import("./protocol.js").ClientAction} ClientAction */
/** @typedef {{ seq: number, text: string }} Line */
/** A line from the partner; `seq` is missing when its client does not number lines (the text dialect). @typedef {{ seq?: number, text: string }} Received */

/** Lines received between two `seen` marks sent to the partner, so that its client can forget what was delivered. */
export const SEEN_EVERY = 20;
/** Lines kept for a partner that never says what it saw (a text-dialect partner): past this, the oldest go. */
export const OUTBOX_MAX = 500;

export class Conversation {
  /** @type {string | null} */ partner = null;
  /** The number of the next line we send. */
  #next = 1;
  /** Lines sent and not yet seen by the partner, in order. @type {Line[]} */
  #outbox = [];
  /** The highest number received from the partner with none missing below it. */
  #seen = 0;
  /** Lines from the partner that came before an earlier one: shown once the gap is filled. @type {Map<number, Received>} */
  #early = new Map();
  #sinceMark = 0;
  /** We resumed: the partner's next `seen` says what to resend. */
  #waitingForMark = false;

  /** @param {(action: ClientAction) => void} send */
  constructor(send) {
    this.send = send;
  }

  /** The last line number received from the partner: sent with `resume`. */
  get seen() {
    return this.#seen;
  }

  /** Lines not yet known to have reached the partner. */
  get unconfirmed() {
    return this.#outbox.length;
  }

  /** A chat began. @param {string} partner */
  start(partner) {
    this.partner = partner;
    this.#next = 1;
    this.#outbox = [];
    this.#seen = 0;
    this.#early = new Map();
    this.#sinceMark = 0;
    this.#waitingForMark = false;
  }

  /**
   * The chat ended: the lines the partner may never have received, and the partner's lines still waiting for an
   * earlier one that never came (to say so, and show them: nothing disappears silently).
   * @returns {{ undelivered: Line[], stranded: Received[] }}
   */
  end() {
    const ended = { undelivered: this.#outbox, stranded: [...this.#early.entries()].sort(([a], [b]) => a - b).map(([, m]) => m) };
    this.partner = null;
    this.#outbox = [];
    this.#early = new Map();
    return ended;
  }

  /**
   * Send a line (or keep it for later when `online` is false: it goes out with the rest on resume).
   * @param {string} text
   * @param {boolean} [online]
   */
  say(text, online = true) {
    const line = { seq: this.#next++, text };
    this.#outbox.push(line);
    if (this.#outbox.length > OUTBOX_MAX) this.#outbox.shift();
    if (online) this.send({ type: "say", text, seq: line.seq });
    return line;
  }

  /**
   * A line from the partner: the lines to show now, in order. Empty for a line shown already (a resent duplicate)
   * or one that came before a missing earlier line (held until that one comes); several when it fills a gap. A
   * line without a number (a text-dialect partner's) is shown at once.
   * @template {Received} M
   * @param {M} message
   * @returns {M[]}
   */
  received(message) {
    if (message.seq === undefined) return [message];
    if (message.seq <= this.#seen || this.#early.has(message.seq)) return [];
    this.#early.set(message.seq, message);
    /** @type {M[]} */
    const ready = [];
    for (let next = this.#early.get(this.#seen + 1); next; next = this.#early.get(this.#seen + 1)) {
      this.#early.delete(++this.#seen);
      ready.push(/** @type {M} */ (next));
      if (++this.#sinceMark >= SEEN_EVERY) this.mark();
    }
    return ready;
  }

  /** Tell the partner's client what we saw, so it can forget it. */
  mark() {
    this.#sinceMark = 0;
    this.send({ type: "seen", seq: this.#seen });
  }

  /**
   * The partner's client saw up to `seq`: forget those lines; right after we resumed, resend the rest.
   * @param {number} seq
   */
  partnerSaw(seq) {
    this.#outbox = this.#outbox.filter((line) => line.seq > seq);
    if (this.#waitingForMark) {
      this.#waitingForMark = false;
      this.#resend();
    }
  }

  /**
   * The partner came back and saw up to `seen` (null: it cannot say): resend what it missed, and tell it what we
   * saw, so it resends what we missed.
   * @param {number | null} seen
   */
  partnerBack(seen) {
    if (seen !== null) this.#outbox = this.#outbox.filter((line) => line.seq > seen);
    this.#resend();
    this.mark();
  }

  /** We resumed on a new socket and are still in the chat: the partner's client answers with what it saw. */
  resumed() {
    this.#waitingForMark = true;
  }

  /** What to keep for a page that reloads mid-chat (sessionStorage), so that nothing is lost or shown twice. */
  toJSON() {
    return { partner: this.partner, next: this.#next, outbox: this.#outbox, seen: this.#seen, early: [...this.#early.values()] };
  }

  /**
   * Take up where a saved conversation (toJSON) left off.
   * @param {unknown} saved
   */
  restore(saved) {
    const s = /** @type {{ partner?: unknown, next?: unknown, outbox?: unknown, seen?: unknown, early?: unknown }} */ (saved ?? {});
    if (typeof s.partner !== "string" || typeof s.next !== "number" || typeof s.seen !== "number") return;
    this.start(s.partner);
    this.#next = s.next;
    this.#seen = s.seen;
    if (Array.isArray(s.outbox)) this.#outbox = s.outbox.filter((l) => typeof l?.seq === "number" && typeof l?.text === "string");
    if (Array.isArray(s.early)) for (const m of s.early) if (typeof m?.seq === "number" && typeof m?.text === "string") this.#early.set(m.seq, m);
  }

  #resend() {
    for (const line of this.#outbox) this.send({ type: "say", text: line.text, seq: line.seq });
  }
}
