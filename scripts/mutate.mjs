#!/usr/bin/env node
// @ts-check
// Mutation testing for Parley: plant one small bug at a time in src/, run the test files that should catch it, and
// report which bugs no test noticed (issue 15). `npm run mutate`; not part of `npm test` (it runs the tests once per
// mutant, a few minutes in all).
//
// Why a script of our own and not StrykerJS: Stryker's vitest runner drives Vitest's default pools, not
// @cloudflare/vitest-pool-workers, so it cannot run our integration tests inside workerd, where the Lobby's wiring
// lives; and nothing new may be installed here but from npm. This does the one thing we need: plant each mutant of
// scripts/mutants.mjs in the working tree, run `vitest run --project workers <its files>` (and the e2e or homes project for files of theirs), restore the file.
//
//   npm run mutate                     every mutant
//   npm run mutate -- --only a,b       just these ids
//   npm run mutate -- --list           list the mutants and exit
//
// The source file is ALWAYS restored: after each run, on an error, and on Ctrl-C (SIGINT/SIGTERM). A mutant whose
// `find` text does not occur exactly once is stale (the code moved on): the script says so and fails before
// running anything. Exit status: 0 when every survivor is a known one, 1 otherwise.

import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { knownSurvivors, mutants } from "./mutants.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? new Set((args[onlyAt + 1] ?? "").split(",").filter(Boolean)) : null;

/** @param {string} haystack @param {string} needle */
function occurrences(haystack, needle) {
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) n++;
  return n;
}

// Check every mutant before touching anything: ids unique, find text present exactly once, replace different.
const problems = [];
const ids = new Set();
for (const m of mutants) {
  if (ids.has(m.id)) problems.push(`${m.id}: duplicate id`);
  ids.add(m.id);
  if (m.find === m.replace) problems.push(`${m.id}: replace is the same as find`);
  if (!m.tests.length) problems.push(`${m.id}: no test files`);
  const n = occurrences(readFileSync(join(root, m.file), "utf8"), m.find);
  if (n !== 1) problems.push(`${m.id}: stale mutant, its find text occurs ${n} times in ${m.file} (must be exactly once)`);
}
for (const id of Object.keys(knownSurvivors)) if (!ids.has(id)) problems.push(`known survivor ${id} is not a mutant`);
if (only) for (const id of only) if (!ids.has(id)) problems.push(`--only: no mutant ${id}`);
if (problems.length) {
  console.error(`mutate: ${problems.length} problem(s) with scripts/mutants.mjs:\n  ${problems.join("\n  ")}`);
  process.exit(2);
}

if (args.includes("--list")) {
  for (const m of mutants) console.log(`${m.id.padEnd(28)} ${m.file.padEnd(20)} ${m.why}${knownSurvivors[m.id] ? "  [known survivor]" : ""}`);
  console.log(`${mutants.length} mutants`);
  process.exit(0);
}

/** The file currently mutated and its original text, so that any exit puts it back. */
/** @type {{ path: string, original: string } | null} */
let planted = null;
/** @type {import("node:child_process").ChildProcess | null} */
let child = null;
function restore() {
  if (!planted) return;
  writeFileSync(planted.path, planted.original);
  planted = null;
}
for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
  process.on(signal, () => {
    child?.kill("SIGTERM");
    restore();
    console.error(`\nmutate: ${signal}, source restored`);
    process.exit(130);
  });
}
process.on("exit", restore);
process.on("uncaughtException", (err) => {
  restore();
  console.error(err);
  process.exit(2);
});

/** @param {string[]} files @returns {Promise<number>} the exit code of vitest */
function runTests(files) {
  return new Promise((resolve) => {
    const projects = ["--project", "workers"];
    if (files.some((f) => f.startsWith("test/e2e/"))) projects.push("--project", "e2e");
    // test/homes runs in both the one-Lobby and the HOMES=4 project; a mutant of src/homes.ts shows in the second.
    if (files.some((f) => f.startsWith("test/homes/"))) projects.push("--project", "homes");
    child = spawn("npx", ["vitest", "run", ...projects, "--bail", "1", ...files], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.resume();
    child.stderr?.resume();
    child.on("close", (code) => {
      child = null;
      resolve(code ?? 1);
    });
  });
}

const chosen = mutants.filter((m) => !only || only.has(m.id));
/** @type {{ id: string, why: string, file: string, killed: boolean, seconds: number }[]} */
const results = [];
const started = Date.now();
for (const [i, m] of chosen.entries()) {
  const path = join(root, m.file);
  const original = readFileSync(path, "utf8");
  planted = { path, original };
  writeFileSync(path, original.replace(m.find, () => m.replace));
  const t0 = Date.now();
  let code;
  try {
    code = await runTests(m.tests);
  } finally {
    restore();
  }
  const killed = code !== 0;
  const seconds = Math.round((Date.now() - t0) / 1000);
  results.push({ id: m.id, why: m.why, file: m.file, killed, seconds });
  console.log(`[${String(i + 1).padStart(2)}/${chosen.length}] ${killed ? "killed  " : "SURVIVED"} ${m.id} (${m.file}, ${seconds} s)`);
}

const killed = results.filter((r) => r.killed).length;
const survivors = results.filter((r) => !r.killed);
const score = results.length ? (100 * killed) / results.length : 100;
console.log(`\nmutation score: ${score.toFixed(1)} % (${killed} of ${results.length} killed) in ${Math.round((Date.now() - started) / 1000)} s`);
if (survivors.length) {
  console.log("survivors:");
  for (const s of survivors) console.log(`  ${s.id} (${s.file}): ${s.why}${knownSurvivors[s.id] ? `\n      known: ${knownSurvivors[s.id]}` : "\n      NOT KNOWN: write a test that kills it, or list it in knownSurvivors with a reason"}`);
}
const unexpected = survivors.filter((s) => !knownSurvivors[s.id]);
process.exit(unexpected.length ? 1 : 0);
