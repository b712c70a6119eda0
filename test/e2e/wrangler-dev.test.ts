// The same Lobby under `wrangler dev`, over real loopback TCP: what a wscat user gets.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, ROOT, startDevServer } from "../../scripts/dev-server.mjs";
import { chatting, connect, login } from "./support.ts";

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer();
});
afterAll(async () => {
  await dev?.stop();
});

const lobbyUrl = () => `${dev.wsUrl}?lobby=e2e-${crypto.randomUUID()}`;

describe("Parley under wrangler dev", () => {
  it("answers a plain GET on /ws with 426 and a hint", async () => {
    const res = await fetch(`${dev.url}/ws`);
    expect(res.status).toBe(426);
    expect(await res.text()).toContain("wscat");
  });

  it("serves the web client at /", async () => {
    const res = await fetch(`${dev.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
  });

  it("runs the whole flow: request, decline, cooldown, the other way round, accept, chat, exit", async () => {
    const url = lobbyUrl();
    const alice = await login(url, "alice");
    const bob = await login(url, "bob");
    alice.send("connect");
    await alice.expect("Who do you want to connect with?");
    alice.send("bob");
    await alice.expect("Waiting for bob to answer");
    await bob.expect("alice is trying to connect with you (y/n)");
    bob.send("n");
    await bob.expect("You declined the request from alice");
    await alice.expect("bob declined connection request");
    // No means no for a while (rule 13); bob may still ask alice.
    alice.send("connect bob");
    await alice.expect(/^You asked bob recently; you can ask again in \d+ s$/);
    bob.send("connect alice");
    await bob.expect("Waiting for alice");
    await alice.expect("bob is trying to connect with you (y/n)");
    alice.send("y");
    await bob.expect("You are now connected with alice");
    await alice.expect("You are now connected with bob");
    alice.send("hi bob");
    await bob.expect("alice: hi bob");
    bob.send("hi alice");
    await alice.expect("bob: hi alice");
    bob.send("exit");
    await bob.expect("You left the chat with alice");
    await alice.expect(/^bob has left the chat$/);
  });

  it("relays pipelined messages both ways in order, none lost", async () => {
    const url = lobbyUrl();
    const [alice, bob] = await chatting(url, "alice", "bob");
    // Within the default rate limit (burst 40): 35 each way, sent back to back without waiting.
    for (let i = 0; i < 35; i++) {
      alice.send(`a${i}`);
      bob.send(`b${i}`);
    }
    for (let i = 0; i < 35; i++) {
      await bob.expect(`alice: a${i}`);
      await alice.expect(`bob: b${i}`);
    }
  });

  it("takes a name and a command sent the moment the socket opens, before the prompt arrives", async () => {
    const url = lobbyUrl();
    const peer = await connect(url, "eager");
    peer.send("eager");
    peer.send("list");
    await peer.expect("Please enter a username:");
    await peer.expect("Welcome, eager!");
    await peer.expect("Commands:");
    await peer.expect("1 online:");
  });

  it("tells the partner at once when a client's TCP connection drops without a close frame", async () => {
    const url = lobbyUrl();
    const [alice, bob] = await chatting(url, "alice", "bob");
    bob.raw.terminate(); // destroys the socket: no close frame, as when a process crashes
    await alice.expect("bob has left the chat (disconnected)");
    const again = await login(url, "bob");
    again.send("list");
    await again.expect("2 online:");
  });

  it("answers ping with pong", async () => {
    const peer = await connect(lobbyUrl(), "pinger");
    await peer.expect("username");
    peer.send("ping");
    await peer.expect(/^pong$/);
  });

  it("chats with wscat itself, the devDependency `npx wscat` runs offline", async () => {
    const url = lobbyUrl();
    const wscat = spawn(process.execPath, [join(ROOT, "node_modules/wscat/bin/wscat"), "--no-color", "-c", url], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => out.includes(text) && (clearTimeout(timer), wscat.stdout.off("data", check), resolve());
        const timer = setTimeout(() => reject(new Error(`wscat never printed ${JSON.stringify(text)}; it printed:\n${out}`)), 15_000);
        wscat.stdout.on("data", check);
        check();
      });
    wscat.stdout.on("data", (chunk: Buffer) => (out += chunk));
    try {
      await seen("Please enter a username:");
      wscat.stdin.write("carol\n");
      await seen("Welcome, carol!");
      const bob = await login(url, "bob");
      bob.send("connect carol");
      await seen("bob is trying to connect with you (y/n)");
      wscat.stdin.write("y\n");
      await bob.until("You are now connected with carol");
      bob.send("hi from bob");
      await seen("bob: hi from bob");
      wscat.stdin.write("exit\n");
      await bob.until("carol has left the chat");
      bob.close();
    } finally {
      wscat.kill();
    }
  });
});
