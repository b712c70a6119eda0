// @ts-check
// The terminal: reads lines with readline and prints styled lines without breaking the line being typed.
// Interactive (a person at a TTY) it shows a prompt and redraws it; otherwise it prints plain lines only.

import * as readline from "node:readline";
import { stripVTControlCharacters } from "node:util";

/** @typedef {import("./render.mjs").Line} Line */
/** @typedef {import("./render.mjs").Style} Style */

/** SGR codes per style; the speaker's name carries the partner's colour, the rest of the line stays plain. */
const SGR = /** @type {Record<Style, string>} */ ({
  notice: "33", // yellow
  question: "1;35", // bold magenta
  ask: "1;35",
  error: "31", // red
  partner: "1;36", // bold cyan, the name only
  self: "2", // dim
  plain: "",
});

/**
 * @param {Line} line
 * @param {boolean} colour
 */
export function paint(line, colour) {
  const sgr = colour ? SGR[line.style] : "";
  const on = (/** @type {string} */ s) => (sgr ? `\x1b[${sgr}m${s}\x1b[0m` : s);
  if (line.name === undefined) return on(line.text);
  return line.style === "partner" ? `${on(line.name)}: ${line.text}` : on(`${line.name}: ${line.text}`);
}

/**
 * Colour only for a person looking at a terminal that has it, and never when NO_COLOR is set (no-color.org).
 * @param {NodeJS.WriteStream} out
 * @param {NodeJS.ProcessEnv} env
 */
export function wantsColour(out, env) {
  return Boolean(out.isTTY) && !env.NO_COLOR && (out.hasColors?.() ?? false);
}

/**
 * Columns a string takes in a terminal: wide East Asian characters and emoji take two, combining marks none.
 * Close to what readline itself counts, which is what matters when erasing what it drew.
 * @param {string} s
 */
export function displayWidth(s) {
  let width = 0;
  for (const ch of stripVTControlCharacters(s)) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    if (/[\p{M}\p{Cc}\p{Cf}]/u.test(ch)) continue;
    const wide =
      (cp >= 0x1100 && cp <= 0x115f) ||
      (cp >= 0x2e80 && cp <= 0xa4cf) ||
      (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe30 && cp <= 0xfe4f) ||
      (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) ||
      (cp >= 0x1f300 && cp <= 0x1f64f) ||
      (cp >= 0x1f900 && cp <= 0x1f9ff) ||
      (cp >= 0x20000 && cp <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}

/**
 * @typedef {object} TerminalOptions
 * @property {NodeJS.ReadableStream} input
 * @property {NodeJS.WriteStream} output
 * @property {boolean} interactive a person types at a TTY: prompt, redraw, completion
 * @property {boolean} colour
 * @property {(line: string) => [string[], string]} [completer]
 */

export class Terminal {
  /** @param {TerminalOptions} opts */
  constructor(opts) {
    this.in = opts.input;
    this.out = opts.output;
    this.interactive = opts.interactive;
    this.colour = opts.colour;
    /** The terminal rows the line just entered takes, while it is still the last thing on screen. */
    this.enteredRows = 0;
    this.closed = false;
    this.rl = opts.interactive
      ? readline.createInterface({
          input: opts.input,
          output: opts.output,
          terminal: true,
          completer: opts.completer,
          historySize: 200,
          removeHistoryDuplicates: true,
        })
      : // No output: readline would write prompts into a pipe.
        readline.createInterface({ input: opts.input, terminal: false });
    this.rl.on("close", () => {
      // Ctrl-D leaves the cursor after the prompt: clear it, so what is printed next starts a clean line.
      if (this.interactive && !this.closed) this.clearInput();
      this.closed = true;
    });
  }

  /**
   * @param {(line: string) => void} onLine every line entered
   * @param {() => void} onEnd Ctrl-D, or the end of piped input
   * @param {() => void} onInterrupt Ctrl-C at the prompt
   * @param {() => void} [onKey] a key pressed at the prompt (a person at a TTY only)
   */
  listen(onLine, onEnd, onInterrupt, onKey) {
    if (this.interactive && onKey) this.in.on("keypress", () => onKey());
    this.rl.on("line", (line) => {
      if (this.interactive) {
        const columns = this.out.columns || 80;
        this.enteredRows = Math.max(1, Math.ceil(displayWidth(this.rl.getPrompt() + line) / columns));
      }
      onLine(line);
      // Only a line handled at once can be replaced: later, the screen may have moved on.
      this.enteredRows = 0;
    });
    this.rl.on("close", onEnd);
    this.rl.on("SIGINT", onInterrupt);
  }

  /**
   * Print lines above the input line, then redraw the prompt with whatever was being typed, cursor in place.
   * @param {Line[]} lines
   * @param {string} prompt the prompt from now on
   */
  show(lines, prompt) {
    const text = lines.map((l) => paint(l, this.colour) + "\n").join("");
    if (!this.interactive || this.closed) {
      this.out.write(text);
      return;
    }
    if (lines.length === 0 && prompt === this.rl.getPrompt()) return;
    this.enteredRows = 0;
    this.rl.setPrompt(prompt);
    this.clearInput();
    this.out.write(text);
    this.rl.prompt(true);
  }

  /**
   * Put `lines` where the line just entered is, if nothing was printed since: own chat lines then read like the
   * partner's, just dimmer. Otherwise they are printed like any other.
   * @param {Line[]} lines
   * @param {string} prompt
   */
  replaceEntered(lines, prompt) {
    if (this.interactive && !this.closed && this.enteredRows > 0) {
      readline.moveCursor(this.out, 0, -this.enteredRows);
      readline.cursorTo(this.out, 0);
      readline.clearScreenDown(this.out);
    }
    this.show(lines, prompt);
  }

  /**
   * Show the prompt for the next line.
   * @param {string} prompt
   */
  prompt(prompt) {
    if (!this.interactive || this.closed) return;
    this.rl.setPrompt(prompt);
    this.rl.prompt(true);
  }

  close() {
    if (this.closed) return;
    if (this.interactive) this.clearInput();
    this.closed = true;
    this.rl.close();
  }

  /** Erase the prompt and the input, however many rows they wrap onto. */
  clearInput() {
    readline.moveCursor(this.out, 0, -this.rl.getCursorPos().rows);
    readline.cursorTo(this.out, 0);
    readline.clearScreenDown(this.out);
  }
}
