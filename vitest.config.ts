import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// workerd logs two things the tests cause on purpose, dozens of times: "WebSocket peer disconnected" whenever a
// socket's other end goes away without a close frame (the tests that drop, crash and reset sockets), and an
// "uncaught exception … jsg.Error: a restart, simulated by …" with a stack when test/lobby-restore.test.ts aborts
// the Lobby (or test/directory.test.ts a directory shard, or test/homes/only/restarts.test.ts a home or a shard). The pool
// writes workerd's logs to this process's streams with no option to filter them, so exactly those are dropped here;
// any other line of workerd's, and everything a failing test logged, still shows.
const EXPECTED = [
  /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected\n?$/,
  /^uncaught exception; exception = .*jsg\.Error: a restart, simulated by (lobby-restore|directory|restarts)\.test\.ts\n(stack: [^\n]*\n?)?$/,
];
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const expected = (chunk: unknown) => typeof chunk === "string" && EXPECTED.some((re) => re.test(chunk));
  stream.write = ((chunk: unknown, ...rest: unknown[]) => (expected(chunk) ? true : write(chunk, ...rest))) as typeof stream.write;
}

/** The pool inside workerd, with the bindings every in-workerd project shares and `extra` on top. */
function inWorkerd(extra: Record<string, string>) {
  return cloudflareTest({
    main: "./src/index.ts",
    wrangler: { configPath: "./wrangler.toml" },
    // FUZZ_RUNS=5000 npm test raises the property and fuzz counts.
    miniflare: {
      bindings: {
        FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
        FUZZ_SEED: process.env.FUZZ_SEED ?? "",
        // Small caps so the security tests reach them; only requests that carry an Origin or a
        // CF-Connecting-IP header (those tests) are affected.
        ALLOWED_ORIGINS: "https://parley.example",
        // Every test opens a fresh lobby of its own.
        LOBBY_NAMES: "*",
        MAX_SOCKETS_PER_IP: "4",
        LOGINS_PER_MINUTE_PER_IP: "6",
        ...extra,
      },
    },
  });
}

export default defineConfig({
  test: {
    // What a passing test logs on purpose (a departure's webSocketError, "Lobby rebuilt") is shown only if it fails.
    silent: "passed-only",
    projects: [
      {
        // Unit and integration tests, inside workerd (the same release wrangler dev runs). test/homes runs here
        // too, against one Lobby per namespace (HOMES unset), so those tests pin what the homes project must match.
        plugins: [inWorkerd({})],
        test: { name: "workers", include: ["test/*.test.ts", "test/homes/*.test.ts"] },
      },
      {
        // The same tests of user-visible behaviour with the sockets of a namespace spread over four Lobby objects
        // (HOMES=4): every sentence must be what one Lobby says.
        plugins: [inWorkerd({ HOMES: "4" })],
        test: { name: "homes", include: ["test/homes/*.test.ts", "test/homes/only/*.test.ts"] },
      },
      {
        // End-to-end tests in Node against a real `wrangler dev` over loopback TCP.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts", "load/**/*.test.mjs", "bench/**/*.test.mjs", "scripts/**/*.test.mjs"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 90_000,
          // One file at a time: each starts its own runtime, and the attack tests time a bystander's round trips,
          // which two runtimes and a browser fighting for two cores would make a measure of the machine instead.
          fileParallelism: false,
        },
      },
    ],
  },
});
