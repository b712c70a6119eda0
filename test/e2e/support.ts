// Node-side sockets (the `ws` package) wrapped as test Peers, for tests against a running wrangler dev.

import WebSocket from "ws";
import { JSON_SUBPROTOCOL } from "../../public/wire/protocol.js";
import { Peer, type SocketLike } from "../support/peer.ts";

export async function connect(wsUrl: string, label: string, opts: { json?: boolean; deflate?: boolean } = {}) {
  const ws = new WebSocket(wsUrl, opts.json ? [JSON_SUBPROTOCOL] : [], { perMessageDeflate: opts.deflate ?? false });
  const peer = new Peer(label, ws as unknown as SocketLike);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return Object.assign(peer, { raw: ws });
}

export async function login(wsUrl: string, name: string) {
  const peer = await connect(wsUrl, name);
  await peer.expect("username");
  peer.send(name);
  await peer.expect(`Welcome, ${name}`);
  await peer.expect("Commands:");
  return peer;
}

/** Logs in two users and connects them (the first asks, the second says y); returns both, greetings consumed. */
export async function chatting(wsUrl: string, a: string, b: string) {
  const pa = await login(wsUrl, a);
  const pb = await login(wsUrl, b);
  pa.send(`connect ${b}`);
  await pb.expect(`${a} is trying to connect with you (y/n)`);
  pb.send("y");
  await pa.until(`You are now connected with ${b}`);
  await pb.expect(`You are now connected with ${a}`);
  return [pa, pb] as const;
}
