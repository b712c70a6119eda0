// Homes under `wrangler dev` (HOMES=4), over real loopback TCP: users placed on chosen homes with `?home=` must see
// exactly what one Lobby would say, whichever home each socket landed on and wherever its record went.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, LIFTED_LIMITS, startDevServer } from "../../scripts/dev-server.mjs";
import { connect, login } from "./support.ts";
import { killTerminalClients, loggedIn } from "./terminal-support.ts";

const HOMES = 4;
/**
 * "At once" for a departure: it takes tens of ms here. A home that missed a drop would still find the ghost on its
 * next sweep, about 3 s later (a mutant that loses the visitor's `gone` note passes a 5 s wait that way), and the
 * heartbeat only after 45 s.
 */
const AT_ONCE_MS = 1500;

let dev: DevServer;
beforeAll(async () => {
  // The limits are lifted because two tests need it, not to hide anything about homes: 50 lines sent back to back
  // are past the default burst (40), and the long `list` logs in more users from 127.0.0.1 than a minute allows.
  dev = await startDevServer({ vars: { HOMES: String(HOMES), ...LIFTED_LIMITS } });
});
afterAll(async () => {
  await dev?.stop();
});
afterEach(killTerminalClients);

/** A fresh namespace for one test; `at(k)` is its URL for a socket on home k. */
function namespace() {
  const ns = `homes-${crypto.randomUUID()}`;
  return (k: number) => `${dev.wsUrl}?lobby=${ns}&home=${k}`;
}

type Client = Awaited<ReturnType<typeof login>>;

/** `a` (on its home) asks `b` (on its own) and `b` says y: `a`'s record is then a visitor on `b`'s home. */
async function chat(a: Client, b: Client) {
  a.send(`connect ${b.label}`);
  await a.expect(`Waiting for ${b.label} to answer`);
  await b.expect(`${a.label} is trying to connect with you (y/n)`);
  b.send("y");
  await a.expect(new RegExp(`^You are now connected with ${b.label}$`));
  await b.expect(new RegExp(`^You are now connected with ${a.label}$`));
}

/** The whole answer to `/list`, checked line by line: the total, then each entry in order. */
async function expectList(peer: Client, total: number, entries: string[], more = 0) {
  peer.send("/list");
  await peer.expect(new RegExp(`^${total} online:$`));
  for (const entry of entries) await peer.expect(new RegExp(`^  ${entry.replace(/[()]/g, "\\$&")}$`));
  if (more > 0) await peer.expect(new RegExp(`^  \\.\\.\\.and ${more} more$`));
}

/**
 * After a drop, `survivor` must get some prefix of the lines `from` sent before it dropped, in order, then the notice
 * that it left, and nothing more.
 */
async function expectLinesThenDropNotice(survivor: Client, from: string, sent: string[]) {
  const dropped = Date.now();
  let next = 0;
  for (;;) {
    const line = await survivor.next();
    if (line === `${from} has left the chat (disconnected)`) {
      expect(Date.now() - dropped, "ms from the drop to the notice").toBeLessThan(AT_ONCE_MS);
      break;
    }
    expect(line, `line ${next} from ${from}, before the notice`).toBe(`${from}: ${sent[next]}`);
    next++;
  }
  await survivor.expectQuiet(); // one notice, not one from each home
}

describe("homes under wrangler dev: users on different homes", () => {
  it("run the seed's whole flow: taken name, connect, y/n, decline, cooldown, accept, 50 lines each way in order, exit", async () => {
    const at = namespace();
    const alice = await login(at(0), "alice");
    // The name is held on home 0; home 1 must refuse it, in any case, as one Lobby does.
    const bob = await connect(at(1), "bob");
    await bob.expect("Please enter a username:");
    bob.send("ALICE");
    await bob.expect(/^Username ALICE is taken$/);
    await bob.expect("Please enter a username:");
    bob.send("bob");
    await bob.expect(/^Welcome, bob!$/);
    await bob.expect("Commands:");

    alice.send("connect");
    await alice.expect(/^Who do you want to connect with\?$/);
    alice.send("bob");
    await alice.expect("Waiting for bob to answer");
    await bob.expect(/^alice is trying to connect with you \(y\/n\)$/);
    bob.send("maybe");
    await bob.expect(/^Please answer y\/n: alice is trying to connect with you$/);
    bob.send("n");
    await bob.expect(/^You declined the request from alice$/);
    await alice.expect(/^bob declined connection request$/);
    // alice's record went home after the no; the cooldown must have come with it (R13). bob may still ask her.
    alice.send("connect bob");
    await alice.expect(/^You asked bob recently; you can ask again in \d+ s$/);
    bob.send("connect alice");
    await bob.expect("Waiting for alice to answer");
    await alice.expect(/^bob is trying to connect with you \(y\/n\)$/);
    alice.send("y");
    await bob.expect(/^You are now connected with alice$/);
    await alice.expect(/^You are now connected with bob$/);

    // Pipelined both ways at once: bob's lines cross from home 0 (where he visits) back to his socket on home 1.
    const LINES = 50;
    for (let i = 0; i < LINES; i++) {
      alice.send(`a${i} from alice`);
      bob.send(`b${i} from bob`);
    }
    for (let i = 0; i < LINES; i++) await bob.expect(new RegExp(`^alice: a${i} from alice$`));
    for (let i = 0; i < LINES; i++) await alice.expect(new RegExp(`^bob: b${i} from bob$`));

    alice.send("exit");
    await alice.expect(/^You left the chat with bob$/);
    await bob.expect(/^alice has left the chat$/);
    // Both free again, and each sees both (a whole command runs at once after a chat ends, R10).
    await expectList(bob, 2, ["alice - available", "bob (you) - available"]);
    await expectList(alice, 2, ["alice (you) - available", "bob - available"]);
  });

  it("tell the host at once when the visiting side's TCP connection drops mid-chat, and the host is free again", async () => {
    const at = namespace();
    const alice = await login(at(0), "alice");
    const bob = await login(at(1), "bob");
    await chat(alice, bob); // alice visits home 1
    bob.send("hi alice");
    await alice.expect(/^bob: hi alice$/);

    // Lines still on their way when the socket is destroyed: no close frame, as when a process crashes.
    const sent = Array.from({ length: 10 }, (_, i) => `line ${i}`);
    for (const line of sent) alice.send(line);
    alice.raw.terminate();
    await expectLinesThenDropNotice(bob, "alice", sent);

    // bob is free: listed available, asked by someone on a third home, and chatting again.
    await expectList(bob, 1, ["bob (you) - available"]);
    const carol = await login(at(2), "carol");
    await chat(carol, bob);
    carol.send("hello bob");
    await bob.expect(/^carol: hello bob$/);
    bob.send("hello carol");
    await carol.expect(/^bob: hello carol$/);
    // And alice's name is free again, on any home.
    const again = await login(at(3), "alice");
    await expectList(again, 3, ["alice (you) - available", "bob - busy", "carol - busy"]);
  });

  it("tell the visitor at once when the host side's TCP connection drops mid-chat, and the visitor is free again", async () => {
    const at = namespace();
    const alice = await login(at(0), "alice");
    const bob = await login(at(1), "bob");
    await chat(alice, bob); // alice visits home 1, where bob is
    alice.send("hi bob");
    await bob.expect(/^alice: hi bob$/);

    const sent = Array.from({ length: 10 }, (_, i) => `line ${i}`);
    for (const line of sent) bob.send(line);
    bob.raw.terminate();
    await expectLinesThenDropNotice(alice, "bob", sent);

    // alice's record went back to home 0: she is listed available and may ask someone on a third home.
    await expectList(alice, 1, ["alice (you) - available"]);
    const carol = await login(at(2), "carol");
    await chat(alice, carol);
    alice.send("hello carol");
    await carol.expect(/^alice: hello carol$/);
    carol.send("hello alice");
    await alice.expect(/^carol: hello alice$/);
    // bob's name is free again, on the home it was held on.
    const again = await login(at(1), "bob");
    await expectList(again, 3, ["alice - busy", "bob (you) - available", "carol - busy"]);
  });

  it("let the terminal client on one home chat with a raw text client on another, both ways, and exit", async () => {
    const at = namespace();
    const alice = await loggedIn(at(0), "alice");
    const bob = await login(at(1), "bob");
    bob.send("connect alice"); // bob visits home 0
    await bob.expect("Waiting for alice to answer");
    await alice.expect("bob is trying to connect with you (y/n)");
    alice.type("y");
    await alice.expect("You are now connected with bob");
    await bob.expect(/^You are now connected with alice$/);

    alice.type("hi bob!");
    await alice.expect("alice: hi bob!"); // her own line, echoed
    await bob.expect(/^alice: hi bob!$/);
    bob.send("hi alice, from home 1");
    await alice.expect("bob: hi alice, from home 1");
    alice.type("/list");
    await alice.expect("2 online:");
    await alice.expect("alice (you) - busy");
    await alice.expect("bob - busy");

    alice.type("exit");
    await alice.expect("You left the chat with bob");
    await bob.expect(/^alice has left the chat$/);
    alice.type("quit");
    await alice.expect("Goodbye");
    expect(await alice.exitCode()).toBe(0);
    bob.send("list");
    await bob.expect(/^1 online:$/);
    await bob.expect(/^  bob \(you\) - available$/);
  });

  it("tell each side at once when the other drops, terminal client or raw client (the terminal client may come back)", async () => {
    const at = namespace();
    const alice = await loggedIn(at(2), "alice");
    const bob = await login(at(3), "bob");
    alice.type("connect bob"); // alice visits home 3
    await alice.expect("Waiting for bob to answer");
    await bob.expect(/^alice is trying to connect with you \(y\/n\)$/);
    bob.send("y");
    await alice.expect("You are now connected with bob");
    await bob.expect(/^You are now connected with alice$/);
    bob.send("still there?");
    await alice.expect("bob: still there?");

    let dropped = Date.now();
    bob.raw.terminate();
    await alice.expect("bob has left the chat (disconnected)");
    expect(Date.now() - dropped, "ms from bob's drop to the notice").toBeLessThan(AT_ONCE_MS);

    // The other way round: the terminal client killed outright (SIGKILL: no close frame), its partner on another home.
    const carol = await login(at(1), "carol");
    carol.send("connect alice"); // carol visits home 2
    await alice.expect("carol is trying to connect with you (y/n)");
    alice.type("y");
    await carol.until(/^You are now connected with alice$/);
    alice.type("bye carol");
    await carol.expect(/^alice: bye carol$/);
    dropped = Date.now();
    alice.kill();
    // The terminal client may resume (as with one Lobby): its partner hears it is away, not gone.
    await carol.expect(/^alice lost connection; waiting up to 30 s for alice to come back \(type exit to leave\)$/);
    expect(Date.now() - dropped, "ms from alice's drop to the notice").toBeLessThan(AT_ONCE_MS);
    await expectList(carol, 2, ["alice - away", "carol (you) - busy"]);
  });

  it("resume a session on another home's socket: the chat goes on, and the name moves with the socket", async () => {
    const at = namespace();
    const alice = await connect(at(2), "alice", { json: true });
    expect(await alice.json()).toEqual({ type: "ask_name" });
    alice.send(JSON.stringify({ type: "login", name: "alice" }));
    const welcome = await alice.json<{ resume: { token: string } }>();
    expect(welcome.resume.token).toMatch(/^2\.[\w-]{22}$/);
    const bob = await login(at(3), "bob");
    alice.send(JSON.stringify({ type: "connect", to: "bob" })); // alice's record visits home 3
    await bob.expect(/^alice is trying to connect with you \(y\/n\)$/);
    bob.send("y");
    await bob.expect(/^You are now connected with alice$/);

    const dropped = Date.now();
    alice.raw.terminate();
    await bob.expect(/^alice lost connection; waiting up to 30 s for alice to come back/);
    expect(Date.now() - dropped, "ms from alice's drop to the notice").toBeLessThan(AT_ONCE_MS);

    // Back on home 0: the credential names home 2, which holds the name and knows the record is on home 3.
    const back = await connect(at(0), "alice again", { json: true });
    expect(await back.json()).toEqual({ type: "ask_name" });
    back.send(JSON.stringify({ type: "resume", token: welcome.resume.token }));
    const events: { type: string; token?: string }[] = [];
    for (;;) {
      const e = await back.json<{ type: string; resume?: { token: string }; partner?: string }>();
      if (e.type === "presence") continue;
      events.push(e);
      if (e.type === "resumed") {
        expect(e.partner).toBe("bob");
        expect(e.resume?.token).toMatch(/^0\.[\w-]{22}$/); // the name is now home 0's
        break;
      }
      expect(e.type, "before resumed").toBe("presence");
    }
    await bob.expect(/^alice is back$/);
    back.send(JSON.stringify({ type: "say", text: "sorry, my train went into a tunnel" }));
    await bob.expect(/^alice: sorry, my train went into a tunnel$/);
    bob.send("welcome back");
    for (;;) {
      const e = await back.json<{ type: string; text?: string }>();
      if (e.type !== "message") continue;
      expect(e.text).toBe("welcome back");
      break;
    }
    // The name is held by one home only: another socket cannot take it, and once alice quits it is free.
    const mallory = await connect(at(1), "mallory");
    await mallory.expect("Please enter a username:");
    mallory.send("alice");
    await mallory.expect("Username alice is taken");
    back.send(JSON.stringify({ type: "quit" }));
    await bob.expect(/^alice has left the chat \(disconnected\)$/); // as one Lobby says it after a quit

    await mallory.expect("Please enter a username:");
    mallory.send("alice");
    await mallory.expect("Welcome, alice!");
  });

  it("list every user of every home, visitors once, with the global total and each one's status", async () => {
    const at = namespace();
    const alice = await login(at(0), "alice");
    const bob = await login(at(1), "bob");
    const carol = await login(at(2), "carol");
    const dave = await login(at(3), "dave");
    const erin = await login(at(0), "erin");
    await chat(alice, bob); // alice's record on home 1
    carol.send("connect dave"); // carol's record on home 3, waiting for dave's answer
    await carol.expect("Waiting for dave to answer");
    await dave.expect(/^carol is trying to connect with you \(y\/n\)$/);

    const everyone = (you: string) =>
      [
        ["alice", "busy"],
        ["bob", "busy"],
        ["carol", "pending"],
        ["dave", "pending"],
        ["erin", "available"],
      ].map(([name, status]) => (name === you ? `${name} (you) - ${status}` : `${name} - ${status}`));
    for (const peer of [alice, bob, carol, erin]) await expectList(peer, 5, everyone(peer.label));

    // Someone leaving is gone from every home's count.
    erin.send("quit");
    await erin.expect("Goodbye");
    await erin.waitClosed();
    await expectList(bob, 4, everyone("bob").slice(0, 4));
  });

  it("list the first 100 names of all homes in order, then how many more, past the limit", async () => {
    const at = namespace();
    // 105 users round-robin over the homes, so that each home's first names interleave with the others'.
    const names = Array.from({ length: 105 }, (_, i) => `u${String(i).padStart(3, "0")}`);
    const users: Client[] = [];
    for (let i = 0; i < names.length; i += 15) {
      users.push(...(await Promise.all(names.slice(i, i + 15).map((name, j) => login(at((i + j) % HOMES), name)))));
    }
    try {
      // u104 lists from home 0: it is not among the first 100, so it is in the count only, as in one Lobby.
      const last = users[104]!;
      await expectList(last, 105, names.slice(0, 100).map((name) => `${name} - available`), 5);
      const first = users[1]!; // home 1
      const entries = names.slice(0, 100).map((name) => (name === "u001" ? "u001 (you)" : name));
      await expectList(first, 105, entries.map((entry) => `${entry} - available`), 5);
    } finally {
      for (const user of users) user.close();
    }
  });
});

describe("homes under wrangler dev: the server's own output", () => {
  // Last in the file (Vitest runs a file's tests in order): whatever the tests above made the homes do, none of it
  // may have failed on the server. Every failure the worker logs says "failed" (a note, a claim, a lookup, a frame);
  // the runtime's own are uncaught exceptions, [ERROR] lines and 5xx responses.
  it("print no failure, uncaught exception or 5xx for anything the tests above did", () => {
    const output = dev.output();
    const ready = output.indexOf("Ready on");
    expect(ready, "wrangler's output has its Ready line").toBeGreaterThanOrEqual(0);
    const bad = output
      .slice(ready)
      .split("\n")
      .filter((line) => /failed|uncaught|exception|\[ERROR\]|^\[wrangler:\w+\] \w+ \S+ 5\d\d /i.test(line));
    expect(bad).toEqual([]);
  });
});
