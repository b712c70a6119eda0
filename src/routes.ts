// Where a socket's chat lines go: the hot path's one question. After a rebuild the rules say (chatRoute), and the
// answer is kept per socket until a step changes something; before one, the two sockets' attachments say, when
// each names the other. Every step that reroutes a socket writes its route into its attachment
// (Attachment.to), which is what lets a Lobby just woken from hibernation relay a line without the rest of the lobby.

import type { Route } from "./relay";
import { type Dirty, type State, chatRoute } from "./rules";
import type { Attachment, Conn, Sockets } from "./sockets";

export class Routes {
  /** Moved by every step that changed something: a socket's kept route is good while this has not moved. */
  private version = 0;

  constructor(private readonly sockets: Sockets) {}

  changed(): void {
    this.version++;
  }

  /** Where `conn`'s chat lines go, or null; `state` is null before a rebuild. */
  of(conn: Conn, state: State | null): Route<Conn> | null {
    if (conn.routeAt === this.version) return conn.route ?? null;
    conn.route = state ? this.byRules(state, conn.att.sid) : this.byAttachments(conn);
    conn.routeAt = this.version;
    return conn.route;
  }

  private byRules(state: State, sid: string): Route<Conn> | null {
    const route = chatRoute(state, sid);
    const to = route ? this.sockets.get(route.to) : undefined;
    return route && to ? { to, toDialect: to.att.dialect, from: route.from } : null;
  }

  /** Null unless both attachments agree; the line then takes the general path, which rebuilds. */
  private byAttachments(conn: Conn): Route<Conn> | null {
    const ws = conn.att.to ? this.sockets.tagged(conn.att.to) : undefined;
    const partner = ws ? this.sockets.adopt(ws) : undefined;
    return partner && agree(conn.att, partner.att) ? { to: partner, toDialect: partner.att.dialect, from: conn.att.name! } : null;
  }

  /** After a step: write the route of every socket it may have rerouted into that socket's attachment. */
  save(state: State, dirty: Dirty): void {
    for (const sid of rerouted(state, dirty)) {
      const conn = this.sockets.get(sid);
      if (!conn || conn.att.gone) continue;
      const to = chatRoute(state, sid)?.to;
      if (conn.att.to === to) continue;
      if (to) conn.att.to = to;
      else delete conn.att.to;
      this.sockets.save(conn);
    }
  }
}

/**
 * Whether two attachments alone prove a chat: each routes to the other, and the partner is logged in and has not
 * left. A partner who left, went away or moved to another chat no longer names `me`.
 */
export function agree(me: Attachment, partner: Attachment): boolean {
  return !!me.name && me.to === partner.sid && partner.to === me.sid && !!partner.key && !partner.gone;
}

/** The sockets a step may have rerouted: the sessions and users it changed, and their partners. */
export function rerouted(state: State, dirty: Dirty): Set<string> {
  const sids = new Set(dirty.sessions);
  const keys = new Set([...dirty.users, ...dirty.away, ...dirty.links]);
  for (const sid of dirty.sessions) {
    const key = state.sessions.get(sid)?.key;
    if (key) keys.add(key);
  }
  for (const key of keys) {
    const user = state.users.get(key);
    const partner = user?.peer ? state.users.get(user.peer) : undefined;
    if (user?.sid) sids.add(user.sid);
    if (partner?.sid) sids.add(partner.sid);
  }
  return sids;
}
