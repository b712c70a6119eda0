// The terminal client (bin/parley.mjs) as a child process against wrangler dev: what a person at a terminal sees.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, freePort, startDevServer } from "../../scripts/dev-server.mjs";
import { login } from "./support.ts";

const CLIENT = resolve(import.meta.dirname, "../../bin/parley.mjs");
const WAIT_MS = 10_000;

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer();
});
afterAll(async () => {
  await dev?.stop();
});

const lobbyUrl = () => `${dev.wsUrl}?lobby=term-${crypto.randomUUID()}`;

/** Every client a test started, killed afterwards if the test left it running. */
const running: TerminalClient[] = [];
afterEach(() => {
  for (const client of running.splice(0)) client.kill();
});

/** `node bin/parley.mjs` with piped stdin, stdout and stderr collected into one transcript. */
class TerminalClient {
  output = "";
  /** Where the next `expect` starts looking: output before it was already matched. */
  private cursor = 0;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private wake: (() => void) | null = null;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(
    readonly label: string,
    args: string[],
  ) {
    this.child = spawn(process.execPath, [CLIENT, ...args], { env: { ...process.env, NO_COLOR: "1" } });
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      this.wake?.();
    };
    this.child.stdout.on("data", collect);
    this.child.stderr.on("data", collect);
    this.child.on("exit", (code, signal) => {
      this.exit = { code, signal };
      this.wake?.();
    });
    running.push(this);
  }

  /** Types a line, as if Enter followed. */
  type(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Ctrl-D: the end of input. */
  endInput(): void {
    this.child.stdin.end();
  }

  /** Ctrl-C. */
  interrupt(): void {
    this.child.kill("SIGINT");
  }

  kill(): void {
    if (!this.exit) this.child.kill("SIGKILL");
  }

  /**
   * Waits until the output after the last match contains `pattern` (a string matches literally), and moves past
   * it; fails with the whole transcript after a timeout or when the client exits first.
   */
  async expect(pattern: string | RegExp): Promise<string> {
    let found: string | null = null;
    await this.waitFor(`output matching ${String(pattern)}`, () => {
      const rest = this.output.slice(this.cursor);
      const at = typeof pattern === "string" ? rest.indexOf(pattern) : rest.search(pattern);
      if (at < 0) return false;
      found = typeof pattern === "string" ? pattern : rest.match(pattern)![0];
      this.cursor += at + found.length;
      return true;
    });
    return found!;
  }

  /** Waits for the process to exit and returns its exit code. */
  async exitCode(): Promise<number | null> {
    await this.waitFor("the client to exit", () => this.exit !== null, true);
    return this.exit!.code;
  }

  private async waitFor(what: string, ready: () => boolean, exitIsFine = false): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!ready()) {
      if (this.exit && !exitIsFine) {
        throw new Error(this.explain(`exited (${this.exit.code ?? this.exit.signal}) while waiting for ${what}`));
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(this.explain(`timed out after ${WAIT_MS} ms waiting for ${what}`));
      await new Promise<void>((done) => {
        const timer = setTimeout(done, left);
        this.wake = () => {
          clearTimeout(timer);
          done();
        };
      });
      this.wake = null;
    }
  }

  private explain(problem: string): string {
    const seen = `${this.output.slice(0, this.cursor)}»${this.output.slice(this.cursor)}`;
    return `[${this.label}] ${problem}\n--- output (» marks how far it was matched) ---\n${seen}`;
  }
}

/** A client that has logged in as `name`. */
async function loggedIn(url: string, name: string): Promise<TerminalClient> {
  const client = new TerminalClient(name, [url]);
  await client.expect("Please enter a username:");
  client.type(name);
  await client.expect(`Welcome, ${name}!`);
  return client;
}

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
