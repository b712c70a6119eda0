// @ts-check
// The command line: `parley [url] [--name <name>]`, and the usage text.

import { parseArgs } from "node:util";

export const DEFAULT_URL = "ws://localhost:8787/ws";

export const USAGE = `Usage: parley [url] [options]

Chat 1:1 on a Parley server. Pick a username, then connect <name>; the other side answers y or n.

  url              the server's WebSocket address (default ${DEFAULT_URL});
                   http(s):// becomes ws(s)://, and a bare host gets the path /ws
  -n, --name NAME  log in as NAME instead of being asked (asked again if it is taken)
  -h, --help       show this help

Inside the client type help for the commands. Ctrl-C, Ctrl-D or quit leave.
Colour is used when stdout is a terminal and NO_COLOR is not set.`;

/**
 * @typedef {{ help: true } | { help: false, url: string, name: string | null }} Options
 */

/**
 * @param {string[]} argv the arguments after the script
 * @returns {Options} throws an Error with a message for the user on bad usage
 */
export function parseOptions(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string", short: "n" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { help: true };
  if (positionals.length > 1) throw new Error(`expected at most one url, got ${positionals.length}`);
  return { help: false, url: normaliseUrl(positionals[0] ?? DEFAULT_URL), name: values.name ?? null };
}

/**
 * `localhost:8787`, `http://host` and `wss://host` all mean the server's /ws endpoint.
 * @param {string} raw
 */
export function normaliseUrl(raw) {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `ws://${raw}`;
  let url;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`not a URL: ${raw}`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new Error(`expected a ws:// or wss:// URL, got ${raw}`);
  if (url.pathname === "/") url.pathname = "/ws";
  return url.toString();
}
