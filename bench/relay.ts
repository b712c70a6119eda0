// The zero-logic baseline for `npm run bench`: the Lobby's hibernation API with none of its rules.
// A socket's first frame is its name (one frame back), its second frame puts it in the pairing queue (two
// consecutive arrivals are paired and each is told, one frame), and from then on every frame goes to the partner
// verbatim: no parsing, no validation, no rate limit, no storage. Only attachments, so it survives hibernation.

import { DurableObject } from "cloudflare:workers";
import { closeQuietly, sendQuietly } from "../src/sockets";

interface RelayAttachment {
  /** Also the socket's tag, so a partner can be found again after hibernation. */
  id: string;
  name: string | null;
  /** "named": logged in; "queued": waiting for a partner; "paired": relaying. */
  stage: "new" | "named" | "queued" | "paired";
  partner: string | null;
}

export class Relay extends DurableObject {
  private readonly partners = new Map<WebSocket, WebSocket>();
  private waiting: WebSocket | null = null;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    for (const ws of ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as RelayAttachment | null;
      if (att?.stage === "queued") this.waiting = ws;
      if (att?.stage !== "paired" || !att.partner) continue;
      const partner = ctx.getWebSockets(att.partner)[0];
      if (partner) this.partners.set(ws, partner);
    }
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return new Response("WebSocket only\n", { status: 426 });
    const { 0: client, 1: server } = new WebSocketPair();
    const id = crypto.randomUUID();
    this.ctx.acceptWebSocket(server, [id]);
    server.serializeAttachment({ id, name: null, stage: "new", partner: null } satisfies RelayAttachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const partner = this.partners.get(ws);
    if (partner) return sendQuietly(partner, message);
    const att = ws.deserializeAttachment() as RelayAttachment;
    if (att.stage === "new") {
      att.name = typeof message === "string" ? message : "?";
      att.stage = "named";
      ws.serializeAttachment(att);
      return sendQuietly(ws, `hello ${att.name}`);
    }
    if (att.stage !== "named") return;
    const other = this.waiting;
    if (!other || other === ws) {
      this.waiting = ws;
      att.stage = "queued";
      return ws.serializeAttachment(att);
    }
    this.waiting = null;
    const otherAtt = other.deserializeAttachment() as RelayAttachment;
    att.stage = otherAtt.stage = "paired";
    att.partner = otherAtt.id;
    otherAtt.partner = att.id;
    ws.serializeAttachment(att);
    other.serializeAttachment(otherAtt);
    this.partners.set(ws, other);
    this.partners.set(other, ws);
    sendQuietly(other, `paired ${att.name}`);
    sendQuietly(ws, `paired ${otherAtt.name}`);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.forget(ws);
    if (code !== 1005 && code !== 1006 && code !== 1015) closeQuietly(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.forget(ws);
    closeQuietly(ws, 1011, "socket error");
  }

  private forget(ws: WebSocket): void {
    const partner = this.partners.get(ws);
    this.partners.delete(ws);
    if (partner) this.partners.delete(partner);
    if (this.waiting === ws) this.waiting = null;
  }
}
