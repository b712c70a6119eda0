// The terminal client (bin/parley.mjs) as a child process with piped stdin, for the tests that watch what a person
// at a terminal sees: its whole output is one transcript, matched in order.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { resolve } from "node:path";

const CLIENT = resolve(import.meta.dirname, "../../bin/parley.mjs");
const WAIT_MS = 10_000;

/** Every client started and not yet killed by killTerminalClients. */
const running: TerminalClient[] = [];

/** Kill every client a test left running (for afterEach). */
export function killTerminalClients(): void {
  for (const client of running.splice(0)) client.kill();
}

/** `node bin/parley.mjs` with piped stdin, stdout and stderr collected into one transcript. */
export class TerminalClient {
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
   * it; fails with the whole transcript after `timeoutMs` or when the client exits first.
   */
  async expect(pattern: string | RegExp, timeoutMs = WAIT_MS): Promise<string> {
    let found: string | null = null;
    await this.waitFor(`output matching ${String(pattern)}`, timeoutMs, () => {
      const rest = this.output.slice(this.cursor);
      const at = typeof pattern === "string" ? rest.indexOf(pattern) : rest.search(pattern);
      if (at < 0) return false;
      found = typeof pattern === "string" ? pattern : rest.match(pattern)![0];
      this.cursor += at + found.length;
      return true;
    });
    return found!;
  }

  /** Waits until `ready()` holds of the whole output so far (checked whenever output arrives). */
  async until(what: string, ready: (output: string) => boolean, timeoutMs = WAIT_MS): Promise<void> {
    await this.waitFor(what, timeoutMs, () => ready(this.output));
  }

  /** Waits for the process to exit and returns its exit code. */
  async exitCode(): Promise<number | null> {
    await this.waitFor("the client to exit", WAIT_MS, () => this.exit !== null, true);
    return this.exit!.code;
  }

  private async waitFor(what: string, timeoutMs: number, ready: () => boolean, exitIsFine = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (this.exit && !exitIsFine) {
        throw new Error(this.explain(`exited (${this.exit.code ?? this.exit.signal}) while waiting for ${what}`));
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(this.explain(`timed out after ${timeoutMs} ms waiting for ${what}`));
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
export async function loggedIn(url: string, name: string): Promise<TerminalClient> {
  const client = new TerminalClient(name, [url]);
  await client.expect("Please enter a username:");
  client.type(name);
  await client.expect(`Welcome, ${name}!`);
  return client;
}
