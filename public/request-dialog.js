// The incoming request: a modal <dialog> (focus moves into it and back out) with Accept, Decline and the time left.
// Escape declines: saying no is the safe default when someone asks to talk.

import { countdown, hueOf } from "./dom.js";
import { secondsLeft } from "./texts.js";

export class RequestDialog {
  /** @type {string | null} */ from = null;
  /** @type {(() => void) | null} */ #stopCountdown = null;
  /** @type {Element | null} */ #returnFocus = null;

  /**
   * @param {{ dialog: HTMLDialogElement, names: HTMLElement[], avatar: HTMLElement, left: HTMLElement,
   *   bar: HTMLElement, accept: HTMLButtonElement, decline: HTMLButtonElement }} parts
   * @param {(accept: boolean) => void} answer
   */
  constructor(parts, answer) {
    this.parts = parts;
    const reply = (/** @type {boolean} */ accept) => {
      if (this.from === null) return;
      this.close();
      answer(accept);
    };
    parts.accept.addEventListener("click", () => reply(true));
    parts.decline.addEventListener("click", () => reply(false));
    parts.dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      reply(false);
    });
  }

  /** @param {string} from @param {number} expiresInMs */
  open(from, expiresInMs) {
    this.close();
    this.from = from;
    for (const n of this.parts.names) n.textContent = from;
    this.parts.avatar.textContent = [...from][0]?.toUpperCase() ?? "";
    this.parts.avatar.style.setProperty("--hue", String(hueOf(from)));
    this.#returnFocus = document.activeElement;
    const deadline = Date.now() + expiresInMs;
    this.#stopCountdown = countdown(deadline, (ms) => {
      const s = secondsLeft(ms);
      this.parts.left.textContent = `${s} ${s === 1 ? "second" : "seconds"} left to answer`;
      this.parts.bar.style.transform = `scaleX(${expiresInMs > 0 ? ms / expiresInMs : 0})`;
    });
    this.parts.dialog.showModal();
    this.parts.accept.focus();
  }

  close() {
    this.#stopCountdown?.();
    this.#stopCountdown = null;
    if (this.from === null) return;
    this.from = null;
    if (this.parts.dialog.open) this.parts.dialog.close();
    const back = this.#returnFocus;
    this.#returnFocus = null;
    if (back instanceof HTMLElement && back.isConnected && !back.matches(":disabled")) back.focus();
  }
}
