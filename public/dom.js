// Small DOM helpers. Every string from the network goes into the page as text (textContent), never as HTML.

/** Hours and minutes, as the person's locale writes them (14:02). */
export const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/**
 * The element with this id, which the page must have.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html has no #${id} of the expected kind`);
  return found;
}

/**
 * A new element with a class and text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Counts down to `deadline` (a Date.now() time), calling `show(msLeft)` now and about every quarter second.
 * Returns a function that stops it.
 * @param {number} deadline
 * @param {(msLeft: number) => void} show
 */
export function countdown(deadline, show) {
  const tick = () => show(Math.max(0, deadline - Date.now()));
  tick();
  const id = setInterval(tick, 250);
  return () => clearInterval(id);
}

/** A hue from 0 to 359 for a name, so each person keeps the same avatar colour. */
export function hueOf(/** @type {string} */ name) {
  let h = 0;
  for (const c of name.toLowerCase()) h = (h * 31 + (c.codePointAt(0) ?? 0)) % 360;
  return h;
}
