import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Unit and integration tests, inside workerd (the same release wrangler dev runs).
        plugins: [
          cloudflareTest({
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
              },
            },
          }),
        ],
        test: { name: "workers", include: ["test/*.test.ts"] },
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
