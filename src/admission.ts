// Who may open a socket and try a login: caps per client address and per lobby, and a login bucket per address.
// Pure bookkeeping: the Lobby tells it when a socket is accepted and when its close event comes, and asks it.

import { type Bucket, fullBucket, take } from "./rate-limit";

export interface AdmissionLimits {
  /** Sockets one address may hold, from accept until the socket's close event. */
  maxSocketsPerIp: number;
  /** Sockets the whole lobby may hold (the runtime's own limit is 32,768 per object). */
  maxSocketsPerLobby: number;
  /** Login attempts per address per minute (a bucket of this size, refilled over a minute). */
  loginsPerMinutePerIp: number;
}

/** Why an upgrade is refused: an HTTP status and a sentence a person can act on. */
export interface Refusal {
  status: 429 | 503;
  reason: string;
}

/**
 * The key an address is counted under: an IPv4 address whole, an IPv6 address by its /64. A /64 is what one
 * subscriber gets (RFC 6177), so keying by the full IPv6 address would give each attacker 2^64 fresh budgets.
 * Null when the address is unknown (no CF-Connecting-IP) or is loopback or private: behind Cloudflare the header
 * is always a public address, so those only come from a developer's own machine or network (`npm start` and a
 * local load test), which the caps are not for. Such sockets count only toward the lobby's cap.
 */
export function addressKey(ip: string | null | undefined): string | null {
  const raw = ip?.trim();
  if (!raw) return null;
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(raw);
  if (v4) return privateV4(v4.slice(1).map(Number)) ? null : v4.slice(1).join(".");
  const groups = expandIpv6(raw.replace(/%.*$/, ""));
  if (!groups) return raw.toLowerCase();
  const first = parseInt(groups[0]!, 16);
  // ::1 loopback, fc00::/7 unique local, fe80::/10 link-local
  if (groups.join(":") === "0:0:0:0:0:0:0:1" || (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80) return null;
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/** 127/8 loopback, 10/8, 172.16/12 and 192.168/16 private, 169.254/16 link-local. */
function privateV4([a, b]: number[]): boolean {
  return a === 127 || a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
}

/** The eight 16-bit groups of an IPv6 address, without leading zeros; null when it is not one. */
function expandIpv6(ip: string): string[] | null {
  const halves = ip.toLowerCase().split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4 was handled above; 64:ff9b::1.2.3.4 is rare) counts as two groups.
  const last = tail.length > 0 ? tail : head;
  if (last.length > 0 && last[last.length - 1]!.includes(".")) last.splice(-1, 1, "0", "0");
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => g.replace(/^0+(?=.)/, ""));
}

export class Admission {
  private readonly sockets = new Map<string, number>();
  private total = 0;
  /** Login buckets in least-recently-used order (a Map iterates in insertion order; a use moves a key last). */
  private readonly logins = new Map<string, Bucket>();

  constructor(
    private readonly limits: AdmissionLimits,
    /** Login buckets kept at most; past it the least recently used is forgotten, never everyone's at once. */
    private readonly maxTrackedAddresses = 10_000,
  ) {}

  /** Why a new socket from this address would be refused, or null when it may be accepted. */
  refusal(key: string | null): Refusal | null {
    if (this.total >= this.limits.maxSocketsPerLobby) {
      return { status: 503, reason: "The lobby is full; try again in a few minutes" };
    }
    if (key !== null && (this.sockets.get(key) ?? 0) >= this.limits.maxSocketsPerIp) {
      return {
        status: 429,
        reason: `Too many connections from your address (at most ${this.limits.maxSocketsPerIp}); close one and try again`,
      };
    }
    return null;
  }

  /** A socket was accepted (or found again after a wake). */
  opened(key: string | null): void {
    this.total++;
    if (key !== null) this.sockets.set(key, (this.sockets.get(key) ?? 0) + 1);
  }

  /** A socket's close event came: only now is its slot free (a socket closed by us stays open until then). */
  closed(key: string | null): void {
    this.total = Math.max(0, this.total - 1);
    if (key === null) return;
    const left = (this.sockets.get(key) ?? 1) - 1;
    if (left > 0) this.sockets.set(key, left);
    else this.sockets.delete(key);
  }

  /** Sockets counted for this address (null: the whole lobby). */
  count(key: string | null = null): number {
    return key === null ? this.total : (this.sockets.get(key) ?? 0);
  }

  /** One login attempt from this address, if its bucket allows. */
  mayLogin(key: string | null, now: number): boolean {
    if (key === null) return true;
    const limit = { ratePerSecond: this.limits.loginsPerMinutePerIp / 60, rateBurst: this.limits.loginsPerMinutePerIp };
    let bucket = this.logins.get(key);
    if (bucket) this.logins.delete(key);
    else {
      if (this.logins.size >= this.maxTrackedAddresses) this.logins.delete(this.logins.keys().next().value!);
      bucket = fullBucket(limit, now);
    }
    this.logins.set(key, bucket);
    return take(bucket, now, limit) === "ok";
  }
}

/**
 * The answer to a request that will not become a socket, or null to accept it. /ws/admission asks whether one
 * would be (a browser's WebSocket cannot read why an upgrade was refused); a request that is no upgrade is told
 * how to connect; a refused one is told why before it is accepted, since an accepted socket costs memory until
 * its client lets it go.
 */
export function turnedAway(request: Request, refusal: Refusal | null): Response | null {
  if (new URL(request.url).pathname.endsWith("/admission")) return Response.json(refusal ? { ok: false, ...refusal } : { ok: true });
  if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return new Response("Parley speaks WebSocket here: try `wscat -c ws://<host>/ws`\n", { status: 426 });
  if (refusal) return new Response(`${refusal.reason}\n`, { status: refusal.status, headers: { "Retry-After": "60" } });
  return null;
}
