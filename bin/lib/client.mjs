// @ts-check
// The client's loop: server events update the session and are shown; typed lines become actions. Two sources at
// once, as a two-thread client would (one receiving, one reading input), on one event loop: the socket's events
// and readline's lines.

import { TYPING_SHOWN_MS, awaitsAnswer, follow, isAnswer, modeOf, newSession } from "./session.mjs";
import { parseLine, complete } from "./commands.mjs";
import { chatLines, describeClose, promptFor, renderEvent, safe } from "./render.mjs";
import { Terminal, wantsColour } from "./terminal.mjs";
import { openLink } from "./link.mjs";
import { say } from "../../public/wire/text.js";
import { Conversation } from "../../public/wire/conversation.js";
import { CloseCode } from "../../public/wire/protocol.js";

/** @typedef {import("../../public/wire/protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("../../public/wire/protocol.js").Action} Action */
/** @typedef {import("./render.mjs").Line} Line */
/** @typedef {import("./link.mjs").LinkEnd} LinkEnd */

export const EXIT = { ok: 0, disconnected: 1, usage: 2 };

const TIMING = {
  /** Lines typed after an action wait at most this long for its answer before they are read anyway. */
  holdMs: 5000,
  /** While the person types in a chat, the partner is told at most this often. */
  typingEveryMs: 3000,
  /** Reconnecting after a drop: the first try after this long, doubling up to maxRetryMs, until the window ends. */
  retryMs: 500,
  maxRetryMs: 4000,
  /** After `quit`, how long to wait for the server's close before closing ourselves, then dropping. */
  quitMs: 2000,
};

/** Marks the end of input (Ctrl-D, or the end of a pipe) in the queue of typed lines. */
const END_OF_INPUT = Symbol("end of input");

/**
 * @typedef {object} ClientOptions
 * @property {string} url
 * @property {string | null} name log in with this name when first asked
 * @property {NodeJS.ReadableStream} input
 * @property {NodeJS.WriteStream} output
 * @property {NodeJS.WriteStream} errors
 * @property {NodeJS.ProcessEnv} env
 * @property {(code: number) => void} exit called once, when the client is done
 */

export class Client {
  /** @param {ClientOptions} opts */
  constructor(opts) {
    this.opts = opts;
    this.session = newSession();
    /** @type {string | null} */
    this.autoName = opts.name;
    /** @type {(string | typeof END_OF_INPUT)[]} lines typed but not yet read */
    this.queue = [];
    /**
     * Set while the server owes an answer (to an action, or its first event); lines typed meanwhile are queued.
     * @type {{ timer: NodeJS.Timeout | null } | null}
     */
    this.hold = { timer: null };
    /** A `list` the client sent itself, for tab completion of names; its answer is not shown. */
    this.quietList = false;
    this.quitting = false;
    this.done = false;
    const interactive = Boolean(/** @type {any} */ (opts.input).isTTY && opts.output.isTTY);
    this.terminal = new Terminal({
      input: opts.input,
      output: opts.output,
      interactive,
      colour: wantsColour(opts.output, opts.env),
      completer: (line) => complete(line, modeOf(this.session), this.session.online.keys()),
    });
    /** The session's resume credential, and until when a dropped connection may still resume it. */
    this.resume = /** @type {{ token: string, graceMs: number } | null} */ (null);
    this.resumeUntil = 0;
    this.retries = 0;
    /** The lines of the chat we are in, exactly once across drops (public/wire/conversation.js). */
    this.conversation = new Conversation((action) => this.link.send(action));
    this.link = this.connect();
    this.terminal.listen(
      (line) => this.typed(line),
      () => this.typed(END_OF_INPUT),
      () => this.interrupt(),
      () => this.keystroke(),
    );
    /** When we last told the partner we were typing. */
    this.typingSentAt = -Infinity;
    /** @type {NodeJS.Timeout | undefined} clears "typing…" from the prompt */
    this.typingShown = undefined;
  }

  /** A key pressed: in a chat, the partner hears we are typing (at most every few seconds). */
  keystroke() {
    const now = performance.now();
    if (modeOf(this.session) !== "chat" || now - this.typingSentAt < TIMING.typingEveryMs) return;
    this.typingSentAt = now;
    this.link.send({ type: "typing" });
  }

  connect() {
    return openLink(this.opts.url, {
      onOpen: () => this.opened(),
      onEvent: (event) => this.received(event),
      onUnreadable: (frame) => this.show([{ style: "plain", text: `(unreadable frame: ${safe(frame).slice(0, 200)})` }]),
      onEnd: (end) => this.ended(end),
    });
  }

  /** Ctrl-C, or a signal: leave now, without reading the lines still queued. */
  interrupt() {
    if (this.quitting) return this.link.terminate(); // a second Ctrl-C does not wait for the server
    this.quit();
  }

  // --- the socket side ---------------------------------------------------------------------------

  opened() {
    if (this.retries > 0) return;
    this.show([{ style: "notice", text: `Connected to ${this.opts.url} (Ctrl-C or Ctrl-D to quit)` }]);
  }

  /** @param {ServerEvent} event */
  received(event) {
    if (event.type === "ask_name" && this.resume && performance.now() < this.resumeUntil) {
      // A new socket after a drop: take the session back rather than logging in again.
      this.link.send({ type: "resume", token: this.resume.token, seen: this.conversation.seen });
      return;
    }
    if (event.type === "message") return this.heard(event);
    if (event.type === "seen") return this.conversation.partnerSaw(event.seq);
    // The partner is away: the line stays with the conversation and goes out when the partner is back.
    if (event.type === "error" && event.code === "not_delivered") return;
    follow(this.session, event);
    if (event.type === "welcome" || event.type === "resumed") {
      this.resume = event.resume ?? null;
      this.retries = 0;
    }
    if (event.type === "resume_failed") {
      // The window has passed (or the server restarted without it): log in again under the same name.
      this.resume = null;
      this.autoName = this.session.me ?? this.autoName;
    }
    if (event.type === "connected") this.conversation.start(event.with);
    if (event.type === "partner_back") this.conversation.partnerBack(event.seen);
    if (event.type === "partner_left" || event.type === "you_left") this.chatEnded();
    if (event.type === "resumed") return this.resumed(event);
    if (event.type === "ask_name" && this.autoName !== null) {
      const name = this.autoName;
      this.autoName = null; // asked again (taken or invalid): the person answers
      this.send({ type: "login", name });
      return;
    }
    if (event.type === "users" && this.quietList) {
      this.quietList = false;
      return this.release();
    }
    if (event.type === "typing") {
      // Shown in the prompt, and gone again when no notice follows.
      clearTimeout(this.typingShown);
      this.typingShown = setTimeout(() => this.show([]), TYPING_SHOWN_MS).unref();
      return this.show([]);
    }
    this.show(renderEvent(event).filter((l) => l.style !== "ask" || !this.terminal.interactive));
    if (event.type === "welcome") {
      this.link.useLimits(event.limits);
      return this.learnWhoIsOnline();
    }
    if (this.hold && isAnswer(event)) this.release();
  }

  /**
   * A line from the partner, shown once and in order whatever drops and resends came between.
   * @param {Extract<ServerEvent, { type: "message" }>} event
   */
  heard(event) {
    for (const message of this.conversation.received(event)) this.show(renderEvent(message));
    this.session.partnerTypingAt = null;
  }

  /** @param {Extract<ServerEvent, { type: "resumed" }>} event */
  resumed(event) {
    this.show(renderEvent(event));
    const partner = this.conversation.partner;
    for (const missed of event.missed) {
      this.show(renderEvent(missed));
      if (missed.type === "partner_left") this.chatEnded(partner);
    }
    // The chat ended while we were away, and its notice went to the socket that dropped: say it from `resumed`.
    if (this.conversation.partner && this.conversation.partner !== event.partner) {
      this.show(renderEvent({ type: "partner_left", name: this.conversation.partner, reason: "exit" }));
      this.chatEnded(this.conversation.partner);
    }
    if (this.session.partner && this.conversation.partner === this.session.partner) this.conversation.resumed();
    else if (this.session.partner) this.conversation.start(this.session.partner);
    this.release();
  }

  /**
   * The chat ended: say which of our lines may never have arrived, and show the partner's held back.
   * @param {string | null} [partner]  who it was with, when the session no longer says (it followed `resumed`)
   */
  chatEnded(partner = this.session.partner) {
    const { undelivered, stranded } = this.conversation.end();
    for (const line of stranded) this.show(renderEvent({ type: "message", from: partner ?? "?", text: line.text }));
    for (const line of undelivered) this.show([{ style: "error", text: `(not delivered: ${safe(line.text)})` }]);
  }

  /** Ask who is online, without showing it: presence pushes only tell what changes from then on. */
  learnWhoIsOnline() {
    if (this.hold?.timer) clearTimeout(this.hold.timer);
    this.hold = null;
    this.quietList = this.send({ type: "list" });
    if (!this.quietList) this.release();
  }

  /** @param {LinkEnd} end */
  ended(end) {
    if (this.quitting && end.kind === "closed") return this.finish(EXIT.ok);
    if (this.quitting) return this.finish(EXIT.ok, end.kind === "failed" ? null : describeEnd(end, this.opts.url));
    // A connection that dropped, rather than one the server closed for cause, comes back within the window.
    const forCause = end.kind === "closed" && FOR_CAUSE.has(end.code);
    if (this.resume && !forCause) {
      if (this.retries === 0) {
        this.resumeUntil = performance.now() + this.resume.graceMs;
        this.show([{ style: "notice", text: `${describeEnd(end, this.opts.url)}; reconnecting…` }]);
      }
      if (performance.now() < this.resumeUntil) {
        const delay = Math.min(TIMING.maxRetryMs, TIMING.retryMs * 2 ** this.retries++);
        setTimeout(() => (this.link = this.connect()), delay).unref();
        return;
      }
    }
    this.finish(EXIT.disconnected, describeEnd(end, this.opts.url));
  }

  // --- the keyboard side -------------------------------------------------------------------------

  /** @param {string | typeof END_OF_INPUT} line */
  typed(line) {
    if (this.quitting) return;
    this.queue.push(line);
    this.pump();
  }

  /** Read queued lines until one waits for an answer. */
  pump() {
    while (!this.hold && !this.quitting && this.queue.length > 0) {
      const line = /** @type {string | typeof END_OF_INPUT} */ (this.queue.shift());
      if (line === END_OF_INPUT) this.quit();
      else this.read(line);
    }
    if (!this.hold && !this.quitting) this.terminal.prompt(this.prompt());
  }

  /** @param {string} line */
  read(line) {
    const action = parseLine(line, modeOf(this.session, performance.now()));
    if (action === null) return;
    if (action.type === "invalid") return this.show([{ style: "error", text: this.explain(action) }]);
    if (action.type === "quit") return this.quit();
    if (action.type === "say" && this.conversation.partner) {
      // Numbered and kept until the partner has it; while we are reconnecting it waits and goes with the rest.
      this.conversation.say(action.text, this.link.isOpen());
      return this.terminal.replaceEntered(chatLines(this.session.me ?? "you", action.text, "self"), this.prompt());
    }
    if (!this.send(action)) return;
    if (action.type === "say") {
      this.terminal.replaceEntered(chatLines(this.session.me ?? "you", action.text, "self"), this.prompt());
    }
  }

  /** @param {Extract<Action, { type: "invalid" }>} action */
  explain(action) {
    // The server words a wrong answer with who is asking; so does the client.
    const from = this.session.askedBy;
    if (action.code === "bad_answer" && from) return say("answer_y_n_to", { from });
    return action.message;
  }

  /**
   * @param {import("../../public/wire/protocol.js").ClientAction} action
   * @returns {boolean} whether it was sent
   */
  send(action) {
    if (!this.link.send(action)) {
      this.show([{ style: "error", text: "Not connected; that was not sent" }]);
      return false;
    }
    if (awaitsAnswer(action)) this.hold = { timer: setTimeout(() => this.release(), TIMING.holdMs) };
    return true;
  }

  release() {
    if (this.hold?.timer) clearTimeout(this.hold.timer);
    this.hold = null;
    this.pump();
  }

  // --- leaving ------------------------------------------------------------------------------------

  /** Say goodbye to the server (it answers `bye` and closes with 1000), and close ourselves if it does not. */
  quit() {
    if (this.quitting) return;
    this.quitting = true;
    this.queue = [];
    if (this.hold?.timer) clearTimeout(this.hold.timer);
    this.hold = null;
    if (!this.link.send({ type: "quit" })) return this.link.close(1000, "bye");
    setTimeout(() => this.link.close(1000, "bye"), TIMING.quitMs).unref();
    setTimeout(() => this.link.terminate(), 2 * TIMING.quitMs).unref();
  }

  /**
   * @param {number} code
   * @param {string | null} [why]
   */
  finish(code, why = null) {
    if (this.done) return;
    this.done = true;
    this.quitting = true; // readline's close on the way out is not a Ctrl-D
    this.terminal.close();
    if (why) this.opts.errors.write(`${why}\n`);
    this.opts.exit(code);
  }

  /** @param {Line[]} lines */
  show(lines) {
    this.terminal.show(lines, this.prompt());
  }

  /** What a bare line will mean; nothing while the login is still on its way. */
  prompt() {
    return !this.session.me && this.hold ? "" : promptFor(modeOf(this.session), this.session);
  }
}

/** Closes that end a session for what its client did, or for good: never resumed. */
const FOR_CAUSE = new Set(/** @type {number[]} */ ([
  CloseCode.normal,
  CloseCode.policy,
  CloseCode.tooBig,
  CloseCode.idle,
  CloseCode.notReading,
  CloseCode.resumedElsewhere,
  CloseCode.protocolError,
]));

/**
 * @param {LinkEnd} end
 * @param {string} url
 */
function describeEnd(end, url) {
  switch (end.kind) {
    case "closed":
      return describeClose(end.code, end.reason);
    case "failed": {
      const hint = /ECONNREFUSED/.test(end.message) ? " (is the server running? npm start starts one on port 8787)" : "";
      return `Could not connect to ${url}: ${end.message}${hint}`;
    }
    case "silent":
      return `No answer from the server for ${Math.round(end.ms / 1000)} s; the connection is gone`;
  }
}
