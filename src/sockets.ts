// The accepted sockets, from accept to close event: their attachments, the caps they count toward, their rate
// budgets and unread output, and the one guarded way a frame leaves. The Lobby asks; this keeps the books.

import { Admission, addressKey } from "./admission";
import type { Config } from "./config";
import { type Bucket, fullBucket } from "./rate-limit";
import type { Route } from "./relay";
import type { SavedSession } from "./rules";
import { TYPING_LIMIT } from "./screen";
import { type Unread, answered, checkSent, checkToken, counted, noneUnread } from "./unread";
import { CloseCode, type Dialect, JSON_SUBPROTOCOL, validCloseCode } from "../public/wire/protocol.js";
import { render } from "../public/wire/text.js";

/** What a socket carries through hibernation (serializeAttachment, at most 16 KiB; this is ~200 bytes). */
export interface Attachment extends SavedSession {
  dialect: Dialect;
  /** Last time the client sent a frame, refreshed at most every few seconds (see `heard`). */
  heardAt: number;
  /** The client has sent a heartbeat that the Lobby answered itself (the runtime keeps its own timestamp). */
  pinged?: true;
  /** The client's address (CF-Connecting-IP), for the caps; null where none is known. */
  ip: string | null;
  /** The socket has left: it never comes back as a user, however long its client ignores our close. */
  gone?: true;
  /**
   * Where its chat lines go: the partner's socket (its sid, which is also that socket's tag), while both are in a
   * chat on a socket. A Lobby just woken from hibernation relays a chat line from this and the partner's
   * attachment alone, without rebuilding the whole lobby (routes.ts).
   */
  to?: string;
  /** Homes: this socket's user is visiting home `at` (homes.ts): its frames go there, its record is there. */
  at?: number;
}

/** One accepted socket. Its buckets, unread count and route are memory only: a wake starts them afresh. */
export interface Conn {
  ws: WebSocket;
  att: Attachment;
  addr: string | null;
  buckets: { main: Bucket; typing: Bucket };
  unread: Unread;
  /** Where its chat lines go, as of the Lobby's step `routeAt` (a route changes only when a step changes something). */
  route?: Route<Conn> | null;
  routeAt?: number;
  /** Found before the Lobby rebuilt (`adopt`): not yet counted toward the caps. */
  adopted?: true;
  /** Homes: the socket's user is being looked up or claimed elsewhere; its frames wait here, in order, till then. */
  waiting?: [string, boolean][];
  /** Homes: where a user leaving this home (Input `leave_for`) goes, and what for. */
  bound?: { k: number; action?: import("../public/wire/protocol.js").Action; hops: number };
  /** Homes: a visitor (its socket is on another home). */
  remote?: true;
  /** Homes: how many homes the connect it arrived with has already been through. */
  hops?: number;
}

export class Sockets {
  readonly admission: Admission;
  private readonly bySid = new Map<string, Conn>();
  private readonly byWs = new WeakMap<WebSocket, Conn>();
  /** Sockets to close once the current delivery is done (a send failed, or a reader fell too far behind). */
  private readonly doomed: [Conn, number, string][] = [];
  /** Live JSON sockets: presence is collected only while there is someone to push it to. */
  jsonCount = 0;

  constructor(
    private readonly ctx: Pick<DurableObjectState, "acceptWebSocket" | "getWebSockets">,
    private readonly config: Config,
  ) {
    this.admission = new Admission(config);
  }

  /** Accept a new socket, tagged with its session id: a woken Lobby finds a partner's socket by it (routes.ts). */
  accept(ws: WebSocket, att: Attachment): Conn {
    this.ctx.acceptWebSocket(ws, [att.sid]);
    return this.track(ws, att)!;
  }

  /** Every socket the runtime holds, tracked (at a rebuild): those that have not left. */
  trackAll(): Conn[] {
    const live: Conn[] = [];
    for (const ws of this.ctx.getWebSockets()) {
      const conn = this.track(ws);
      if (conn && !conn.att.gone) live.push(conn);
    }
    return live;
  }

  /** The socket tagged with this session id, as the runtime has it. */
  tagged(sid: string): WebSocket | undefined {
    return this.ctx.getWebSockets(sid)[0];
  }

  /** A socket just accepted, or found at a rebuild (`att` read from it then): known, and counted toward the caps. */
  track(ws: WebSocket, att?: Attachment): Conn | undefined {
    const conn = att ? this.make(ws, att) : this.adopt(ws);
    if (!conn) return undefined;
    delete conn.adopted;
    this.admission.opened(conn.addr);
    if (!conn.att.gone && conn.att.dialect === "json") this.jsonCount++;
    return conn;
  }

  /**
   * A socket met before the Lobby rebuilt (a chat line that woke it, or its partner): known here, with its
   * attachment, and counted toward the caps only when the rebuild tracks it.
   */
  adopt(ws: WebSocket): Conn | undefined {
    const known = this.of(ws);
    if (known) return known.adopted ? known : undefined;
    const att = ws.deserializeAttachment() as Attachment | null;
    if (!att) return undefined;
    const conn = this.make(ws, att);
    conn.adopted = true;
    return conn;
  }

  private make(ws: WebSocket, att: Attachment): Conn {
    const buckets = { main: fullBucket(this.config, att.heardAt), typing: fullBucket(TYPING_LIMIT, att.heardAt) };
    const conn: Conn = { ws, att, addr: addressKey(att.ip), buckets, unread: noneUnread() };
    this.bySid.set(att.sid, conn);
    this.byWs.set(ws, conn);
    return conn;
  }

  /** A visitor, whose socket is on another home (homes.ts): known by its sid, counted toward no cap. */
  visiting(ws: WebSocket, att: Attachment): Conn {
    const conn = this.make(ws, att);
    conn.remote = true;
    return conn;
  }

  /** A visitor that left, or moved on. */
  forget(conn: Conn): void {
    if (this.bySid.get(conn.att.sid) === conn) this.bySid.delete(conn.att.sid);
  }

  of(ws: WebSocket): Conn | undefined {
    return this.byWs.get(ws) ?? this.bySid.get((ws.deserializeAttachment() as Attachment | null)?.sid ?? "");
  }

  get(sid: string): Conn | undefined {
    return this.bySid.get(sid);
  }

  all(): Conn[] {
    return [...this.bySid.values()];
  }

  get size(): number {
    return this.bySid.size;
  }

  /** Its close event came: it stops counting toward the caps. The socket, the first time only. */
  release(ws: WebSocket): Conn | undefined {
    const conn = this.of(ws);
    if (!conn || this.bySid.get(conn.att.sid) !== conn) return undefined;
    this.bySid.delete(conn.att.sid);
    this.admission.closed(conn.addr);
    return conn;
  }

  /** It has left (its session ended): it stays counted until its close event, but is never a user again. */
  depart(conn: Conn): void {
    if (conn.att.gone) return;
    conn.att.gone = true;
    if (conn.att.dialect === "json" && !conn.remote) this.jsonCount--;
    this.save(conn);
  }

  /** What the rules say a socket's session now is; null: it has left. */
  saveSession(conn: Conn, saved: Omit<SavedSession, "sid"> | null): void {
    if (!saved) return this.depart(conn);
    Object.assign(conn.att, saved);
    this.save(conn);
  }

  /** The sockets that hear presence: logged-in JSON clients. */
  listeners(): Conn[] {
    return this.all().filter((c) => c.att.dialect === "json" && c.att.key && !c.att.gone && !c.remote && c.att.at === undefined);
  }

  save(conn: Conn): void {
    try {
      conn.ws.serializeAttachment(conn.att);
    } catch {
      // The socket is closing; its close event will follow.
    }
  }

  /** The client spoke: written to the attachment at most every quarter of the heartbeat timeout, or on a first ping. */
  heard(conn: Conn, now: number, ping: boolean): void {
    if ((!ping || conn.att.pinged) && now - conn.att.heardAt < this.config.heartbeatTimeoutMs / 4) return;
    conn.att.heardAt = now;
    if (ping) conn.att.pinged = true;
    this.save(conn);
  }

  /**
   * The one way a frame leaves: guarded (a throw means the socket is gone) and counted (unread.ts). A socket that
   * fails, or falls too far behind, is doomed: the Lobby closes it once the current delivery is done, so that no
   * caller sees the state change under it.
   */
  send(conn: Conn, frame: string): void {
    if (frame === "" || conn.att.gone) return;
    try {
      conn.ws.send(frame);
    } catch {
      this.doomed.push([conn, CloseCode.socketError, "send failed"]);
      return;
    }
    const verdict = counted(conn.unread, frame.length, this.config.maxUnreadBytes);
    if (verdict === "over") this.doomed.push([conn, CloseCode.notReading, "not reading"]);
    else if (verdict === "check") {
      const token = checkToken(conn.att.dialect);
      checkSent(conn.unread, token);
      this.send(conn, render({ type: "check", token, unread: conn.unread.sent }, conn.att.dialect));
    }
  }

  /** The next socket a delivery doomed, with the code and reason to close it with. */
  nextDoomed(): [Conn, number, string] | undefined {
    return this.doomed.shift();
  }

  /** The client echoed a check's token (unread.ts). */
  checked(conn: Conn, token: string): ReturnType<typeof answered> {
    return answered(conn.unread, token);
  }
}

/**
 * Finish the closing handshake a client began, or the socket stays half open for as long as the client likes: echo
 * a code a client may send, answer one it may not with 1002. Unclean is a connection that ended without a close
 * frame: nothing left to answer. 1005 is how the runtime reports a close frame with no code (valid, answered with
 * none; a literal 1005 or a one-byte payload look the same to us).
 */
export function answerClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): void {
  if (!wasClean) return;
  if (code === 1005) closeQuietly(ws);
  else if (validCloseCode(code)) closeQuietly(ws, code, reason);
  else closeQuietly(ws, CloseCode.protocolError, "invalid close code");
}

/**
 * Whether a socket we close may be resumed: only one closed for its network's sake (a send that failed, a
 * heartbeat that stopped), not one closed for what its client did (a flood, not reading, idle).
 */
export function resumableClose(code: number): boolean {
  return code === CloseCode.heartbeatTimeout || code === CloseCode.socketError;
}

/** The dialect a handshake asks for: JSON if it offers Parley's subprotocol, else text (wscat). */
export function offeredDialect(request: Request): Dialect {
  return (request.headers.get("Sec-WebSocket-Protocol") ?? "").split(",").some((p) => p.trim() === JSON_SUBPROTOCOL) ? "json" : "text";
}

export function closeQuietly(ws: WebSocket, code?: number, reason?: string): void {
  try {
    if (code === undefined) ws.close();
    else ws.close(code, reason);
  } catch {
    // Already closed, or the code was not ours to send: nothing left to do.
  }
}

/** A send where the socket may be gone: its close event (or, for the Lobby, the next send to it) cleans up. */
export function sendQuietly(ws: WebSocket, frame: string | ArrayBuffer): void {
  try {
    ws.send(frame);
  } catch {
    // gone
  }
}
