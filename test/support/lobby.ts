// Opens real WebSockets to the worker (SELF) inside the Workers test runtime, each test in a fresh lobby.

import { SELF, env, runInDurableObject } from "cloudflare:test";
import { afterEach, expect } from "vitest";
import { JSON_SUBPROTOCOL } from "../../public/wire/protocol.js";
import type { Attachment, Lobby } from "../../src/lobby";
import type { Conn, Sockets } from "../../src/sockets";
import { Peer } from "./peer";
import type { ServerEvent } from "../../public/wire/protocol.js";
import type { Input } from "../../src/rules";

const opened: Peer[] = [];

// Close what each test opened, so no socket outlives its test (workerd logs a disconnect for each one left).
afterEach(() => {
  for (const peer of opened.splice(0)) if (!peer.closed) peer.close(1000, "test over");
});

export function freshLobby(): string {
  return `t-${crypto.randomUUID()}`;
}

export async function open(
  lobby: string,
  label: string,
  /** `halfOpen`: the client does not answer the server's close frame (as a misbehaving client may not). */
  opts: { json?: boolean; headers?: Record<string, string>; halfOpen?: boolean } = {},
): Promise<Peer> {
  const headers: Record<string, string> = { Upgrade: "websocket", ...opts.headers };
  if (opts.json) headers["Sec-WebSocket-Protocol"] = JSON_SUBPROTOCOL;
  const res = await SELF.fetch(`http://parley.test/ws?lobby=${lobby}`, { headers });
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  const ws = res.webSocket;
  const peer = new Peer(label, ws);
  opened.push(peer);
  ws.accept(opts.halfOpen ? { allowHalfOpen: true } : undefined);
  return peer;
}

/** Opens a text-dialect socket and logs in as `name`, consuming the greeting. */
export async function login(lobby: string, name: string, opts: Parameters<typeof open>[2] = {}): Promise<Peer> {
  const peer = await open(lobby, name, opts);
  await peer.expect("username");
  peer.send(name);
  await peer.expect(`Welcome, ${name}`);
  await peer.expect("Commands:");
  return peer;
}

/** Logs in two users and has the first ask the second, both told; returns [requester, target]. */
export async function requested(lobby: string, a: string, b: string): Promise<[Peer, Peer]> {
  const pa = await login(lobby, a);
  const pb = await login(lobby, b);
  pa.send(`connect ${b}`);
  await pb.expect(`${a} is trying to connect with you (y/n)`);
  await pa.expect(`Waiting for ${b}`);
  return [pa, pb];
}

/** Logs in two users and connects them; returns [requester, target]. */
export async function chatting(lobby: string, a: string, b: string): Promise<[Peer, Peer]> {
  const [pa, pb] = await requested(lobby, a, b);
  pb.send("y");
  await pa.expect(`You are now connected with ${b}`);
  await pb.expect(`You are now connected with ${a}`);
  return [pa, pb];
}

export function lobbyStub(lobby: string): DurableObjectStub<Lobby> {
  return env.LOBBY.get(env.LOBBY.idFromName(lobby));
}

/** Runs `fn` inside the Lobby with the server side of the socket that `name` is logged in on. */
export function withServerSocket<R>(
  lobby: string,
  name: string,
  fn: (instance: Lobby, ws: WebSocket, state: DurableObjectState) => R | Promise<R>,
): Promise<R> {
  return runInDurableObject(lobbyStub(lobby), (instance: Lobby, state) => {
    const ws = state.getWebSockets().find((w) => (w.deserializeAttachment() as Attachment | null)?.key === name.toLowerCase());
    if (!ws) throw new Error(`no server socket for ${name}`);
    return fn(instance, ws, state);
  });
}

/**
 * Runs `fn` inside the Lobby with its own bookkeeping of the socket `name` is logged in on (sockets.ts): for tests
 * that must break a send, or move a socket's clock back.
 */
export function withConn<R>(lobby: string, name: string, fn: (instance: Lobby, conn: Conn) => R | Promise<R>): Promise<R> {
  return runInDurableObject(lobbyStub(lobby), (instance: Lobby) => {
    const sockets = (instance as unknown as { sockets: Sockets }).sockets;
    const conn = sockets.all().find((c) => c.att.key === name.toLowerCase() && !c.att.gone);
    if (!conn) throw new Error(`the Lobby has no socket for ${name}`);
    return fn(instance, conn);
  });
}

/**
 * An input to the pure rules as the Lobby makes it for a socket of this dialect: a JSON socket may resume (and
 * gets a fresh credential at login), and a socket that closes may come back. For model-vs-socket tests.
 */
export function asTheLobby(input: Input, json: boolean, fresh: () => string): Input {
  if (!json) return input;
  if (input.type === "open") return { ...input, resumable: true };
  if (input.type === "gone") return { ...input, resumable: true };
  if (input.type === "action" && (input.action.type === "login" || input.action.type === "resume")) return { ...input, fresh: fresh() };
  return input;
}

/**
 * What a socket is expected to receive for a model's event: the same, but for what the model and the Lobby make
 * up each on its own: a credential (random), and a wait (read from the clock a few milliseconds apart).
 */
export function asReceived(event: ServerEvent): unknown {
  if ((event.type === "welcome" || event.type === "resumed") && event.resume) {
    return { ...event, resume: { ...event.resume, token: expect.any(String) } };
  }
  return "waitMs" in event ? { ...event, waitMs: expect.any(Number) } : event;
}
