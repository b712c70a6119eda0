// Sessions resumed on another home's socket, then used again: wherever the session's record and name have moved,
// anyone on any home must get the answer one Lobby gives. Runs in both projects (one Lobby, and HOMES=4).

import { describe, expect, it, vi } from "vitest";
import { dropOn, freshLobby, homeOf, openOn, user } from "../support/homes";
import type { Peer } from "../support/peer";

vi.setConfig({ testTimeout: 20_000 });

/** A JSON client logged in as `name` on `home`: its resume credential. */
async function jsonUser(ns: string, home: number, name: string): Promise<[Peer, string]> {
  const peer = await openOn(ns, home, name, { json: true });
  await peer.event("ask_name");
  peer.send(JSON.stringify({ type: "login", name }));
  const welcome = await peer.event<{ resume: { token: string } }>("welcome");
  return [peer, welcome.resume.token];
}

/** A new socket on `home` resumes the session of `token`: the new socket and its next credential. */
async function resumeOn(ns: string, home: number, token: string, partner: string): Promise<[Peer, string]> {
  const peer = await openOn(ns, home, "back", { json: true });
  await peer.event("ask_name");
  peer.send(JSON.stringify({ type: "resume", token }));
  const resumed = await peer.event<{ partner?: string; resume: { token: string } }>("resumed");
  expect(resumed.partner).toBe(partner);
  return [peer, resumed.resume.token];
}

/** JSON client `a` (logged in as `aName`) asks text client `b`, who says y: both are told they are connected. */
async function jsonAsks(a: Peer, aName: string, b: Peer, bName: string): Promise<void> {
  a.send(JSON.stringify({ type: "connect", to: bName }));
  await b.expect(`${aName} is trying to connect with you (y/n)`);
  b.send("y");
  await b.expect(`You are now connected with ${aName}`);
  await a.event("connected");
}

describe("a session resumed on the home its record was visiting", () => {
  it("is found by a connect from a third home after it chats and drops again", async () => {
    const ns = freshLobby();
    const [alice, token] = await jsonUser(ns, homeOf("alice"), "alice");
    const bob = await user(ns, "bob");
    await jsonAsks(alice, "alice", bob, "bob"); // with homes, alice's record visits bob's home

    // alice's connection resets; she comes back on a socket of bob's home, where her record is.
    await dropOn(ns, homeOf("alice"), "alice");
    await bob.expect(/^alice lost connection; waiting up to 30 s for alice to come back/);
    const [back] = await resumeOn(ns, homeOf("bob"), token, "bob");
    await bob.expect("alice is back");
    back.send(JSON.stringify({ type: "exit" }));
    await bob.expect("alice has left the chat");

    // She chats with carol (on a third home), and drops again: she is away in that chat.
    const carol = await user(ns, "carol");
    await jsonAsks(back, "alice", carol, "carol");
    await dropOn(ns, homeOf("bob"), "alice");
    await carol.expect(/^alice lost connection; waiting up to 30 s for alice to come back/);

    // dave, on a fourth home, asks for her: she is online (away), not "not online".
    const dave = await user(ns, "dave");
    dave.send("connect alice");
    await dave.expect("alice is reconnecting; try again in a moment");
  });
});
