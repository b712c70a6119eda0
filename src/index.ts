// The worker: a Hono app that hands WebSocket upgrades to the Lobby Durable Object and serves the web client.

import { Hono } from "hono";
import type { Env } from "./env";
import { originAllowed } from "./origins";

export { Lobby } from "./lobby";

/** Lobby names share the username alphabet; the default is the one lobby everybody meets in. */
const LOBBY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const DEFAULT_LOBBY = "lobby";

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
  const lobby = c.req.query("lobby") ?? DEFAULT_LOBBY;
  if (!LOBBY_NAME.test(lobby)) return c.text("A lobby name is 1-64 letters, digits, _ - or .\n", 400);
  // Forward the raw upgrade: the Lobby accepts the socket itself, which is what lets it hibernate.
  const stub = c.env.LOBBY.get(c.env.LOBBY.idFromName(lobby));
  return stub.fetch(c.req.raw);
});

app.get("/health", (c) => c.json({ ok: true }));

app.notFound((c) => (c.env.ASSETS ? c.env.ASSETS.fetch(c.req.raw) : c.text("Not found\n", 404)));

export default app;
