import { SELF } from "cloudflare:test";
import { lobbyAllowed } from "../src/index";
import { describe, expect, it } from "vitest";

describe("the worker", () => {
  it("runs without WebSocket compression, as wrangler.toml says (the pool reads it; test/e2e/compression.test.ts)", () => {
    // `no_web_socket_compression` turns the runtime's `web_socket_compression` off.
    expect(Cloudflare.compatibilityFlags["web_socket_compression"]).toBe(false);
  });

  it("answers /health", async () => {
    const res = await SELF.fetch("http://parley.test/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("explains itself with 426 when /ws is fetched without a WebSocket upgrade", async () => {
    const res = await SELF.fetch("http://parley.test/ws");
    expect(res.status).toBe(426);
    expect(await res.text()).toContain("wscat -c ws://");
  });

  it("refuses a lobby name outside the allowed alphabet", async () => {
    const res = await SELF.fetch("http://parley.test/ws?lobby=no%20spaces", { headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(400);
    // 64 characters at most: each name is a Durable Object, and its name is in every log line about it.
    const long = await SELF.fetch(`http://parley.test/ws?lobby=${"x".repeat(65)}`, { headers: { Upgrade: "websocket" } });
    expect(long.status).toBe(400);
  });

  it("upgrades /ws and greets with the username question", async () => {
    const res = await SELF.fetch("http://parley.test/ws", { headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const first = new Promise<string>((resolve) => ws.addEventListener("message", (e) => resolve(e.data as string)));
    ws.accept();
    expect(await first).toMatch(/username/i);
    ws.close(1000, "done");
  });

  it("serves the web client from public/", async () => {
    const res = await SELF.fetch("http://parley.test/");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Parley");
  });

  it("opens a named lobby only where LOBBY_NAMES allows it (names, prefix*, *), the default lobby always", () => {
    expect(lobbyAllowed("lobby", undefined)).toBe(true);
    expect(lobbyAllowed("lobby", "")).toBe(true);
    expect(lobbyAllowed("team", undefined)).toBe(false);
    expect(lobbyAllowed("team", "")).toBe(false);
    expect(lobbyAllowed("team", "team, other")).toBe(true);
    expect(lobbyAllowed("teams", "team")).toBe(false);
    expect(lobbyAllowed("t-123", "t-*")).toBe(true);
    expect(lobbyAllowed("x-123", "t-*")).toBe(false);
    expect(lobbyAllowed("anything", "*")).toBe(true);
  });
});
