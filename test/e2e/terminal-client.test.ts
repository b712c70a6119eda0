// The terminal client (bin/parley.mjs) as a child process against wrangler dev: what a person at a terminal sees.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, freePort, startDevServer } from "../../scripts/dev-server.mjs";
import { login } from "./support.ts";
import { TerminalClient, killTerminalClients, loggedIn } from "./terminal-support.ts";

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer();
});
afterAll(async () => {
  await dev?.stop();
});

const lobbyUrl = () => `${dev.wsUrl}?lobby=term-${crypto.randomUUID()}`;

afterEach(killTerminalClients);

describe("the terminal client", () => {
  it("prints its usage for --help and exits 0", async () => {
    const client = new TerminalClient("help", ["--help"]);
    expect(await client.exitCode()).toBe(0);
    expect(client.output).toContain("Usage: parley [url]");
    expect(client.output).toContain("ws://localhost:8787/ws");
  });

  it("says why it could not connect and exits non-zero", async () => {
    const client = new TerminalClient("nobody", [`ws://127.0.0.1:${await freePort()}/ws`]);
    await client.expect(/Could not connect to ws:\/\/127\.0\.0\.1:\d+\/ws: .*ECONNREFUSED/);
    expect(await client.exitCode()).toBe(1);
  });

  it("runs a whole chat between two clients: taken name, connect, decline, accept, talk, exit, quit", async () => {
    const url = lobbyUrl();
    const bob = await loggedIn(url, "bob");

    const alice = new TerminalClient("alice", [url]);
    await alice.expect("Please enter a username:");
    alice.type("BOB");
    await alice.expect("Username BOB is taken");
    await alice.expect("Please enter a username:");
    alice.type("alice");
    await alice.expect("Welcome, alice!");

    alice.type("connect");
    await alice.expect("Who do you want to connect with?");
    alice.type("bob");
    await alice.expect("Waiting for bob to answer");
    await bob.expect("alice is trying to connect with you (y/n)");
    bob.type("maybe");
    await bob.expect("Please answer y/n: alice is trying to connect with you");
    bob.type("n");
    await bob.expect("You declined the request from alice");
    await alice.expect("bob declined connection request");

    // No means no for a while; bob may still ask alice.
    alice.type("connect bob");
    await alice.expect(/You asked bob recently; you can ask again in \d+ s/);
    bob.type("connect alice");
    await bob.expect("Waiting for alice to answer");
    await alice.expect("bob is trying to connect with you (y/n)");
    alice.type("y");
    await bob.expect("You are now connected with alice");
    await alice.expect("You are now connected with bob");

    alice.type("hi bob!");
    await alice.expect("alice: hi bob!"); // her own line, echoed
    await bob.expect("alice: hi bob!");
    // Inside a chat a plain line is a message even when it starts like a command; /commands still work.
    bob.type("list the ways, then help me");
    await alice.expect("bob: list the ways, then help me");
    bob.type("/list");
    await bob.expect("2 online:");
    await bob.expect("alice - busy");

    alice.type("exit");
    await alice.expect("You left the chat with bob");
    await bob.expect(/alice has left the chat\n/);

    alice.type("quit");
    await alice.expect("Goodbye");
    expect(await alice.exitCode()).toBe(0);
    bob.endInput(); // Ctrl-D
    await bob.expect("Goodbye");
    expect(await bob.exitCode()).toBe(0);
  });

  it("tells the user when the partner's connection drops, and leaves on Ctrl-C with code 0", async () => {
    const url = lobbyUrl();
    const bob = await login(url, "bob");
    const alice = new TerminalClient("alice", [url]);
    await alice.expect("Please enter a username:");
    // Typed ahead: the second line waits for the login's answer, so it is read as a command, not as a name.
    alice.type("alice\nconnect bob");
    await alice.expect("Welcome, alice!");
    await alice.expect("Waiting for bob to answer");
    await bob.expect("alice is trying to connect with you (y/n)");
    bob.send("y");
    await alice.expect("You are now connected with bob");
    bob.send("hello from a raw socket");
    await alice.expect("bob: hello from a raw socket");
    alice.type("hey bob");
    await bob.until("alice: hey bob");

    bob.raw.terminate(); // no close frame, as when bob's process crashes
    await alice.expect("bob has left the chat (disconnected)");
    alice.interrupt();
    expect(await alice.exitCode()).toBe(0);
  });

  it("asks again when the --name is taken, and exits non-zero with the close code when the server closes it", async () => {
    const url = lobbyUrl();
    const bob = await login(url, "bob");
    const alice = new TerminalClient("alice", [url, "--name", "Bob"]);
    await alice.expect("Username Bob is taken");
    await alice.expect("Please enter a username:");
    alice.type("alice");
    await alice.expect("Welcome, alice!");
    bob.send("connect alice");
    await alice.expect("bob is trying to connect with you (y/n)");
    alice.type("y");
    await alice.expect("You are now connected with bob");
    await bob.until("You are now connected with alice");

    // A paste far past the burst limit (40): chat lines go out back to back, and 40 refusals in a row close it.
    alice.type(Array.from({ length: 200 }, (_, i) => `line ${i}`).join("\n"));
    await alice.expect("slow down");
    await alice.expect("Connection closed by the server: 1008 flooding");
    expect(await alice.exitCode()).toBe(1);
    await bob.until("alice has left the chat (disconnected)");
  });
});

describe("the terminal client against a scripted server", () => {
  it("says the chat ended when its partner left while it was reconnecting, though that notice never reached it", async () => {
    // The partner's partner_left went to the socket that dropped, so it is lost; `resumed` then says there is no
    // chat (partner: null) and nothing missed. The client must not go on as if alice were still with bob.
    const { WebSocketServer } = await import("ws");
    const port = await freePort();
    const server = new WebSocketServer({ host: "127.0.0.1", port, handleProtocols: (protocols) => [...protocols][0] ?? false });
    const limits = { maxMessageBytes: 4096, ratePerSecond: 20, rateBurst: 40, heartbeatTimeoutMs: 45_000 };
    let sockets = 0;
    server.on("connection", (ws) => {
      const first = ++sockets === 1;
      ws.send(JSON.stringify({ type: "ask_name" }));
      ws.on("message", (data) => {
        const action = JSON.parse(String(data));
        if (first && action.type === "login") {
          ws.send(JSON.stringify({ type: "welcome", name: "alice", limits, resume: { token: "first", graceMs: 30_000 } }));
          ws.send(JSON.stringify({ type: "connected", with: "bob" }));
          setTimeout(() => ws.terminate(), 200); // a drop, with bob's partner_left lost on the way
        }
        if (!first && action.type === "resume") {
          expect(action.token).toBe("first");
          ws.send(JSON.stringify({ type: "resumed", name: "alice", resume: { token: "second", graceMs: 30_000 }, partner: null, request: null, missed: [] }));
        }
      });
    });
    try {
      const client = new TerminalClient("alice", [`ws://127.0.0.1:${port}/ws`, "--name", "alice"]);
      await client.expect("You are now connected with bob");
      await client.expect("reconnecting");
      await client.expect("Welcome back, alice!");
      await client.expect("bob has left the chat");
    } finally {
      for (const ws of server.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
