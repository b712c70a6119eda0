// What happened while the tab was hidden ("maya asked to chat, expired", "tom has left the chat"): kept in a list
// on the page until the person dismisses it, and counted for the title and the favicon until the tab is seen.

import { clock, el } from "./dom.js";

/** Older entries go first past this many. */
const MAX_ENTRIES = 50;

/** @typedef {{ li: HTMLLIElement, time: HTMLTimeElement, text: HTMLElement, unseen: number, times: number }} Entry */

export class Inbox {
  /** @type {Map<string, Entry>} by key, oldest first */
  #entries = new Map();
  #serial = 0;

  /**
   * @param {{ section: HTMLElement, list: HTMLUListElement, dismiss: HTMLButtonElement }} parts
   * @param {() => void} changed the count changed (the title and the favicon follow it)
   * @param {HTMLElement} fallbackFocus where focus goes when the dismissed inbox had it
   */
  constructor(parts, changed, fallbackFocus) {
    this.parts = parts;
    this.changed = changed;
    parts.dismiss.addEventListener("click", () => {
      const hadFocus = parts.section.contains(document.activeElement);
      this.clear();
      if (hadFocus) fallbackFocus.focus();
    });
  }

  /** News not seen yet: each entry counts what came since the tab was last visible (3 messages count 3). */
  get unseen() {
    let n = 0;
    for (const e of this.#entries.values()) n += e.unseen;
    return n;
  }

  get size() {
    return this.#entries.size;
  }

  has(/** @type {string} */ key) {
    return this.#entries.has(key);
  }

  /**
   * Something happened: a new entry, or news for an existing one (a third message), which moves it to now.
   * @param {string | null} key entries with the same key are one line; null for a line of its own
   * @param {string | ((times: number) => string)} text the line, or the line for the number of times it happened
   */
  add(key, text) {
    const k = key ?? `#${++this.#serial}`;
    let entry = this.#entries.get(k);
    if (entry) {
      this.#entries.delete(k); // to the end: the newest news is last
      entry.unseen++;
      entry.times++;
    } else {
      const li = el("li", "inbox-entry");
      const time = el("time", "inbox-time");
      const line = el("span", "inbox-text");
      li.append(time, " ", line);
      entry = { li, time, text: line, unseen: 1, times: 1 };
    }
    this.#entries.set(k, entry);
    this.#write(entry, typeof text === "string" ? text : text(entry.times), new Date());
    this.parts.list.append(entry.li);
    for (const [old, e] of this.#entries) {
      if (this.#entries.size <= MAX_ENTRIES) break;
      e.li.remove();
      this.#entries.delete(old);
    }
    this.parts.section.hidden = false;
    this.changed();
  }

  /**
   * How an entry turned out ("…, expired"), keeping its time; news again if it had been seen. False when there is
   * no such entry.
   * @param {string} key
   * @param {string} text
   */
  amend(key, text) {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#write(entry, text, null);
    if (document.visibilityState === "hidden" && entry.unseen === 0) entry.unseen = 1;
    this.changed();
    return true;
  }

  /** The tab is visible: everything listed has been seen (it stays listed until dismissed). */
  seen() {
    if (this.unseen === 0) return;
    for (const e of this.#entries.values()) e.unseen = 0;
    this.changed();
  }

  clear() {
    this.#entries.clear();
    this.parts.list.replaceChildren();
    this.parts.section.hidden = true;
    this.changed();
  }

  /** @param {Entry} entry @param {string} text @param {Date | null} at */
  #write(entry, text, at) {
    entry.text.textContent = text;
    if (at) {
      entry.time.textContent = clock.format(at);
      entry.time.dateTime = at.toISOString();
    }
  }
}
