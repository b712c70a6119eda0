// A raw WebSocket client over node:net, for clients that misbehave in ways the `ws` package will not (see RawClient).

import { createHash, randomBytes } from "node:crypto";
import { type Socket, connect as tcpConnect } from "node:net";

export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface RawOptions {
  /** Extra request headers, e.g. { "CF-Connecting-IP": "192.0.2.1" } as Cloudflare's edge would set. */
  headers?: Record<string, string>;
  /** Sec-WebSocket-Protocol to offer (e.g. "parley.v1.json"). */
  protocols?: string[];
  /** Answer the server's close frame, as a well-behaved client does (default true); false keeps TCP open without one. */
  answerClose?: boolean;
  /** Keep every text frame received in `texts` (default true); false only counts them (for floods of replies). */
  keepTexts?: boolean;
  /** Called for each text frame received (e.g. to answer a server's check). */
  onText?: (text: string, client: RawClient) => void;
  timeoutMs?: number;
}

/** An upgrade the server answered with something other than 101. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One WebSocket over one TCP connection, with the handshake done by hand so that a test can: see the HTTP status and
 * body of a refused upgrade; send text, binary, ping, pong and close frames with any code or raw payload; not answer
 * the server's close while TCP stays open; stop reading altogether (pause(), so the server's queue grows); send one
 * huge frame or a flood of small ones efficiently (frame() builds the masked bytes once, write() sends them); and
 * record what arrives (text frames, the close frame, the end of the TCP connection).
 */
export class RawClient {
  /** Text frames received, in order (unless keepTexts is false). */
  readonly texts: string[] = [];
  textCount = 0;
  binaryCount = 0;
  pongCount = 0;
  bytesReceived = 0;
  /** The server's close frame: code (1005 for an empty payload), reason, and the raw payload. */
  closeFrame: { code: number; reason: string; payload: Buffer; at: number } | null = null;
  /** When the TCP connection ended (the server's FIN, a reset, or our destroy()); null while it is up. */
  endedAt: number | null = null;
  closeSent = false;
  /** Keep text frames in `texts` (RawOptions.keepTexts); may be switched off after a login, for a flood of replies. */
  keepTexts: boolean;
  /** RawOptions.onText, which may be replaced. */
  onText: ((text: string, client: RawClient) => void) | undefined;
  private cursor = 0;
  private buf: Buffer;
  private fragments: Buffer[] = [];
  private fragmentOp = 0;
  private waiters = new Set<() => void>();

  private constructor(
    readonly socket: Socket,
    leftover: Buffer,
    private readonly opts: RawOptions,
    readonly label: string,
  ) {
    this.buf = leftover;
    this.keepTexts = opts.keepTexts ?? true;
    this.onText = opts.onText;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const ended = () => {
      this.endedAt ??= Date.now();
      this.wake();
    };
    socket.on("end", ended);
    socket.on("close", ended);
    socket.on("error", () => {}); // a reset ends the connection like a close; `ended` records it
    if (leftover.length > 0) queueMicrotask(() => this.onData(Buffer.alloc(0)));
  }

  /** Opens a WebSocket; rejects, with the status and body, when the server refuses the upgrade. */
  static async open(url: string, opts: RawOptions = {}, label = "raw"): Promise<RawClient> {
    const r = await RawClient.attempt(url, opts, label);
    if (r instanceof RawClient) return r;
    throw Object.assign(new Error(`[${label}] upgrade refused: HTTP ${r.status} ${JSON.stringify(r.body)}`), r);
  }

  /** Tries an upgrade: the client on 101, or what the server answered instead. */
  static attempt(url: string, opts: RawOptions = {}, label = "raw"): Promise<RawClient | Refusal> {
    const u = new URL(url);
    const key = randomBytes(16).toString("base64");
    const headers: Record<string, string> = {
      Host: u.host,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": key,
      "Sec-WebSocket-Version": "13",
      ...(opts.protocols?.length ? { "Sec-WebSocket-Protocol": opts.protocols.join(", ") } : {}),
      ...opts.headers,
    };
    const request = `GET ${u.pathname}${u.search} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host: u.hostname, port: Number(u.port), noDelay: true });
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new Error(`[${label}] no answer to the upgrade within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once("error", fail);
      socket.once("connect", () => socket.write(request));
      const onHead = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onHead);
        const [statusLine = "", ...lines] = head.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(statusLine.split(" ")[1]);
        const got: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(":");
          got[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const rest = head.subarray(end + 4);
        if (status === 101) {
          const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
          if (got["sec-websocket-accept"] !== accept) return fail(new Error(`[${label}] bad Sec-WebSocket-Accept`));
          clearTimeout(timer);
          socket.off("error", fail);
          return resolve(new RawClient(socket, rest, opts, label));
        }
        readBody(socket, got, rest).then((body) => {
          clearTimeout(timer);
          socket.destroy();
          resolve({ status, headers: got, body });
        }, fail);
      };
      socket.on("data", onHead);
    });
  }

  /**
   * The bytes of one client frame, masked as a client must (with a random key). Returned as [header, payload] so
   * that a huge payload is masked in place, four bytes at a time, without another copy for the header.
   */
  static frame(opcode: number, payload: Buffer | string = Buffer.alloc(0), fin = true): Buffer[] {
    const data = typeof payload === "string" ? Buffer.from(payload) : payload;
    const len = data.length;
    const header = Buffer.alloc(len < 126 ? 6 : len < 65536 ? 8 : 14);
    header[0] = (fin ? 0x80 : 0) | opcode;
    if (len < 126) header[1] = 0x80 | len;
    else if (len < 65536) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    const key = randomBytes(4);
    key.copy(header, header.length - 4);
    // A fresh, unpooled buffer starts on an 8-byte boundary, so it can be XORed as 32-bit words.
    const masked = Buffer.alloc(len);
    data.copy(masked);
    const words = new Uint32Array(masked.buffer, masked.byteOffset, len >>> 2);
    const keyWord = new Uint32Array(new Uint8Array(key).buffer)[0]!;
    for (let i = 0; i < words.length; i++) words[i]! ^= keyWord;
    for (let i = words.length * 4; i < len; i++) masked[i]! ^= key[i & 3]!;
    return [header, masked];
  }

  /** Writes bytes (frames from frame()); resolves once the socket took them, waiting for it to drain if it must. */
  write(chunks: Buffer | Buffer[]): Promise<void> {
    const list = Array.isArray(chunks) ? chunks : [chunks];
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.cork();
      let ok = true;
      for (const c of list) ok = this.socket.write(c);
      this.socket.uncork();
      if (ok || this.socket.destroyed) return resolve();
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  sendText(text: string): Promise<void> {
    return this.write(RawClient.frame(OP.text, text));
  }
  sendBinary(data: Buffer): Promise<void> {
    return this.write(RawClient.frame(OP.binary, data));
  }
  sendPing(data: Buffer | string = ""): Promise<void> {
    return this.write(RawClient.frame(OP.ping, data));
  }
  sendPong(data: Buffer | string = ""): Promise<void> {
    return this.write(RawClient.frame(OP.pong, data));
  }
  /** A close frame with this code (any number that fits 16 bits, valid or not) and reason. */
  sendClose(code: number, reason = ""): Promise<void> {
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    return this.sendCloseRaw(payload);
  }
  /** A close frame with exactly this payload (empty, or one byte, which no valid close frame has). */
  sendCloseRaw(payload: Buffer): Promise<void> {
    this.closeSent = true;
    return this.write(RawClient.frame(OP.close, payload));
  }

  /** Stop reading: the server's frames pile up in the kernel's buffers, then in the server. */
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  /** Drop the TCP connection without a close frame. */
  destroy(): void {
    this.socket.destroy();
  }

  /** The next text frame after the last one consumed that matches (a string matches case-insensitively anywhere). */
  async until(pattern: string | RegExp, timeoutMs = this.opts.timeoutMs ?? 5000): Promise<string> {
    const test = (t: string) => (typeof pattern === "string" ? t.toLowerCase().includes(pattern.toLowerCase()) : pattern.test(t));
    let found: string | undefined;
    await this.waitFor(() => {
      while (this.cursor < this.texts.length) {
        const t = this.texts[this.cursor++]!;
        if (test(t)) {
          found = t;
          return true;
        }
      }
      return false;
    }, `a text frame matching ${String(pattern)}`, timeoutMs);
    return found!;
  }

  /** The server's close frame. */
  async waitClose(timeoutMs = this.opts.timeoutMs ?? 5000): Promise<NonNullable<RawClient["closeFrame"]>> {
    await this.waitFor(() => this.closeFrame !== null, "the server's close frame", timeoutMs);
    return this.closeFrame!;
  }

  /** The end of the TCP connection. */
  async waitEnd(timeoutMs = this.opts.timeoutMs ?? 5000): Promise<number> {
    await this.waitFor(() => this.endedAt !== null, "the TCP connection to end", timeoutMs);
    return this.endedAt!;
  }

  /** Resolves when `ready()` holds, re-checked on every frame and on the end of the connection; rejects after `timeoutMs`. */
  waitFor(ready: () => boolean, what: string, timeoutMs = this.opts.timeoutMs ?? 5000): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!ready()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const last = this.texts.slice(-5).map((t) => JSON.stringify(t.slice(0, 200)));
        const state = `${this.textCount} text frames (last: ${last.join(", ") || "none"}), close frame ${
          this.closeFrame ? `${this.closeFrame.code} ${JSON.stringify(this.closeFrame.reason)}` : "none"
        }, TCP ${this.endedAt ? "ended" : "open"}`;
        reject(new Error(`[${this.label}] timed out after ${timeoutMs} ms waiting for ${what}; had ${state}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    for (;;) {
      if (this.buf.length - off < 2) break;
      const b0 = this.buf[off]!;
      const b1 = this.buf[off + 1]!;
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (this.buf.length - off < 4) break;
        len = this.buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (this.buf.length - off < 10) break;
        len = Number(this.buf.readBigUInt64BE(off + 2));
        head = 10;
      }
      if (b1 & 0x80) head += 4; // servers do not mask, but tolerate it
      if (this.buf.length - off < head + len) break;
      let payload = this.buf.subarray(off + head, off + head + len);
      if (b1 & 0x80) {
        const key = this.buf.subarray(off + head - 4, off + head);
        payload = Buffer.from(payload.map((byte, i) => byte ^ key[i & 3]!));
      }
      off += head + len;
      this.onFrame(b0 & 0x0f, (b0 & 0x80) !== 0, payload);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    this.wake();
  }

  private onFrame(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode === OP.close) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.closeFrame = { code, reason: payload.subarray(2).toString("utf8"), payload: Buffer.from(payload), at: Date.now() };
      if ((this.opts.answerClose ?? true) && !this.closeSent) void this.sendCloseRaw(payload.subarray(0, 2));
      return;
    }
    if (opcode === OP.ping) return void this.sendPong(Buffer.from(payload));
    if (opcode === OP.pong) {
      this.pongCount++;
      return;
    }
    if (opcode !== OP.continuation) this.fragmentOp = opcode;
    if (!fin || this.fragments.length > 0) {
      this.fragments.push(Buffer.from(payload));
      if (!fin) return;
      payload = Buffer.concat(this.fragments);
      this.fragments = [];
    }
    if (this.fragmentOp === OP.binary) {
      this.binaryCount++;
      return;
    }
    const text = payload.toString("utf8");
    this.textCount++;
    if (this.keepTexts) this.texts.push(text);
    this.onText?.(text, this);
  }
}

/** The body of a non-101 answer: by Content-Length, chunked, or up to the end of the connection. */
function readBody(socket: Socket, headers: Record<string, string>, first: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = first;
    const length = headers["content-length"] !== undefined ? Number(headers["content-length"]) : null;
    const chunked = /chunked/i.test(headers["transfer-encoding"] ?? "");
    const complete = (): string | null => {
      if (length !== null) return data.length >= length ? data.subarray(0, length).toString("utf8") : null;
      if (!chunked) return null;
      const parts: Buffer[] = [];
      let off = 0;
      for (;;) {
        const eol = data.indexOf("\r\n", off);
        if (eol < 0) return null;
        const size = parseInt(data.subarray(off, eol).toString("latin1"), 16);
        if (size === 0) return Buffer.concat(parts).toString("utf8");
        if (data.length < eol + 2 + size + 2) return null;
        parts.push(data.subarray(eol + 2, eol + 2 + size));
        off = eol + 2 + size + 2;
      }
    };
    const check = () => {
      const body = complete();
      if (body === null) return;
      socket.off("data", onData);
      resolve(body);
    };
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      check();
    };
    socket.on("data", onData);
    socket.once("end", () => resolve(data.toString("utf8")));
    socket.once("error", reject);
    check();
  });
}
