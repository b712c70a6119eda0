// The one path hot enough to skip a step: a chat line going to the partner. Given where the sender's lines go, it
// reads the frame as the general path would (parseText in a chat, or a JSON `say`) and builds the partner's frame
// as render would, or gives up (null) on anything else, which then takes the general path.

import { type Dialect, messageJson, parseAction } from "../public/wire/protocol.js";
import { messageLine, partnerText } from "../public/wire/text.js";

/** Where a socket's chat lines go: the partner (any handle the caller likes), in which dialect, under which name. */
export interface Route<To> {
  to: To;
  toDialect: Dialect;
  /** The sender's display name, as the partner sees it. */
  from: string;
}

/**
 * The partner's frame for a plain chat line, or null for anything else: exit, a /command, a blank line, a text
 * line to split or clean, a JSON action other than `say`. Pinned to the general path by test/protocol.test.ts.
 */
export function relayedFrame(frame: string, dialect: Dialect, route: Route<unknown>): string | null {
  let text: string | null;
  let seq: number | undefined;
  if (dialect === "text") text = partnerText(frame);
  else {
    // Most JSON frames here are `say`: a cheap look before a full parse.
    if (!frame.includes('"say"')) return null;
    const action = parseAction(frame);
    if (action.type !== "say" || action.text.trim() === "") return null;
    text = action.text;
    seq = action.seq;
  }
  if (text === null) return null;
  return route.toDialect === "text" ? messageLine(route.from, text) : messageJson(route.from, text, seq);
}
