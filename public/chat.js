// The chat panel: the transcript (own and partner's messages, and the lines that start and end a chat) and the
// message box, where Enter sends and Shift+Enter starts a new line.

import { el } from "./dom.js";

/** MAX_MESSAGE_BYTES's default on the server, for the whole JSON frame, until `welcome` says what it is. */
export const DEFAULT_MAX_FRAME_BYTES = 4096;

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const utf8 = new TextEncoder();

export class Chat {
  /** @type {string | null} */ partner = null;
  ended = false;
  /** The server's limit (welcome's limits.maxMessageBytes): a bigger frame would be refused, never cut. */
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;

  /**
   * @param {{ name: HTMLElement, log: HTMLElement, form: HTMLFormElement, input: HTMLTextAreaElement,
   *   hint: HTMLElement, ended: HTMLElement, endedText: HTMLElement }} parts
   * @param {(text: string) => boolean} say sends a message; false if it could not be sent
   */
  constructor(parts, say) {
    this.parts = parts;
    parts.input.addEventListener("keydown", (e) => {
      // isComposing: Enter that confirms an IME composition (Japanese, Chinese…) must not send.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        parts.form.requestSubmit();
      }
    });
    parts.input.addEventListener("input", () => this.#checkSize());
    parts.form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = parts.input.value;
      if (!text.trim() || this.ended || !this.#checkSize()) return;
      if (!say(text)) return;
      this.#add("mine", "You", text);
      parts.input.value = "";
      this.#checkSize();
    });
  }

  /** A new chat with `partner`: an empty transcript and the message box ready. */
  start(/** @type {string} */ partner, /** @type {string} */ line) {
    this.partner = partner;
    this.ended = false;
    this.parts.name.textContent = partner;
    this.parts.log.replaceChildren();
    this.parts.input.value = "";
    this.parts.input.disabled = false;
    this.parts.form.hidden = false;
    this.parts.ended.hidden = true;
    this.parts.input.setAttribute("aria-label", `Message to ${partner}`);
    this.parts.input.placeholder = `Message ${partner}`;
    this.system(line, "good");
    this.#checkSize();
  }

  /** A message from the partner. */
  theirs(/** @type {string} */ from, /** @type {string} */ text) {
    this.#add("theirs", from, text);
  }

  /** @param {string} text @param {"info" | "good" | "warn"} [tone] */
  system(text, tone = "info") {
    const line = el("p", "sys", text);
    line.dataset.tone = tone;
    this.#append(line, true);
  }

  /** The chat is over (exit, partner gone, connection lost): keep the transcript, close the message box. */
  end(/** @type {string} */ line) {
    if (this.partner === null || this.ended) return;
    this.ended = true;
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
  }

  /**
   * @param {"mine" | "theirs"} who
   * @param {string} from
   * @param {string} text
   */
  #add(who, from, text) {
    const now = new Date();
    const msg = el("div", `msg msg-${who}`);
    const time = el("time", "msg-time", clock.format(now));
    time.dateTime = now.toISOString();
    msg.append(el("span", "visually-hidden", `${from}: `), el("p", "msg-text", text), time);
    this.#append(msg, who === "mine");
  }

  /** Appends to the transcript, following the newest line unless the reader has scrolled up to read. */
  #append(/** @type {HTMLElement} */ node, /** @type {boolean} */ force) {
    const log = this.parts.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
    log.append(node);
    if (force || atBottom) log.scrollTop = log.scrollHeight;
  }

  /** Shows the size hint when the message is near or over the limit; true if it may be sent. */
  #checkSize() {
    const bytes = utf8.encode(JSON.stringify({ type: "say", text: this.parts.input.value })).length;
    const max = this.maxFrameBytes;
    const over = bytes > max;
    const hint = this.parts.hint;
    hint.hidden = bytes < max * 0.8;
    hint.textContent = over ? `Too long to send: ${bytes} of ${max} bytes` : `${max - bytes} bytes left`;
    hint.dataset.tone = over ? "error" : "info";
    this.parts.input.setAttribute("aria-invalid", String(over));
    return !over;
  }
}
