// Which browser origins may open a socket: the defence against cross-site WebSocket hijacking.

/**
 * `allowed` is ALLOWED_ORIGINS: origins separated by commas or spaces, or `*`. Unset or empty allows every origin
 * (the open default suits a public chat; set it when the web client should be the only browser client). The
 * worker's own origin is always allowed, and so is a request with no Origin header: browsers always send one,
 * so its absence means a non-browser client (wscat, a program), which cross-site hijacking cannot use.
 */
export function originAllowed(origin: string | undefined, self: string, allowed: string | undefined): boolean {
  if (!origin || origin === self) return true;
  const list = (allowed ?? "").split(/[\s,]+/).filter(Boolean);
  if (list.length === 0 || list.includes("*")) return true;
  return list.some((entry) => entry.replace(/\/+$/, "").toLowerCase() === origin.toLowerCase());
}
