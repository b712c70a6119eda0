#!/usr/bin/env node
// @ts-check
// `npm start`: wrangler dev on http://localhost:8787, with the calls home that fail offline switched off.
// Extra arguments pass through: `npm start -- --port 9000 --var REQUEST_TIMEOUT_MS:5000`.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";

export const QUIET_ENV = {
  // No usage metrics, and no fetch of Request.cf from Cloudflare (a placeholder is used instead).
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
  const child = spawn(process.execPath, [wrangler, "dev", ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, ...QUIET_ENV },
  });
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
