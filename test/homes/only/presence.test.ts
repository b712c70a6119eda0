// A home holding visitors' records asks their socket homes, at each timer run, whether the sockets are still there
// (a socket home that restarted forgot them, and sends no `gone`). That answer travels beside the socket home's
// ordered notes and may overtake the `gone` that says a socket dropped and its user may resume: the check must not
// end, as a departure, a session whose user is coming back.

import { runInDurableObject } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import type { Attachment } from "../../../src/sockets";
import type { Lobby } from "../../../src/lobby";
import { dropOn, freshLobby, homeOf, homeStub, modeHomes, openOn, runTimersEverywhere, user } from "../../support/homes";

vi.setConfig({ testTimeout: 20_000 });

/** The sid of the socket on `home` logged in as `name`. */
const sidOf = (ns: string, home: number, name: string) =>
  runInDurableObject(homeStub(ns, home), (_instance: Lobby, state) => {
    const att = state.getWebSockets().map((w) => w.deserializeAttachment() as Attachment | null).find((a) => a?.key === name);
    if (!att) throw new Error(`no socket of ${name} on home ${home}`);
    return att.sid;
  });

it("answers for a visitor's socket that just dropped, so that its user's record waits for it to resume", async () => {
  const ns = freshLobby();
  const home = homeOf("alice");
  const alice = await openOn(ns, home, "alice", { json: true });
  await alice.event("ask_name");
  alice.send(JSON.stringify({ type: "login", name: "alice" }));
  await alice.event("welcome");
  const bob = await user(ns, "bob");
  alice.send(JSON.stringify({ type: "connect", to: "bob" })); // alice's record visits bob's home
  await bob.expect("alice is trying to connect with you (y/n)");
  bob.send("y");
  await bob.expect("You are now connected with alice");
  await alice.event("connected");
  const sid = await sidOf(ns, home, "alice");

  await dropOn(ns, home, "alice");
  const id = { ns, k: home, homes: modeHomes() };
  expect(await homeStub(ns, home).present(id, [sid, "a-socket-it-never-had"])).toEqual([sid]);
  await runTimersEverywhere(ns, Date.now());
  await bob.expect(/^alice lost connection; waiting up to 30 s for alice to come back/);
  await bob.expectQuiet();
});
