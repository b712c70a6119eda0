// The wake bench's worker (bench/wake/wrangler.toml; never deployed): how long a Lobby holding thousands of idle
// sockets takes to answer the frame that wakes it from hibernation. `npm run bench -- --wake` drives it
// (bench/wake.mjs).
//
// The clients live here too, in a Holder Durable Object, rather than in Node: one process may hold 20,000
// descriptors on this machine, and a socket from Node costs one in Node and one in workerd, so 30,000 sockets
// cannot come from outside. A Holder's client ends are in-process and cost no descriptor. The Lobby's ends are
// ordinary hibernatable sockets: the Holder keeps itself awake, not the Lobby.
//
//   POST /fill?kind=lobby|echo&name=NAME&n=N&pairs=P   open N sockets to NAME, log each in, pair the first 2P
//   POST /line?kind=..&name=NAME&pair=K                a chat line from pair K's first user; ms until its partner has it
//   POST /list?kind=..&name=NAME                       `list` from a user who is not in a chat; ms until the answer
//   GET  /health                                       {"ok":true}

import { DurableObject } from "cloudflare:workers";
import type { Env } from "../../src/env";
import { Lobby } from "../../src/lobby";

// The real Lobby: its constructor logs "Lobby woke", which tells the bench a frame found it evicted.
export { Lobby };

/** The runtime's own floor: a hibernatable object that echoes each frame and keeps nothing per socket. */
export class Echo extends DurableObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    console.log("Echo woke"); // as the Lobby says it
  }

  override async fetch(): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.send("Please enter a username:");
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, frame: string | ArrayBuffer): Promise<void> {
    ws.send(`echo ${typeof frame === "string" ? frame : "(binary)"}`);
  }
}

type Kind = "lobby" | "echo";

/** One client socket and the frames it has not yet consumed. */
class Client {
  private frames: string[] = [];
  private waiter: (() => void) | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") return;
      this.frames.push(e.data);
      this.waiter?.();
    });
  }

  /** The first frame from now on that includes `text`; the frames before it are dropped. */
  async until(text: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.frames.findIndex((f) => f.includes(text));
      if (at >= 0) return this.frames.splice(0, at + 1)[at]!;
      this.frames = [];
      if (Date.now() > deadline) throw new Error(`no frame with ${JSON.stringify(text)} in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }
}

interface WakeEnv extends Env {
  LOBBY: DurableObjectNamespace<Lobby>;
  ECHO: DurableObjectNamespace<Echo>;
  HOLDER: DurableObjectNamespace<Holder>;
}

/** Holds the clients of one lobby (or echo) and times what the bench asks. Not hibernatable, on purpose. */
export class Holder extends DurableObject<WakeEnv> {
  private clients: Client[] = [];
  private pairs = 0;
  private said = 0;

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const kind = (url.searchParams.get("kind") ?? "lobby") as Kind;
    const name = url.searchParams.get("name") ?? "wake";
    const ns = kind === "echo" ? this.env.ECHO : this.env.LOBBY;
    const stub = ns.get(ns.idFromName(name));
    try {
      if (url.pathname !== "/fill" && this.clients.length === 0) {
        return new Response("this Holder has no clients: the isolate was reset since /fill (out of memory?)", { status: 409 });
      }
      switch (url.pathname) {
        case "/fill":
          return Response.json(await this.fill(kind, stub, Number(url.searchParams.get("n")), Number(url.searchParams.get("pairs") ?? 1)));
        case "/line": {
          const k = Number(url.searchParams.get("pair") ?? 0) % this.pairs;
          const [a, b] = [this.clients[2 * k]!, this.clients[2 * k + 1]!];
          const text = `wake line ${++this.said}`;
          const t0 = Date.now();
          a.ws.send(text);
          // The echo object answers the sender: the same path through the runtime, with no partner to look up.
          await (kind === "echo" ? a : b).until(text);
          return Response.json({ ms: Date.now() - t0 });
        }
        case "/list": {
          const c = this.clients[2 * this.pairs]!;
          const t0 = Date.now();
          c.ws.send("list");
          await c.until(kind === "echo" ? "echo list" : "online");
          return Response.json({ ms: Date.now() - t0 });
        }
      }
      return new Response("not found", { status: 404 });
    } catch (err) {
      return new Response(String(err instanceof Error ? err.stack : err), { status: 500 });
    }
  }

  /** N sockets logged in as u0…u(N-1), in batches; the first 2P in chats u0–u1, u2–u3, … */
  private async fill(kind: Kind, stub: DurableObjectStub, n: number, pairs: number): Promise<{ sockets: number; ms: number }> {
    const t0 = Date.now();
    const open = async (i: number): Promise<Client> => {
      // A spread of addresses, as real users have (the per-address caps are lifted for the bench anyway).
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const res = await stub.fetch("http://lobby/ws", { headers: { Upgrade: "websocket", "CF-Connecting-IP": ip } });
      const ws = res.webSocket;
      if (!ws) throw new Error(`socket ${i} refused: ${res.status} ${await res.text()}`);
      ws.accept();
      const c = new Client(ws);
      await c.until("username");
      ws.send(`u${i}`);
      await c.until(`u${i}`);
      return c;
    };
    for (let i = this.clients.length; i < n; ) {
      const batch = Math.min(n - i, 250);
      this.clients.push(...(await Promise.all(Array.from({ length: batch }, (_, j) => open(i + j)))));
      i += batch;
    }
    for (let k = this.pairs; k < pairs; k++) {
      const [a, b] = [this.clients[2 * k]!, this.clients[2 * k + 1]!];
      if (kind === "lobby") {
        a.ws.send(`connect u${2 * k + 1}`);
        await b.until("trying to connect");
        b.ws.send("y");
        await a.until("You are now connected");
      }
      this.pairs = k + 1;
    }
    return { sockets: this.clients.length, ms: Date.now() - t0 };
  }
}

export default {
  async fetch(request: Request, env: WakeEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ ok: true });
    const kind = url.searchParams.get("kind") ?? "lobby";
    const name = url.searchParams.get("name") ?? "wake";
    return env.HOLDER.get(env.HOLDER.idFromName(`${kind}:${name}`)).fetch(request);
  },
} satisfies ExportedHandler<WakeEnv>;
