#!/usr/bin/env node
// @ts-check
// parley: the terminal client for a Parley server. `npx parley [url] [--name <name>]`, `parley --help`.

import { parseOptions, USAGE } from "./lib/args.mjs";
import { Client, EXIT } from "./lib/client.mjs";

/** @param {string[]} argv */
function main(argv) {
  let options;
  try {
    options = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`parley: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const client = new Client({
    url: options.url,
    name: options.name,
    input: process.stdin,
    output: process.stdout,
    errors: process.stderr,
    env: process.env,
    exit,
  });
  // At a TTY readline turns Ctrl-C into its own event; these cover piped input, `kill` and a closed terminal.
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
    process.on(signal, () => client.interrupt());
  }
  // Output piped into something that stopped reading (`parley | head`): leave quietly instead of crashing.
  process.stdout.on("error", () => client.interrupt());
}

/**
 * Exit once what was written has reached stdout and stderr (pipes can be asynchronous).
 * @param {number} code
 */
function exit(code) {
  process.exitCode = code;
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

main(process.argv.slice(2));
