// Limits and timeouts, read once from the worker's env (wrangler [vars]) with safe defaults.

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
}

export const DEFAULT_CONFIG: Readonly<Config> = {
  maxMessageBytes: 4096,
  ratePerSecond: 20,
  rateBurst: 40,
  requestTimeoutMs: 60_000,
  heartbeatTimeoutMs: 45_000,
};

/** The env var behind each setting; README lists the same table. */
export const CONFIG_VARS: Record<keyof Config, string> = {
  maxMessageBytes: "MAX_MESSAGE_BYTES",
  ratePerSecond: "RATE_PER_SECOND",
  rateBurst: "RATE_BURST",
  requestTimeoutMs: "REQUEST_TIMEOUT_MS",
  heartbeatTimeoutMs: "HEARTBEAT_TIMEOUT_MS",
};

/**
 * A missing, empty or nonsensical value falls back to the default rather than throwing:
 * a typo in wrangler.toml must not take the lobby down.
 */
export function readConfig(env: Partial<Record<string, unknown>>): Config {
  const config = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(CONFIG_VARS) as (keyof Config)[]) {
    const raw = env[CONFIG_VARS[key]];
    const value = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    if (Number.isFinite(value) && value > 0) config[key] = value;
  }
  return config;
}
