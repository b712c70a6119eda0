// @ts-check
// A copy of the code a dev server runs, so that edits made while a test, the load test or the bench runs neither
// restart the worker (wrangler dev reloads on every change, dropping every socket) nor change what is measured.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");

/** What a worker is built from, laid out as in the repository: the real worker, and the bench's beside it. */
const ENTRIES = ["public", "wrangler.toml", "tsconfig.json", "package.json", "bench/worker.ts", "bench/relay.ts", "bench/wrangler.toml", "bench/wake"];

/**
 * @typedef {object} Snapshot
 * @property {string} dir  the copy, with node_modules linked in
 * @property {string} description  which code: where src/ came from, the git commit, and a hash of what was copied
 * @property {() => void} remove
 */

/**
 * @param {string} [src]  another copy of src/ to run (to try a change against the tests or the bench)
 * @returns {Snapshot}
 */
export function snapshot(src = join(ROOT, "src")) {
  const dir = mkdtempSync(join(tmpdir(), "parley-code-"));
  cpSync(src, join(dir, "src"), { recursive: true });
  for (const entry of ENTRIES) {
    if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  // The server is src/ and the wire it imports.
  const hash = createHash("sha256");
  for (const root of ["src", "public/wire"]) {
    for (const file of readdirSync(join(dir, root), { recursive: true, encoding: "utf8" }).sort()) {
      const path = join(dir, root, file);
      try {
        hash.update(file).update(readFileSync(path));
      } catch {
        // a directory
      }
    }
  }
  const from = resolve(src) === join(ROOT, "src") ? "src/" : src;
  return {
    dir,
    description: `${from} at ${gitState()}, sha256 ${hash.digest("hex").slice(0, 12)}`,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The commit checked out, and whether the server's code differs from it. */
function gitState() {
  try {
    const git = (/** @type {string[]} */ ...args) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = git("status", "--porcelain", "--", "src", "public/wire");
    return `git ${git("rev-parse", "--short", "HEAD")}${dirty ? " + uncommitted changes" : ""}`;
  } catch {
    return "no git";
  }
}
