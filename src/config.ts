// Limits and timeouts, read once from the worker's env (wrangler [vars]) with safe defaults.

import type { Limits } from "../public/wire/protocol.js";

export interface Config {
  /** Largest text frame accepted, in UTF-8 bytes. */
  maxMessageBytes: number;
  /** Token bucket: sustained messages per second per socket. */
  ratePerSecond: number;
  /** Token bucket: messages a socket may send at once before it is slowed down. */
  rateBurst: number;
  /** How long a connection request waits for y/n before it expires. */
  requestTimeoutMs: number;
  /** A socket that once pinged and then stayed silent this long is treated as dead. */
  heartbeatTimeoutMs: number;
  /** JSON clients get presence changes in batches, at most one push per this interval. */
  presenceIntervalMs: number;
  /** Open sockets one client address may hold (by CF-Connecting-IP). */
  maxSocketsPerIp: number;
  /** Login attempts one client address may make per minute (a bucket of this size, refilled over a minute). */
  loginsPerMinutePerIp: number;
  /** Open sockets the whole lobby may hold (the runtime's limit is 32,768 per object). */
  maxSocketsPerLobby: number;
  /** A socket that sends nothing, heartbeats included, for this long is closed and its name freed. */
  idleTimeoutMs: number;
  /** Output a socket may be sent without showing it read it (see src/unread.ts); past it the socket is closed. */
  maxUnreadBytes: number;
  /** New requests one user may send per minute (a bucket of this size, refilled over a minute). */
  requestsPerMinute: number;
  /**
   * How long a requester must wait to ask the same person again after a decline, an expiry or a withdrawal: the
   * first wait, then the next when it happens again, and so on (the last repeats).
   */
  requestCooldownsMs: readonly number[];
  /** How long a JSON client that lost its socket keeps its name, chat and requests to resume them; 0 turns it off. */
  resumeGraceMs: number;
}

export const DEFAULT_CONFIG: Readonly<Config> = {
  maxMessageBytes: 4096,
  ratePerSecond: 20,
  rateBurst: 40,
  requestTimeoutMs: 60_000,
  heartbeatTimeoutMs: 45_000,
  presenceIntervalMs: 500,
  maxSocketsPerIp: 128,
  loginsPerMinutePerIp: 120,
  maxSocketsPerLobby: 30_000,
  idleTimeoutMs: 600_000,
  maxUnreadBytes: 262_144,
  requestsPerMinute: 6,
  requestCooldownsMs: [30_000, 120_000, 600_000],
  resumeGraceMs: 30_000,
};

/** What `welcome` tells clients of these settings. */
export function limitsOf(config: LimitsConfig): Limits {
  return {
    maxMessageBytes: config.maxMessageBytes,
    ratePerSecond: config.ratePerSecond,
    rateBurst: config.rateBurst,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    maxUnreadBytes: config.maxUnreadBytes,
  };
}

export type LimitsConfig = Pick<
  Config,
  "maxMessageBytes" | "ratePerSecond" | "rateBurst" | "heartbeatTimeoutMs" | "idleTimeoutMs" | "maxUnreadBytes"
>;

/** The env var behind each setting; README lists the same table. */
export const CONFIG_VARS: Record<keyof Config, string> = {
  maxMessageBytes: "MAX_MESSAGE_BYTES",
  ratePerSecond: "RATE_PER_SECOND",
  rateBurst: "RATE_BURST",
  requestTimeoutMs: "REQUEST_TIMEOUT_MS",
  heartbeatTimeoutMs: "HEARTBEAT_TIMEOUT_MS",
  presenceIntervalMs: "PRESENCE_INTERVAL_MS",
  maxSocketsPerIp: "MAX_SOCKETS_PER_IP",
  loginsPerMinutePerIp: "LOGINS_PER_MINUTE_PER_IP",
  maxSocketsPerLobby: "MAX_SOCKETS_PER_LOBBY",
  idleTimeoutMs: "IDLE_TIMEOUT_MS",
  maxUnreadBytes: "MAX_UNREAD_BYTES",
  requestsPerMinute: "REQUESTS_PER_MINUTE",
  requestCooldownsMs: "REQUEST_COOLDOWNS_MS",
  resumeGraceMs: "RESUME_GRACE_MS",
};

/**
 * A missing, empty, fractional or nonsensical value falls back to the default rather than throwing:
 * a typo in wrangler.toml must not take the lobby down.
 */
export function readConfig(env: Partial<Record<string, unknown>>): Config {
  const config = { ...DEFAULT_CONFIG };
  const cooldowns = String(env[CONFIG_VARS.requestCooldownsMs] ?? "")
    .split(",")
    .map((part) => (part.trim() === "" ? NaN : Number(part)));
  if (cooldowns.length > 0 && cooldowns.every((ms) => Number.isSafeInteger(ms) && ms >= 1)) config.requestCooldownsMs = cooldowns;
  for (const key of Object.keys(CONFIG_VARS) as (keyof Config)[]) {
    if (key === "requestCooldownsMs") continue;
    const value = numberOf(env[CONFIG_VARS[key]]);
    // A rate may be a fraction (0.5 = one message every two seconds); the resume window may be 0 (off); every
    // other setting is a whole count of bytes, messages or milliseconds, and at least 1.
    const least = key === "resumeGraceMs" ? 0 : 1;
    const ok = key === "ratePerSecond" ? Number.isFinite(value) && value > 0 : Number.isSafeInteger(value) && value >= least;
    if (ok) config[key] = value;
  }
  return config;
}

/** The directory's settings (src/directory.ts), apart from Config, which is a Lobby's. */
export interface DirectoryConfig {
  /** How long a claim holds a name without being renewed: how soon names held by a crashed home come free. */
  claimLeaseMs: number;
  /** How many directory objects name keys are spread over (shardOf in public/wire/shard.js). */
  directoryShards: number;
  /** How many home Lobbies a namespace's sockets are spread over (src/homes.ts); 1 is today's single Lobby. */
  homes: number;
}

export const DEFAULT_DIRECTORY_CONFIG: Readonly<DirectoryConfig> = { claimLeaseMs: 90_000, directoryShards: 1, homes: 1 };

/** As readConfig: a missing or nonsensical value falls back to the default; both are whole numbers, at least 1. */
export function readDirectoryConfig(env: { CLAIM_LEASE_MS?: unknown; DIRECTORY_SHARDS?: unknown; HOMES?: unknown }): DirectoryConfig {
  const whole = (raw: unknown, fallback: number) => {
    const value = numberOf(raw);
    return Number.isSafeInteger(value) && value >= 1 ? value : fallback;
  };
  return {
    claimLeaseMs: whole(env.CLAIM_LEASE_MS, DEFAULT_DIRECTORY_CONFIG.claimLeaseMs),
    directoryShards: whole(env.DIRECTORY_SHARDS, DEFAULT_DIRECTORY_CONFIG.directoryShards),
    homes: Math.min(whole(env.HOMES, DEFAULT_DIRECTORY_CONFIG.homes), MAX_HOMES),
  };
}

/** More homes than this is a typo, not a plan (a million users need about 150: docs/SCALING.md). */
export const MAX_HOMES = 1024;

/** A var's value as a number: wrangler gives strings, tests may give numbers; anything else is NaN. */
function numberOf(raw: unknown): number {
  return typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
}
