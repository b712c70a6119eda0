// The incoming request: a modal <dialog> (focus moves into it and back out) with Accept, Decline, Decline and block,
// and the time left. Escape only hides it: saying no is a choice the person makes with a button, never a side
// effect of a key. While it is hidden a banner in the page says who is waiting and reopens it (Answer).

import { countdown, hueOf } from "./dom.js";
import { secondsLeft } from "./texts.js";

/** @typedef {"accept" | "decline" | "block"} Choice */

export class RequestDialog {
  /** @type {string | null} */ from = null;
  /** @type {(() => void) | null} */ #stopCountdown = null;
  /** @type {Element | null} */ #returnFocus = null;
  /** We are closing the dialog ourselves (an answer, the request ended), not the person with Escape. */
  #closing = false;

  /**
   * @param {{ dialog: HTMLDialogElement, names: HTMLElement[], avatar: HTMLElement, left: HTMLElement,
   *   bar: HTMLElement, accept: HTMLButtonElement, decline: HTMLButtonElement, block: HTMLButtonElement,
   *   banner: HTMLElement, bannerText: HTMLElement, bannerLeft: HTMLElement, bannerAvatar: HTMLElement,
   *   answer: HTMLButtonElement }} parts
   * @param {(choice: Choice, from: string) => void} answer
   * @param {(from: string) => void} hidden the dialog was put away unanswered (Escape)
   * @param {HTMLElement} fallbackFocus where focus goes when what had it before the dialog is gone
   */
  constructor(parts, answer, hidden, fallbackFocus) {
    this.fallbackFocus = fallbackFocus;
    this.parts = parts;
    const reply = (/** @type {Choice} */ choice) => {
      const from = this.from;
      if (from === null) return;
      this.close();
      answer(choice, from);
    };
    parts.accept.addEventListener("click", () => reply("accept"));
    parts.decline.addEventListener("click", () => reply("decline"));
    parts.block.addEventListener("click", () => reply("block"));
    parts.answer.addEventListener("click", () => this.show());
    // Escape (or the browser closing it some other way): the request stays, answerable from the banner.
    parts.dialog.addEventListener("close", () => {
      if (this.#closing || this.from === null) return;
      this.#showBanner(true);
      parts.answer.focus(); // next to the sentence that says who is waiting
      hidden(this.from);
    });
  }

  /** Whether the dialog is put away and the banner shows instead. */
  get hidden() {
    return this.from !== null && !this.parts.dialog.open;
  }

  /** @param {string} from @param {number} expiresInMs */
  open(from, expiresInMs) {
    this.close();
    this.from = from;
    for (const n of this.parts.names) n.textContent = from;
    this.parts.bannerText.textContent = `${from} is waiting for your answer`;
    for (const avatar of [this.parts.avatar, this.parts.bannerAvatar]) {
      avatar.textContent = [...from][0]?.toUpperCase() ?? "";
      avatar.style.setProperty("--hue", String(hueOf(from)));
    }
    this.#returnFocus = document.activeElement;
    const deadline = Date.now() + expiresInMs;
    this.#stopCountdown = countdown(deadline, (ms) => {
      const s = secondsLeft(ms);
      this.parts.left.textContent = `${s} ${s === 1 ? "second" : "seconds"} left to answer`;
      this.parts.bannerLeft.textContent = `(${s} s left)`;
      this.parts.bar.style.transform = `scaleX(${expiresInMs > 0 ? ms / expiresInMs : 0})`;
    });
    this.show();
  }

  /** The request is over (answered here, ended by the server): no dialog, no banner. */
  close() {
    this.#stopCountdown?.();
    this.#stopCountdown = null;
    // Focus is put back only if the dialog or the banner had it: someone who went on elsewhere stays there.
    const hadFocus = this.parts.dialog.contains(document.activeElement) || this.parts.banner.contains(document.activeElement);
    this.#showBanner(false);
    if (this.from === null) return;
    this.from = null;
    if (this.parts.dialog.open) {
      this.#closing = true;
      this.parts.dialog.close();
      this.#closing = false;
    }
    const back = this.#returnFocus;
    this.#returnFocus = null;
    if (!hadFocus) return;
    if (back instanceof HTMLElement && back.isConnected && back.checkVisibility() && !back.matches(":disabled")) back.focus();
    else this.fallbackFocus.focus();
  }

  /** Shows the dialog again (Answer in the banner, a click on the desktop notification). */
  show() {
    if (this.from === null) return;
    if (this.parts.banner.contains(document.activeElement)) this.#returnFocus = null; // the banner goes away
    this.#showBanner(false);
    if (!this.parts.dialog.open) this.parts.dialog.showModal();
    this.parts.accept.focus();
  }

  #showBanner(/** @type {boolean} */ on) {
    this.parts.banner.hidden = !on;
  }
}
