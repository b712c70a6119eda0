// Opens sockets on chosen homes of a namespace (`/ws?lobby=NS&home=K`), so that a test puts the people of one
// scenario on different Lobby objects on purpose. With HOMES unset (one Lobby) the server ignores `home`, and the
// same test pins what one Lobby says; with HOMES>1 it must say exactly that.

import { SELF, env, runInDurableObject } from "cloudflare:test";
import { afterEach } from "vitest";
import { JSON_SUBPROTOCOL } from "../../public/wire/protocol.js";
import type { Attachment, Lobby } from "../../src/lobby";
import { Peer } from "./peer";

export { freshLobby } from "./lobby";

const opened: Peer[] = [];

// Close what each test opened, so no socket outlives its test (workerd logs a disconnect for each one left).
afterEach(() => {
  for (const peer of opened.splice(0)) if (!peer.closed) peer.close(1000, "test over");
});

/** How many homes the worker spreads a namespace over in this project (HOMES; 1 when unset: one Lobby). */
export function modeHomes(): number {
  return Number((env as { HOMES?: string }).HOMES ?? "1");
}

/** The homes a placement spreads people over: the project's, or four when there is one Lobby (then ignored). */
const spread = () => (modeHomes() > 1 ? modeHomes() : 4);

/** The four people of the seed's scenarios, each on a home of their own. */
const PLACED: Record<string, number> = { alice: 0, bob: 1, carol: 2, dave: 3 };

/** The home a user is put on: alice 0, bob 1, carol 2, dave 3; anyone else by a sum of their name's code units. */
export function homeOf(name: string): number {
  const placed = PLACED[name.toLowerCase()];
  if (placed !== undefined) return placed % spread();
  let sum = 0;
  for (let i = 0; i < name.length; i++) sum += name.charCodeAt(i);
  return sum % spread();
}

export type OpenOptions = {
  json?: boolean;
  /** The client does not answer the server's close frame, so what a partner hears comes from the drop itself. */
  halfOpen?: boolean;
};

/** Opens a socket on home `home` of namespace `ns` (through the worker, as a client would). */
export async function openOn(ns: string, home: number, label: string, opts: OpenOptions = {}): Promise<Peer> {
  const headers: Record<string, string> = { Upgrade: "websocket" };
  if (opts.json) headers["Sec-WebSocket-Protocol"] = JSON_SUBPROTOCOL;
  const res = await SELF.fetch(`http://parley.test/ws?lobby=${ns}&home=${home}`, { headers });
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade on home ${home} failed: ${res.status} ${await res.text()}`);
  const ws = res.webSocket;
  const peer = new Peer(label, ws);
  opened.push(peer);
  ws.accept(opts.halfOpen ? { allowHalfOpen: true } : undefined);
  return peer;
}

/** Opens a text-dialect socket on `home` and logs in as `name`, consuming the greeting. */
export async function loginOn(ns: string, home: number, name: string, opts: OpenOptions = {}): Promise<Peer> {
  const peer = await openOn(ns, home, name, opts);
  await peer.expect("Please enter a username:");
  peer.send(name);
  await peer.expect(`Welcome, ${name}!`);
  await peer.expect("Commands:");
  return peer;
}

/** Logs `name` in on the home the placement gives it (homeOf). */
export function user(ns: string, name: string, opts: OpenOptions = {}): Promise<Peer> {
  return loginOn(ns, homeOf(name), name, opts);
}

/** `a` asks `b` (each on its own home), both told; returns [requester, target]. */
export async function requestedAcross(ns: string, a: string, b: string, opts: { b?: OpenOptions; a?: OpenOptions } = {}): Promise<[Peer, Peer]> {
  const pa = await user(ns, a, opts.a);
  const pb = await user(ns, b, opts.b);
  pa.send(`connect ${b}`);
  await pb.expect(`${a} is trying to connect with you (y/n)`);
  await pa.expect(`Waiting for ${b} to answer`);
  return [pa, pb];
}

/** `a` and `b`, each on its own home, in a chat; returns [requester, target]. */
export async function chattingAcross(ns: string, a: string, b: string, opts: { b?: OpenOptions; a?: OpenOptions } = {}): Promise<[Peer, Peer]> {
  const [pa, pb] = await requestedAcross(ns, a, b, opts);
  pb.send("y");
  await pb.expect(`You are now connected with ${a}`);
  await pa.expect(`You are now connected with ${b}`);
  return [pa, pb];
}

/** The Lobby object that holds home `home` of `ns`: `NS#home-<k>` with several homes, `NS` itself with one. */
export function homeStub(ns: string, home: number): DurableObjectStub<Lobby> {
  const name = modeHomes() > 1 ? `${ns}#home-${home}` : ns;
  return env.LOBBY.get(env.LOBBY.idFromName(name));
}

/** The names logged in on the sockets that the Lobby object of home `home` holds (as their attachments say). */
export function namesOn(ns: string, home: number): Promise<string[]> {
  return runInDurableObject(homeStub(ns, home), (_instance: Lobby, state) =>
    state.getWebSockets().flatMap((w) => {
      const key = (w.deserializeAttachment() as Attachment | null)?.key;
      return key ? [key] : [];
    }),
  );
}

/**
 * Breaks `name`'s socket under its home, as a reset connection does: the runtime reports an error for the socket
 * and no close frame comes. (workerd's test client cannot cut its own connection without a close frame.)
 */
export function dropOn(ns: string, home: number, name: string): Promise<void> {
  return runInDurableObject(homeStub(ns, home), async (instance: Lobby, state) => {
    const ws = state.getWebSockets().find((w) => (w.deserializeAttachment() as Attachment | null)?.key === name.toLowerCase());
    if (!ws) throw new Error(`home ${home} of ${ns} has no server socket for ${name}`);
    await instance.webSocketError(ws, new Error("connection reset"));
  });
}

/**
 * Runs every home's timers at `now`, as their alarms would when that time comes (the request timeout is 60 s in
 * wrangler.toml, too long to wait for). Every home, because which one keeps a request's deadline is the server's
 * business.
 */
export async function runTimersEverywhere(ns: string, now: number): Promise<void> {
  const homes = modeHomes() > 1 ? modeHomes() : 1;
  for (let k = 0; k < homes; k++) await runInDurableObject(homeStub(ns, k), (instance: Lobby) => instance.runTimers(now));
}

/** `a` asks `b` and `b` accepts; then a line each way proves the chat works. */
export async function chatWorks(a: Peer, b: Peer): Promise<void> {
  a.send(`connect ${b.label}`);
  await a.expect(`Waiting for ${b.label} to answer`); // first: a failure then shows what the requester was told
  await b.expect(`${a.label} is trying to connect with you (y/n)`);
  await accepted(a, b);
}

/** `b`, asked by `a`, says y; both are told and a line goes each way. */
export async function accepted(a: Peer, b: Peer): Promise<void> {
  b.send("y");
  await b.expect(new RegExp(`^You are now connected with ${a.label}$`));
  await a.expect(new RegExp(`^You are now connected with ${b.label}$`));
  a.send(`hello ${b.label}`);
  await b.expect(new RegExp(`^${a.label}: hello ${b.label}$`));
  b.send(`hello ${a.label}`);
  await a.expect(new RegExp(`^${b.label}: hello ${a.label}$`));
}

/** `peer`'s `list`, as its entry lines. */
export async function listed(peer: Peer): Promise<string[]> {
  peer.send("/list");
  const total = Number((await peer.expect(/^\d+ online:$/)).split(" ")[0]);
  const lines: string[] = [];
  for (let i = 0; i < total; i++) lines.push(await peer.expect(/^  /));
  return lines;
}

/** The distinct Lobby objects of a namespace in this project: four homes, or the one Lobby. */
export const lobbies = () => (modeHomes() > 1 ? Array.from({ length: modeHomes() }, (_, k) => k) : [0]);

/** Every name logged in across the namespace, once per socket that holds it. */
export async function everyName(ns: string): Promise<string[]> {
  return (await Promise.all(lobbies().map((k) => namesOn(ns, k)))).flat();
}
