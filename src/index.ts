// The worker: a Hono app that hands WebSocket upgrades to the Lobby Durable Object and serves the web client.

import { type Context, Hono } from "hono";
import type { Env } from "./env";
import { readDirectoryConfig } from "./config";
import { HOME_HEADER, homeName } from "./homes";
import { originAllowed } from "./origins";

export { Directory } from "./directory";
export { Lobby } from "./lobby";

/** Lobby names share the username alphabet; the default is the one lobby everybody meets in. */
const LOBBY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const DEFAULT_LOBBY = "lobby";

/**
 * Whether `?lobby=NAME` may be used: every name is a Durable Object of its own, so an open door would let anyone
 * create objects by the thousand. LOBBY_NAMES lists the names allowed, an entry ending in `*` allowing a prefix
 * and `*` alone any name; unset, only the default lobby exists.
 */
export function lobbyAllowed(name: string, allowed: string | undefined): boolean {
  if (name === DEFAULT_LOBBY) return true;
  return (allowed ?? "")
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((entry) => (entry.endsWith("*") ? name.startsWith(entry.slice(0, -1)) : name === entry));
}

/**
 * Which of `homes` homes a new socket goes to: the one `?home=` names (a test placing users, or a client going back
 * to the home it had), else one at random. Any home serves anyone: the choice only spreads the sockets.
 */
export function homeFor(asked: string | undefined, homes: number, random: () => number = Math.random): number {
  const k = asked !== undefined && /^\d{1,4}$/.test(asked) ? Number(asked) : NaN;
  return k < homes ? k : Math.min(homes - 1, Math.floor(random() * homes));
}

/**
 * The Lobby the request names, with the request to give it, or a response saying why there is none. With HOMES > 1
 * the lobby is spread over that many home objects (src/homes.ts), and the one chosen is told who it is.
 */
function lobbyOf(c: Context<{ Bindings: Env }>): { stub: DurableObjectStub; request: Request } | Response {
  const lobby = c.req.query("lobby") ?? DEFAULT_LOBBY;
  if (!LOBBY_NAME.test(lobby)) return c.text("A lobby name is 1-64 letters, digits, _ - or .\n", 400);
  if (!lobbyAllowed(lobby, c.env.LOBBY_NAMES)) return c.text(`There is no lobby called ${lobby} here\n`, 404);
  const { homes } = readDirectoryConfig(c.env);
  if (homes === 1) return { stub: c.env.LOBBY.get(c.env.LOBBY.idFromName(lobby)), request: c.req.raw };
  const k = homeFor(c.req.query("home"), homes);
  const request = new Request(c.req.raw);
  request.headers.set(HOME_HEADER, JSON.stringify({ ns: lobby, k, homes }));
  return { stub: c.env.LOBBY.get(c.env.LOBBY.idFromName(homeName(lobby, k))), request };
}

const app = new Hono<{ Bindings: Env }>();

app.get("/ws", (c) => {
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    return c.text(
      "This is Parley's WebSocket endpoint. Connect with a WebSocket client, e.g.\n  wscat -c ws://<host>/ws\n" +
        "or open / in a browser.\n",
      426,
    );
  }
  if (!originAllowed(c.req.header("Origin"), new URL(c.req.url).origin, c.env.ALLOWED_ORIGINS)) {
    return c.text("This origin may not open a Parley socket (see ALLOWED_ORIGINS)\n", 403);
  }
  const to = lobbyOf(c);
  // Forward the raw upgrade: the Lobby accepts the socket itself, which is what lets it hibernate.
  return to instanceof Response ? to : to.stub.fetch(to.request);
});

// Whether this address may open a socket now, and if not why: a browser's WebSocket cannot read the status of a
// refused upgrade, so the web client asks here after a failed connection.
app.get("/ws/admission", (c) => {
  const to = lobbyOf(c);
  return to instanceof Response ? to : to.stub.fetch(to.request);
});

app.get("/health", (c) => c.json({ ok: true }));

app.notFound((c) => (c.env.ASSETS ? c.env.ASSETS.fetch(c.req.raw) : c.text("Not found\n", 404)));

export default app;
