// The worker's bindings, as wrangler.toml declares them.

import type { Lobby } from "./lobby";

export interface Env {
  LOBBY: DurableObjectNamespace<Lobby>;
  ASSETS?: Fetcher;
  MAX_MESSAGE_BYTES?: string;
  RATE_PER_SECOND?: string;
  RATE_BURST?: string;
  REQUEST_TIMEOUT_MS?: string;
  HEARTBEAT_TIMEOUT_MS?: string;
  PRESENCE_INTERVAL_MS?: string;
  /** Tests only: how many random cases the property and fuzz tests run. */
  FUZZ_RUNS?: string;
}

// `cloudflare:test` and `cloudflare:workers` type their `env` as Cloudflare.Env: make it ours.
declare global {
  namespace Cloudflare {
    interface Env extends ParleyEnv {}
  }
}

type ParleyEnv = Env;
