// Reading limits and timeouts from the worker's env.

import { describe, expect, it } from "vitest";
import { CONFIG_VARS, DEFAULT_CONFIG, DEFAULT_DIRECTORY_CONFIG, readConfig, readDirectoryConfig } from "../src/config";

describe("readConfig", () => {
  it("uses the defaults when nothing is set", () => {
    expect(readConfig({})).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG).toEqual({
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
    });
  });

  it("reads every setting from its string var, as wrangler passes them", () => {
    expect(
      readConfig({
        MAX_MESSAGE_BYTES: "1024",
        RATE_PER_SECOND: "5",
        RATE_BURST: "10",
        REQUEST_TIMEOUT_MS: "5000",
        HEARTBEAT_TIMEOUT_MS: "30000",
        PRESENCE_INTERVAL_MS: "250",
        MAX_SOCKETS_PER_IP: "8",
        LOGINS_PER_MINUTE_PER_IP: "30",
        MAX_SOCKETS_PER_LOBBY: "100",
        IDLE_TIMEOUT_MS: "90000",
        MAX_UNREAD_BYTES: "65536",
        REQUESTS_PER_MINUTE: "3",
        REQUEST_COOLDOWNS_MS: "1000, 5000",
        RESUME_GRACE_MS: "10000",
      }),
    ).toEqual({
      maxMessageBytes: 1024,
      ratePerSecond: 5,
      rateBurst: 10,
      requestTimeoutMs: 5000,
      heartbeatTimeoutMs: 30_000,
      presenceIntervalMs: 250,
      maxSocketsPerIp: 8,
      loginsPerMinutePerIp: 30,
      maxSocketsPerLobby: 100,
      idleTimeoutMs: 90_000,
      maxUnreadBytes: 65_536,
      requestsPerMinute: 3,
      requestCooldownsMs: [1000, 5000],
      resumeGraceMs: 10_000,
    });
  });

  it("accepts numbers, padded strings and number notations", () => {
    expect(readConfig({ REQUEST_TIMEOUT_MS: 5000 }).requestTimeoutMs).toBe(5000);
    expect(readConfig({ REQUEST_TIMEOUT_MS: " 5000 " }).requestTimeoutMs).toBe(5000);
    expect(readConfig({ REQUEST_TIMEOUT_MS: "5e3" }).requestTimeoutMs).toBe(5000);
    expect(readConfig({ RATE_PER_SECOND: "0.5" }).ratePerSecond).toBe(0.5);
  });

  it("overrides only the settings that are set", () => {
    expect(readConfig({ RATE_BURST: "7" })).toEqual({ ...DEFAULT_CONFIG, rateBurst: 7 });
  });

  it.each<[string, unknown]>([
    ["an empty string", ""],
    ["blanks", "   "],
    ["words", "sixty"],
    ["a number with units", "60s"],
    ["zero", "0"],
    ["a negative number", "-5"],
    ["a negative number value", -5],
    ["Infinity", "Infinity"],
    ["NaN", "NaN"],
    ["a NaN value", Number.NaN],
    ["null", null],
    ["a boolean", true],
    ["an object", { value: 5 }],
  ])("falls back to the default for %s", (what, value) => {
    for (const [key, name] of Object.entries(CONFIG_VARS)) {
      // 0 turns resuming off (see below).
      if (what === "zero" && key === "resumeGraceMs") continue;
      const config = readConfig({ [name]: value });
      expect(config[key as keyof typeof CONFIG_VARS]).toBe(DEFAULT_CONFIG[key as keyof typeof CONFIG_VARS]);
    }
  });

  it("takes RESUME_GRACE_MS 0 as resuming off", () => {
    expect(readConfig({ RESUME_GRACE_MS: "0" }).resumeGraceMs).toBe(0);
  });

  it("ignores vars it does not know", () => {
    expect(readConfig({ LOBBY: {}, SOMETHING_ELSE: "1" })).toEqual(DEFAULT_CONFIG);
  });

  it("returns a fresh object and leaves the defaults alone", () => {
    const config = readConfig({ RATE_BURST: "1" });
    config.maxMessageBytes = 1;
    expect(DEFAULT_CONFIG.maxMessageBytes).toBe(4096);
    expect(DEFAULT_CONFIG.rateBurst).toBe(40);
    expect(readConfig({})).not.toBe(DEFAULT_CONFIG);
  });

  it("maps each setting to a distinct env var", () => {
    const names = Object.values(CONFIG_VARS);
    expect(new Set(names).size).toBe(names.length);
    expect(Object.keys(CONFIG_VARS).sort()).toEqual(Object.keys(DEFAULT_CONFIG).sort());
  });
});

describe("readConfig with fractions", () => {
  it("refuses a fractional burst, size or timeout, which would refuse every message", () => {
    expect(readConfig({ RATE_BURST: "0.5" }).rateBurst).toBe(DEFAULT_CONFIG.rateBurst);
    expect(readConfig({ MAX_MESSAGE_BYTES: "100.5" }).maxMessageBytes).toBe(DEFAULT_CONFIG.maxMessageBytes);
    expect(readConfig({ REQUEST_TIMEOUT_MS: "0.9" }).requestTimeoutMs).toBe(DEFAULT_CONFIG.requestTimeoutMs);
  });
});

describe("readDirectoryConfig", () => {
  it("defaults to a 90 s lease and one shard", () => {
    expect(readDirectoryConfig({})).toEqual({ claimLeaseMs: 90_000, directoryShards: 1, homes: 1 });
  });

  it("reads CLAIM_LEASE_MS and DIRECTORY_SHARDS", () => {
    expect(readDirectoryConfig({ CLAIM_LEASE_MS: "30000", DIRECTORY_SHARDS: "3", HOMES: "4" })).toEqual({ claimLeaseMs: 30_000, directoryShards: 3, homes: 4 });
  });

  it.each(["", "0", "-1", "1.5", "many", null])("falls back to the default for %j", (value) => {
    expect(readDirectoryConfig({ CLAIM_LEASE_MS: value, DIRECTORY_SHARDS: value, HOMES: value })).toEqual(DEFAULT_DIRECTORY_CONFIG);
  });
});
