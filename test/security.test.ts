// The security edges: which origins may open a socket, and the per-address caps on sockets and logins.

import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { originAllowed } from "../src/origins";
import { freshLobby, open } from "./support/lobby";

const upgrade = (headers: Record<string, string>) =>
  SELF.fetch(`http://parley.test/ws?lobby=${freshLobby()}`, { headers: { Upgrade: "websocket", ...headers } });

describe("originAllowed", () => {
  const self = "https://parley.example";
  it("allows every origin when the list is unset, empty or *", () => {
    for (const list of [undefined, "", "  ", "*", "https://a.example, *"]) expect(originAllowed("https://evil.example", self, list)).toBe(true);
  });
  it("allows only listed origins, the worker's own, and clients that send no Origin", () => {
    const list = "https://chat.example, https://app.example/";
    expect(originAllowed("https://chat.example", self, list)).toBe(true);
    expect(originAllowed("https://APP.example", self, list)).toBe(true);
    expect(originAllowed(self, self, list)).toBe(true);
    expect(originAllowed(undefined, self, list)).toBe(true);
    expect(originAllowed("https://evil.example", self, list)).toBe(false);
    expect(originAllowed("https://chat.example.evil.example", self, list)).toBe(false);
  });
});

describe("cross-site WebSocket hijacking (ALLOWED_ORIGINS = https://parley.example in these tests)", () => {
  it("refuses an upgrade from another site's page with 403", async () => {
    const res = await upgrade({ Origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("ALLOWED_ORIGINS");
  });

  it("accepts the listed origin, the worker's own origin, and clients without an Origin", async () => {
    const cases: Record<string, string>[] = [{ Origin: "https://parley.example" }, { Origin: "http://parley.test" }, {}];
    for (const headers of cases) {
      const res = await upgrade(headers);
      expect(res.status).toBe(101);
      res.webSocket!.accept();
      res.webSocket!.close(1000);
    }
  });
});

describe("per-address caps (MAX_SOCKETS_PER_IP = 4, LOGINS_PER_MINUTE_PER_IP = 6 in these tests)", () => {
  it("refuses a fifth socket from one address before accepting it (429 and why), and frees the slot on its close event", async () => {
    const lobby = freshLobby();
    const from = (ip: string) => ({ headers: { "CF-Connecting-IP": ip } });
    const four = [];
    for (let i = 0; i < 4; i++) {
      const peer = await open(lobby, `p${i}`, from("203.0.113.7"));
      await peer.expect("username");
      four.push(peer);
    }
    await expect(open(lobby, "fifth", from("203.0.113.7"))).rejects.toThrow(
      /upgrade failed: 429 Too many connections from your address \(at most 4\)/,
    );
    // The web client cannot read a refused upgrade's status, so it asks why here.
    const why = await SELF.fetch(`http://parley.test/ws/admission?lobby=${lobby}`, from("203.0.113.7"));
    expect(await why.json()).toMatchObject({ ok: false, status: 429, reason: expect.stringContaining("at most 4") });

    const elsewhere = await open(lobby, "elsewhere", from("198.51.100.1"));
    await elsewhere.expect("username");

    four[0]!.close(1000, "done");
    await four[0]!.waitClosed();
    const again = await open(lobby, "again", from("203.0.113.7"));
    await again.expect("username");
  });

  it("slows down login attempts from one address, across its sockets", async () => {
    const lobby = freshLobby();
    const a = await open(lobby, "a", { headers: { "CF-Connecting-IP": "203.0.113.9" } });
    const b = await open(lobby, "b", { headers: { "CF-Connecting-IP": "203.0.113.9" } });
    await a.expect("username");
    await b.expect("username");
    for (let i = 0; i < 3; i++) {
      a.send("taken?");
      await a.expect("not allowed");
      await a.expect("username");
      b.send("no way!");
      await b.expect("not allowed");
      await b.expect("username");
    }
    a.send("alice");
    await a.expect("Too many login attempts from your address; try again in a minute");
    const other = await open(lobby, "other", { headers: { "CF-Connecting-IP": "198.51.100.2" } });
    await other.expect("username");
    other.send("alice");
    await other.expect("Welcome, alice!");
  });

  it("counts resume attempts as logins, so credentials cannot be guessed faster than names are tried", async () => {
    const lobby = freshLobby();
    const from = { json: true, headers: { "CF-Connecting-IP": "203.0.113.10" } };
    const guesser = await open(lobby, "guesser", from);
    await guesser.event("ask_name");
    for (let i = 0; i < 6; i++) {
      guesser.send(JSON.stringify({ type: "resume", token: `guess-${i}`, seen: 0 }));
      await guesser.event("resume_failed");
      await guesser.event("ask_name");
    }
    guesser.send(JSON.stringify({ type: "resume", token: "guess-6", seen: 0 }));
    expect(await guesser.event("error")).toMatchObject({ code: "too_many_logins" });
  });
});
