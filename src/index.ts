// The worker: a Hono app that hands WebSocket upgrades to the Lobby Durable Object and serves the web client.

import { type Context, Hono } from "hono";
import type { Env } from "./env";
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

/** The Lobby the request names, or a response saying why there is none. */
function lobbyOf(c: Context<{ Bindings: Env }>): DurableObjectStub | Response {
  const lobby = c.req.query("lobby") ?? DEFAULT_LOBBY;
  if (!LOBBY_NAME.test(lobby)) return c.text("A lobby name is 1-64 letters, digits, _ - or .\n", 400);
  if (!lobbyAllowed(lobby, c.env.LOBBY_NAMES)) return c.text(`There is no lobby called ${lobby} here\n`, 404);
  return c.env.LOBBY.get(c.env.LOBBY.idFromName(lobby));
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
  const stub = lobbyOf(c);
  // Forward the raw upgrade: the Lobby accepts the socket itself, which is what lets it hibernate.
  return stub instanceof Response ? stub : stub.fetch(c.req.raw);
});

// Whether this address may open a socket now, and if not why: a browser's WebSocket cannot read the status of a
// refused upgrade, so the web client asks here after a failed connection.
app.get("/ws/admission", (c) => {
  const stub = lobbyOf(c);
  return stub instanceof Response ? stub : stub.fetch(c.req.raw);
});

app.get("/health", (c) => c.json({ ok: true }));

app.notFound((c) => (c.env.ASSETS ? c.env.ASSETS.fetch(c.req.raw) : c.text("Not found\n", 404)));

export default app;
