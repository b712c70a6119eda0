// The homes bench's worker (bench/homes/wrangler.toml; never deployed): the real worker, src/index.ts, in front of a
// Lobby and a Directory that count every call made on them by another object, so that the bench reads the RPCs a
// chat and a line cost between homes instead of deriving them from the design.
//
//   GET /ws?lobby=NAME&home=K       as src/index.ts serves it
//   GET /homes/calls                the counts so far, as JSON: { "notes": 12, "note.input": 40, "lookup": 3, ... }

import type { Env } from "../../src/env";
import { Directory as RealDirectory } from "../../src/directory";
import type { HomeId, Note, Roster } from "../../src/homes";
import { Lobby as RealLobby } from "../../src/lobby";
import app from "../../src/index";

// One isolate runs the worker and every object of it (one workerd, one script), so a module-level count sees the
// calls of all the homes and of the directory shards, and the worker's own fetch can read it.
const calls: Record<string, number> = {};

function count(what: string, n = 1): void {
  calls[what] = (calls[what] ?? 0) + n;
}

/** The real Lobby; each call another home makes on it is counted, and each note a `notes` call carries by its type. */
export class Lobby extends RealLobby {
  override async notes(to: HomeId, from: number, notes: Note[]): Promise<void> {
    count("notes");
    for (const note of notes) count(`note.${note.t}`);
    return super.notes(to, from, notes);
  }

  override roster(to: HomeId, limit: number): Roster {
    count("roster");
    return super.roster(to, limit);
  }

  override present(to: HomeId, sids: string[]): string[] {
    count("present");
    return super.present(to, sids);
  }
}

/** The real Directory; each call a home makes on it is counted. */
export class Directory extends RealDirectory {
  override claim(...args: Parameters<RealDirectory["claim"]>): ReturnType<RealDirectory["claim"]> {
    count("claim");
    return super.claim(...args);
  }

  override renew(...args: Parameters<RealDirectory["renew"]>): ReturnType<RealDirectory["renew"]> {
    count("renew");
    return super.renew(...args);
  }

  override release(...args: Parameters<RealDirectory["release"]>): ReturnType<RealDirectory["release"]> {
    count("release");
    return super.release(...args);
  }

  override lookup(...args: Parameters<RealDirectory["lookup"]>): ReturnType<RealDirectory["lookup"]> {
    count("lookup");
    return super.lookup(...args);
  }
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    if (new URL(request.url).pathname === "/homes/calls") return Response.json(calls);
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
