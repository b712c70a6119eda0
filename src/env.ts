// The worker's bindings, as wrangler.toml declares them.

import type { Directory } from "./directory";
import type { Lobby } from "./lobby";

export interface Env {
  LOBBY: DurableObjectNamespace<Lobby>;
  /** The name directory's shards, `<ns>#dir-<k>` (src/directory.ts), used when HOMES > 1. */
  DIRECTORY: DurableObjectNamespace<Directory>;
  ASSETS?: Fetcher;
  MAX_MESSAGE_BYTES?: string;
  RATE_PER_SECOND?: string;
  RATE_BURST?: string;
  REQUEST_TIMEOUT_MS?: string;
  HEARTBEAT_TIMEOUT_MS?: string;
  PRESENCE_INTERVAL_MS?: string;
  MAX_SOCKETS_PER_IP?: string;
  LOGINS_PER_MINUTE_PER_IP?: string;
  MAX_SOCKETS_PER_LOBBY?: string;
  IDLE_TIMEOUT_MS?: string;
  MAX_UNREAD_BYTES?: string;
  REQUESTS_PER_MINUTE?: string;
  REQUEST_COOLDOWNS_MS?: string;
  RESUME_GRACE_MS?: string;
  /** Lobby names `?lobby=` may use besides the default (see lobbyAllowed in index.ts). */
  LOBBY_NAMES?: string;
  /** Browser origins allowed to open a socket, separated by commas; unset allows all. */
  ALLOWED_ORIGINS?: string;
  /** How long a directory claim lasts unrenewed (readDirectoryConfig in config.ts). */
  CLAIM_LEASE_MS?: string;
  /** How many directory shards name keys are spread over. */
  DIRECTORY_SHARDS?: string;
  /** How many home Lobbies each namespace's sockets are spread over (src/homes.ts); unset or 1: one Lobby. */
  HOMES?: string;
  /** Tests only: how many random cases the property and fuzz tests run. */
  FUZZ_RUNS?: string;
  FUZZ_SEED?: string;
}

// `cloudflare:test` and `cloudflare:workers` type their `env` as Cloudflare.Env: make it ours.
declare global {
  namespace Cloudflare {
    interface Env extends ParleyEnv {}
  }
}

type ParleyEnv = Env;
