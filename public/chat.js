// The chat panel: the transcript (own and partner's messages, and the lines that start and end a chat), the
// partner's "typing…" line, and the message box, where Enter sends and Shift+Enter starts a new line.

import { clock, el } from "./dom.js";
import { utf8Length } from "./wire/protocol.js";

/** MAX_MESSAGE_BYTES's default on the server, for the whole JSON frame, until `welcome` says what it is. */
export const DEFAULT_MAX_FRAME_BYTES = 4096;
/** While the person types, the partner is told at most this often (the server's typing budget is 1 a second). */
export const TYPING_EVERY_MS = 3000;
/** "bob is typing…" goes away this long after bob's last notice: twice the interval, so one lost notice is fine. */
export const TYPING_SHOWN_MS = 6000;

/**
 * What a message costs inside its frame: `{"type":"say","text":…,"seq":…}` is counted whole, escapes included.
 * The line's number is counted at nine digits, the most a conversation reaches (a billion lines), so a message the
 * counter allows fits whatever its number.
 */
const FRAME_BYTES = utf8Length(JSON.stringify({ type: "say", text: "", seq: 999_999_999 }));
const costOf = (/** @type {string} */ text) => utf8Length(JSON.stringify(text)) - 2;
const segmenter = typeof Intl.Segmenter === "function" ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
/** The characters a person sees (an emoji with its modifiers is one), each with what it costs in the frame. */
const characters = (/** @type {string} */ text) =>
  (segmenter ? [...segmenter.segment(text)].map((s) => s.segment) : [...text]).map(costOf);

/**
 * The message box's counter, in characters, for a server whose limit is in UTF-8 bytes of the whole frame.
 * `fits` is decided on the exact bytes, so a message the counter allows is never refused. `left` is how many
 * more characters fit if each costs as much as the costliest one typed so far (1 byte for plain Latin text,
 * 2-3 for most other scripts, 4 for an emoji, 6 for an escaped control character): it never promises more than
 * fits. `over` is how many characters, from the end, must go.
 * @param {string} text
 * @param {number} maxFrameBytes
 * @returns {{ fits: boolean, left: number, over: number, near: boolean }}
 */
export function measure(text, maxFrameBytes) {
  const used = FRAME_BYTES + costOf(text);
  const room = maxFrameBytes - used;
  const near = used >= maxFrameBytes * 0.8;
  if (room >= 0) {
    let widest = 1;
    // Only the text near the limit is worth segmenting; far below it the counter is hidden anyway.
    if (near) for (const cost of characters(text)) widest = Math.max(widest, cost);
    return { fits: true, left: Math.floor(room / widest), over: 0, near };
  }
  const costs = characters(text);
  let excess = -room;
  let over = 0;
  while (excess > 0 && costs.length > 0) {
    excess -= costs.pop() ?? 0;
    over++;
  }
  return { fits: false, left: 0, over, near };
}

const plural = (/** @type {number} */ n, /** @type {string} */ word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** One line of the transcript, as kept for a page that reloads mid-chat. @typedef {{ who: "mine" | "theirs" | "sys", from: string, text: string, at: number, tone?: string }} Record */

export class Chat {
  /** @type {string | null} */ partner = null;
  ended = false;
  /** The transcript's lines, for sessionStorage. @type {Record[]} */
  lines = [];
  /** Called after every change to the transcript (the page saves it). */
  onChange = () => {};
  /** The server's limit (welcome's limits.maxMessageBytes): a bigger frame would be refused, never cut. */
  #maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;

  /** When the partner was last told this person is typing (0: not since the last message). */
  #typingSentAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} hides the partner's "typing…" */
  #typingTimer;

  /**
   * @param {{ name: HTMLElement, log: HTMLElement, form: HTMLFormElement, input: HTMLTextAreaElement,
   *   send: HTMLButtonElement, hint: HTMLElement, ended: HTMLElement, endedText: HTMLElement, typing: HTMLElement }} parts
   * @param {(text: string) => boolean} say sends a message; false if it could not be sent
   * @param {() => void} typing tells the partner this person is typing
   */
  constructor(parts, say, typing) {
    this.parts = parts;
    parts.input.addEventListener("keydown", (e) => {
      // isComposing: Enter that confirms an IME composition (Japanese, Chinese…) must not send.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        parts.form.requestSubmit();
      }
    });
    parts.input.addEventListener("input", () => {
      this.#checkSize();
      if (this.partner === null || this.ended || parts.input.value.trim() === "") return;
      const now = Date.now();
      if (now - this.#typingSentAt < TYPING_EVERY_MS) return;
      this.#typingSentAt = now;
      typing();
    });
    parts.form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = parts.input.value;
      if (!text.trim() || this.ended || !this.#checkSize()) return;
      if (!say(text)) return;
      this.#add("mine", "You", text);
      parts.input.value = "";
      this.#typingSentAt = 0; // the partner's "typing…" went with the message; the next key says it again
      this.#checkSize();
    });
  }

  /** A new chat with `partner`: an empty transcript and the message box ready. */
  start(/** @type {string} */ partner, /** @type {string} */ line) {
    this.partner = partner;
    this.ended = false;
    this.parts.name.textContent = partner;
    this.parts.log.replaceChildren();
    this.lines = [];
    this.parts.input.value = "";
    this.parts.input.disabled = false;
    this.parts.form.hidden = false;
    this.parts.ended.hidden = true;
    this.parts.input.setAttribute("aria-label", `Message to ${partner}`);
    this.parts.input.placeholder = `Message ${partner}`;
    this.#typingSentAt = 0;
    this.stopTyping();
    this.system(line, "good");
    this.#checkSize();
  }

  /** A message from the partner. */
  theirs(/** @type {string} */ from, /** @type {string} */ text) {
    this.stopTyping();
    this.#add("theirs", from, text);
  }

  /** The partner says they are typing: shown until their message, the chat's end, or a quiet spell. */
  typing(/** @type {string} */ from) {
    if (this.partner === null || this.ended || from !== this.partner) return;
    const text = `${from} is typing…`;
    if (this.parts.typing.textContent !== text) this.parts.typing.textContent = text; // said once, not per notice
    clearTimeout(this.#typingTimer);
    this.#typingTimer = setTimeout(() => this.stopTyping(), TYPING_SHOWN_MS);
  }

  stopTyping() {
    clearTimeout(this.#typingTimer);
    this.#typingTimer = undefined;
    this.parts.typing.textContent = "";
  }

  /** @param {string} text @param {"info" | "good" | "warn"} [tone] */
  system(text, tone = "info") {
    this.#record({ who: "sys", from: "", text, at: Date.now(), tone });
  }

  /**
   * The chat this tab had before it reloaded: the same partner and transcript, and the box ready again.
   * @param {string} partner
   * @param {Record[]} lines
   */
  restore(partner, lines) {
    this.start(partner, "");
    this.parts.log.replaceChildren();
    this.lines = [];
    for (const line of lines) this.#record(line);
  }

  /** The chat is over (exit, partner gone, connection lost): keep the transcript, close the message box. */
  end(/** @type {string} */ line) {
    if (this.partner === null || this.ended) return;
    this.ended = true;
    this.stopTyping();
    this.system(line, "warn");
    this.parts.endedText.textContent = "This chat has ended.";
    this.parts.form.hidden = true;
    this.parts.input.disabled = true;
    this.parts.ended.hidden = false;
  }

  /** Back to no chat at all. */
  close() {
    this.partner = null;
    this.ended = false;
    this.stopTyping();
  }

  /** The server's limit (welcome's limits.maxMessageBytes). */
  set maxFrameBytes(/** @type {number} */ bytes) {
    this.#maxFrameBytes = bytes;
    // Room to paste more than fits and be told by how much, never a silent cut; no text fits in fewer units.
    this.parts.input.maxLength = 2 * bytes;
    this.#checkSize();
  }

  get maxFrameBytes() {
    return this.#maxFrameBytes;
  }

  /**
   * @param {"mine" | "theirs"} who
   * @param {string} from
   * @param {string} text
   */
  #add(who, from, text) {
    this.#record({ who, from, text, at: Date.now() });
  }

  /** Shows a line of the transcript and keeps it. @param {Record} line */
  #record(line) {
    this.lines.push(line);
    if (line.who === "sys") {
      if (line.text === "") return;
      const p = el("p", "sys", line.text);
      p.dataset.tone = line.tone ?? "info";
      this.#append(p, true);
    } else {
      const at = new Date(line.at);
      const msg = el("div", `msg msg-${line.who}`);
      const time = el("time", "msg-time", clock.format(at));
      time.dateTime = at.toISOString();
      msg.append(el("span", "visually-hidden", `${line.from}: `), el("p", "msg-text", line.text), time);
      this.#append(msg, line.who === "mine");
    }
    this.onChange();
  }

  /** Appends to the transcript, following the newest line unless the reader has scrolled up to read. */
  #append(/** @type {HTMLElement} */ node, /** @type {boolean} */ force) {
    const log = this.parts.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
    log.append(node);
    if (force || atBottom) log.scrollTop = log.scrollHeight;
  }

  /** Shows the counter when the message is near or over the limit, and Send only while it fits; true if it fits. */
  #checkSize() {
    const size = measure(this.parts.input.value, this.#maxFrameBytes);
    const hint = this.parts.hint;
    hint.hidden = !size.near;
    hint.textContent = size.fits
      ? `${plural(size.left, "character")} left`
      : `Too long to send: remove ${plural(size.over, "character")}`;
    hint.dataset.tone = size.fits ? "info" : "error";
    this.parts.input.setAttribute("aria-invalid", String(!size.fits));
    this.parts.send.disabled = !size.fits;
    return size.fits;
  }
}
