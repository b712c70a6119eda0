// The Lobby's one alarm (no setTimeout in a Durable Object: it would keep it from hibernating). Which time to set,
// when to leave it alone, and whether a firing needs the whole lobby or only hands heartbeats back to the runtime.
// The times themselves come from timers.ts (nextAlarm) and keepalive.ts (quietDue); this keeps the books.

/** The three calls of the runtime's storage that an alarm needs (a fake one in test/alarm.test.ts). */
export type AlarmStorage = Pick<DurableObjectStorage, "getAlarm" | "setAlarm" | "deleteAlarm">;

/**
 * The alarm is derived state: every rebuild (a wake, a restart) sets it again from the rows and the sockets. So
 * its write need not hold back the frames sent in the same turn until it is on disk, as a storage write otherwise
 * does: the first chat line after a quiet spell, which sets the heartbeat hand-over alarm, went out 18-70 ms
 * after a wake instead of 13-21 (bench/wake.mjs, 1,000 sockets).
 */
const UNGATED = { allowUnconfirmed: true } as const;

export class AlarmClock {
  /** The alarm as set; null: none. */
  private at: number | null = null;
  /**
   * Set only while the alarm was moved earlier for the heartbeat hand-over before the lobby was rebuilt: the
   * lobby's own next timer, which the alarm stood at before (null: it had none). Undefined: the alarm set is the
   * lobby's own.
   */
  private lobbyAt: number | null | undefined;

  constructor(private readonly storage: AlarmStorage) {}

  /** At a wake: the alarm the object had before it slept. */
  async load(): Promise<void> {
    this.at = await this.storage.getAlarm();
  }

  /** The lobby was rebuilt: the next `want` sets its timers from scratch. */
  rebuilt(): void {
    this.lobbyAt = undefined;
  }

  /**
   * Before a rebuild only the heartbeat hand-over (`quiet`) can have changed, and the alarm already set covers every
   * other timer: the alarm may only move earlier, remembering the lobby's own time.
   */
  handOverAt(quiet: number | null): void {
    if (quiet === null || (this.at !== null && quiet >= this.at)) return;
    if (this.lobbyAt === undefined) this.lobbyAt = this.at;
    this.set(quiet);
  }

  /** Whether the alarm firing now is only the hand-over, with none of the lobby's own timers due (no rebuild). */
  onlyHandOver(now: number): boolean {
    return this.lobbyAt !== undefined && (this.lobbyAt === null || now < this.lobbyAt);
  }

  /** The hand-over ran: the next one if the talk goes on and it comes first, else the lobby's own timer again. */
  handedOver(quiet: number | null): void {
    const lobbyAt = this.lobbyAt ?? null;
    if (quiet !== null && (lobbyAt === null || quiet < lobbyAt)) this.at = quiet;
    else [this.at, this.lobbyAt] = [lobbyAt, undefined];
    if (this.at !== null) void this.storage.setAlarm(this.at, UNGATED);
  }

  /**
   * After a rebuild: the alarm for the earliest timer, `want` (null: none). Between timer runs it only moves
   * earlier, so that a busy lobby does not rewrite it at every frame; a timer run (`exact`) sets it as it is.
   */
  want(want: number | null, exact: boolean): void {
    if (want === null ? !exact || this.at === null : !exact && this.at !== null && this.at <= want) return;
    this.set(want);
  }

  private set(at: number | null): void {
    this.at = at;
    void (at === null ? this.storage.deleteAlarm() : this.storage.setAlarm(at, UNGATED));
  }
}
