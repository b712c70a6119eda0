// Notices (declined, busy, expired…) in a polite live region, and a hidden one that reads out chat lines.

import { el } from "./dom.js";

/** @typedef {import("./texts.js").Tone} Tone */

/** How long a notice stays, by tone; hovering or focusing it keeps it. */
const LINGER_MS = { info: 6000, good: 6000, warn: 10_000, error: 12_000 };
const MAX_SHOWN = 3;

export class Notices {
  /** @param {HTMLElement} root an element with aria-live="polite" */
  constructor(root) {
    this.root = root;
  }

  /**
   * @param {string} text
   * @param {Tone} [tone]
   * @returns {() => void} removes this notice
   */
  show(text, tone = "info") {
    for (const old of this.root.querySelectorAll(".notice")) if (old.firstChild?.textContent === text) old.remove();
    const notice = el("div", "notice");
    notice.dataset.tone = tone;
    const close = el("button", "notice-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", () => notice.remove());
    notice.append(el("p", "notice-text", text), close);
    this.root.append(notice);
    while (this.root.children.length > MAX_SHOWN) this.root.firstElementChild?.remove();
    const expire = () => {
      if (notice.matches(":hover, :focus-within")) setTimeout(expire, 2000);
      else notice.remove();
    };
    setTimeout(expire, LINGER_MS[tone]);
    return () => notice.remove();
  }

  clear() {
    this.root.replaceChildren();
  }
}

/** Reads a line out to screen readers without showing it (it is already on screen in the transcript). */
export function announcer(/** @type {HTMLElement} */ region) {
  return (/** @type {string} */ text) => {
    region.append(el("p", "", text));
    while (region.children.length > 5) region.firstElementChild?.remove();
  };
}
