// A test client that records everything its socket receives and waits for what should come next.
// Runs in both test environments (workerd and Node's `ws`), so it uses only what their sockets share.

export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
}

export type Pattern = string | RegExp;

const matches = (line: string, p: Pattern) =>
  typeof p === "string" ? line.toLowerCase().includes(p.toLowerCase()) : p.test(line);

export class Peer {
  /**
   * Every line received, in order. A text-dialect event of several lines is one frame, its lines joined by "\n";
   * tests read it line by line, as a person at wscat does. A JSON frame never holds a raw line break.
   */
  readonly received: string[] = [];
  /** Every frame received, whole. */
  readonly frames: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private cursor = 0;
  private wake: (() => void) | null = null;

  constructor(
    readonly label: string,
    readonly ws: SocketLike,
    private readonly timeoutMs = 5000,
  ) {
    ws.addEventListener("message", (e) => {
      const frame = typeof e.data === "string" ? e.data : `<binary ${String(e.data)}>`;
      this.frames.push(frame);
      this.received.push(...frame.split("\n"));
      this.wake?.();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake?.();
    });
  }

  send(line: string): void {
    this.ws.send(line);
  }

  /** The next unread frame must match (a string matches case-insensitively anywhere in the frame). */
  async expect(pattern: Pattern): Promise<string> {
    const line = await this.take(`a frame matching ${String(pattern)}`);
    if (!matches(line, pattern)) throw new Error(this.explain(`expected ${String(pattern)} but got ${JSON.stringify(line)}`));
    return line;
  }

  /** Skip unread frames until one matches. */
  async until(pattern: Pattern): Promise<string> {
    for (;;) {
      const line = await this.take(`a frame matching ${String(pattern)}`);
      if (matches(line, pattern)) return line;
    }
  }

  /** The next unread frame parsed as JSON (for the JSON dialect). */
  async json<T = Record<string, unknown>>(): Promise<T> {
    return JSON.parse(await this.take("a JSON frame")) as T;
  }

  /** Waits for the next JSON frame of `type`, skipping others. */
  async event<T = Record<string, unknown>>(type: string): Promise<T & { type: string }> {
    for (;;) {
      const e = await this.json<T & { type: string }>();
      if (e.type === type) return e;
    }
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    await this.waitFor(() => this.closed !== null, "the socket to close");
    return this.closed!;
  }

  /** Frames received but not yet consumed by expect/until. */
  unread(): string[] {
    return this.received.slice(this.cursor);
  }

  /**
   * Proves that nothing more arrives: sends a `list` round trip as a fence and checks that its answer is the
   * very next frame. Only for logged-in text-dialect peers.
   */
  async expectQuiet(): Promise<void> {
    this.send("/list");
    const total = Number((await this.expect(/^\d+ online:$/)).split(" ")[0]);
    for (let i = 0; i < Math.min(total, 100) + (total > 100 ? 1 : 0); i++) await this.expect(/^  /);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** The next unread frame, whatever it is. */
  next(): Promise<string> {
    return this.take("the next frame");
  }

  private async take(what: string): Promise<string> {
    await this.waitFor(() => this.cursor < this.received.length, what);
    return this.received[this.cursor++]!;
  }

  private async waitFor(ready: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (!ready()) {
      if (this.closed && what !== "the socket to close" && this.cursor >= this.received.length) {
        throw new Error(this.explain(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`));
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(this.explain(`timed out after ${this.timeoutMs} ms waiting for ${what}`));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private explain(problem: string): string {
    return `[${this.label}] ${problem}\n  transcript:\n${this.received.map((l, i) => `${i < this.cursor ? "   " : " > "}${l}`).join("\n")}`;
  }
}
