// Who hears about whom, and when: status changes batched for JSON clients.
//
// At most one push per interval, whatever the churn, so a burst of n logins costs O(n) frames per interval instead
// of O(n) per login. Up to LIST_LIMIT users online, every JSON client hears every change (its list shows everyone).
// Above that, each hears only about the users its last `list` showed: a burst of n logins would otherwise send
// each of c clients n changes, c × n in all, which is what a reconnect storm after a deploy is. Clients that listed
// between the same changes share a window (every list shows the first 100 names), and a push builds one frame per
// window. Generic over the listener, so it is tested with plain objects.

import { LIST_LIMIT, type PresenceChange, type ServerEvent } from "../public/wire/protocol.js";

/** The users one `list` showed, and the listeners that were shown exactly those. */
interface Window<L> {
  id: string;
  keys: Set<string>;
  listeners: Set<L>;
}

export class Presence<L> {
  /** Changes not yet pushed, by user key; the latest change wins. */
  private readonly pending = new Map<string, PresenceChange>();
  private pushedAt = 0;
  private readonly windows = new Map<string, Window<L>>();
  private readonly windowOf = new Map<L, Window<L>>();

  constructor(private readonly intervalMs: number) {}

  /** A user's status may have changed. */
  changed(key: string, change: PresenceChange): void {
    this.pending.set(key, change);
  }

  /** When the next push is due, or null when nothing is waiting. */
  due(): number | null {
    return this.pending.size > 0 ? this.pushedAt + this.intervalMs : null;
  }

  /** Nobody is listening: drop what is waiting. */
  clear(): void {
    this.pending.clear();
  }

  /**
   * The frames due now, each with who gets it: `everyone` (the listeners with a name) when `online` users fit in
   * one list, else each window's listeners. Empty when nothing is due yet.
   */
  push(now: number, online: number, everyone: () => Iterable<L>): { frame: string; to: Iterable<L> }[] {
    if (this.pending.size === 0 || now - this.pushedAt < this.intervalMs) return [];
    const changes = [...this.pending.entries()];
    this.pending.clear();
    this.pushedAt = now;
    if (online <= LIST_LIMIT) return [{ frame: presenceFrame(changes.map(([, c]) => c)), to: everyone() }];
    const out: { frame: string; to: Iterable<L> }[] = [];
    for (const w of this.windows.values()) {
      const mine = changes.filter(([key]) => w.keys.has(key)).map(([, change]) => change);
      if (mine.length > 0) out.push({ frame: presenceFrame(mine), to: w.listeners });
    }
    return out;
  }

  /** What `listener` watches from now on: the user keys a `list` just showed it, in order ([] to stop). */
  watch(listener: L, keys: readonly string[]): void {
    const old = this.windowOf.get(listener);
    if (old) {
      old.listeners.delete(listener);
      if (old.listeners.size === 0) this.windows.delete(old.id);
      this.windowOf.delete(listener);
    }
    if (keys.length === 0) return;
    const id = keys.join("\n");
    let w = this.windows.get(id);
    if (!w) {
      w = { id, keys: new Set(keys), listeners: new Set() };
      this.windows.set(id, w);
    }
    w.listeners.add(listener);
    this.windowOf.set(listener, w);
  }

  /** Windows in use (for tests: thousands of listeners of the same list share one). */
  windowCount(): number {
    return this.windows.size;
  }
}

function presenceFrame(changes: PresenceChange[]): string {
  return JSON.stringify({ type: "presence", changes } satisfies ServerEvent);
}
