// The list of people online: a `users` snapshot, then `presence` changes applied in place. Rows are kept and
// updated rather than rebuilt, so a keyboard user's focus on a Connect button survives an update.

import { el, hueOf } from "./dom.js";
import { foldName, nameKey } from "./names.js";
import { statusLabel, whyNot } from "./texts.js";

/** @typedef {import("./wire/protocol.js").UserEntry} UserEntry */
/** @typedef {import("./wire/protocol.js").PresenceChange} PresenceChange */
/**
 * @typedef {{ li: HTMLLIElement, badge: HTMLElement, status: HTMLElement, button: HTMLButtonElement,
 *   block: HTMLButtonElement, entry: UserEntry }} Row
 */

export class People {
  /** @type {Map<string, Row>} by name key */ #rows = new Map();
  #you = "";
  #total = 0;
  #canAsk = false;
  /** @type {Set<string>} the name keys (as the server keys blocks) of the people this person blocked */
  #blocked = new Set();
  /** Presence pushes are only news after the first snapshot (one sent earlier is older than it). */
  #ready = false;

  /**
   * @param {{ list: HTMLUListElement, title: HTMLElement, count: HTMLElement, more: HTMLElement, empty: HTMLElement }} parts
   * @param {(name: string) => void} onConnect
   * @param {(name: string, block: boolean) => void} onBlock Block (true) or Unblock (false) was pressed
   */
  constructor(parts, onConnect, onBlock) {
    this.parts = parts;
    this.onConnect = onConnect;
    this.onBlock = onBlock;
  }

  /** @param {{ you: string, users: UserEntry[], total: number }} snapshot */
  snapshot({ you, users, total }) {
    if (foldName(you) !== foldName(this.#you)) this.clear(); // a new login: "you" goes first, with its badge
    this.#ready = true;
    this.#you = you;
    this.#total = total;
    const keep = new Set(users.map((u) => foldName(u.name)));
    for (const key of [...this.#rows.keys()]) if (!keep.has(key)) this.#remove(key);
    for (const u of users) this.#upsert(u);
    this.#finish();
  }

  /** @param {PresenceChange[]} changes */
  apply(changes) {
    if (!this.#ready) return;
    for (const c of changes) {
      const key = foldName(c.name);
      const known = this.#rows.has(key);
      if (c.status === "offline") {
        if (known) this.#total--;
        this.#remove(key);
      } else {
        if (!known) this.#total++;
        this.#upsert({ name: c.name, status: c.status });
      }
    }
    this.#finish();
  }

  /** Whether this person may send a request now (logged in, not in a chat, nothing pending). */
  set canAsk(/** @type {boolean} */ value) {
    this.#canAsk = value;
    for (const row of this.#rows.values()) this.#paint(row);
  }

  /** Whom this person blocked (display names); their rows say so and offer Unblock. */
  set blocked(/** @type {Iterable<string>} */ names) {
    this.#blocked = new Set([...names].map(nameKey));
    for (const row of this.#rows.values()) this.#paint(row);
  }

  clear() {
    for (const key of [...this.#rows.keys()]) this.#remove(key);
    this.#total = 0;
    this.#ready = false;
    this.#finish();
  }

  /** @param {UserEntry} entry */
  #upsert(entry) {
    const key = foldName(entry.name);
    let row = this.#rows.get(key);
    if (!row) {
      row = this.#create(entry);
      this.#rows.set(key, row);
      this.#place(key, row.li);
    }
    row.entry = entry;
    this.#paint(row);
  }

  /** @param {UserEntry} entry @returns {Row} */
  #create(entry) {
    const li = el("li", "person");
    const avatar = el("span", "avatar", [...entry.name][0]?.toUpperCase() ?? "?");
    avatar.setAttribute("aria-hidden", "true");
    avatar.style.setProperty("--hue", String(hueOf(entry.name)));
    const who = el("span", "person-who");
    const line = el("span", "person-line");
    const name = el("span", "person-name", entry.name);
    name.title = entry.name; // the whole name when it is cut short
    const badge = el("span", "you-badge", "you");
    line.append(name, badge);
    const status = el("span", "person-status");
    who.append(line, status);
    const button = el("button", "btn btn-small person-connect", "Connect");
    button.type = "button";
    button.addEventListener("click", () => this.onConnect(entry.name));
    const block = el("button", "btn btn-quiet btn-small person-block", "Block");
    block.type = "button";
    block.addEventListener("click", () => this.onBlock(entry.name, !this.#blocked.has(nameKey(entry.name))));
    li.append(avatar, who, button, block);
    return { li, badge, status, button, block, entry };
  }

  /** @param {Row} row */
  #paint({ li, badge, status, button, block, entry }) {
    const self = foldName(entry.name) === foldName(this.#you);
    const blocked = !self && this.#blocked.has(nameKey(entry.name));
    badge.hidden = !self;
    li.dataset.status = entry.status;
    li.classList.toggle("is-you", self);
    li.classList.toggle("is-blocked", blocked);
    status.textContent = blocked ? "Blocked" : statusLabel(entry.status);
    button.setAttribute("aria-label", self ? "Connect (that is you)" : `Connect with ${entry.name}`);
    button.disabled = self || blocked || !this.#canAsk || entry.status !== "available";
    button.title = self
      ? "That is you"
      : blocked
        ? `You blocked ${entry.name}; unblock them first`
        : entry.status !== "available"
          ? whyNot(entry.name, entry.status)
          : this.#canAsk
            ? `Ask ${entry.name} to chat`
            : "Finish your current chat or request first";
    block.hidden = self;
    block.textContent = blocked ? "Unblock" : "Block";
    block.setAttribute("aria-label", `${blocked ? "Unblock" : "Block"} ${entry.name}`);
    block.title = blocked ? `Let ${entry.name} ask you again` : `${entry.name} will be told no whenever they ask`;
  }

  /** Inserts a new row in order (you first, then by name key), moving no existing row. */
  #place(/** @type {string} */ key, /** @type {HTMLLIElement} */ li) {
    const rank = (/** @type {string} */ k) => (k === foldName(this.#you) ? "" : k);
    /** @type {HTMLLIElement | null} */
    let next = null;
    let nextRank = "";
    for (const [k, row] of this.#rows) {
      if (k === key || !row.li.isConnected) continue;
      if (rank(k) > rank(key) && (next === null || rank(k) < nextRank)) {
        next = row.li;
        nextRank = rank(k);
      }
    }
    this.parts.list.insertBefore(li, next);
  }

  #remove(/** @type {string} */ key) {
    const row = this.#rows.get(key);
    if (!row) return;
    this.#rows.delete(key);
    if (row.li.contains(document.activeElement)) this.parts.title.focus();
    row.li.remove();
  }

  #finish() {
    const shown = this.#rows.size;
    this.#total = Math.max(this.#total, shown);
    this.parts.count.textContent = String(this.#total);
    this.parts.more.hidden = this.#total <= shown;
    this.parts.more.textContent = `…and ${this.#total - shown} more`;
    this.parts.empty.hidden = shown > 1;
  }
}
