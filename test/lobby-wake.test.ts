// A Lobby woken from hibernation relays a chat line from the two sockets' attachments alone, without reading the
// other sockets or storage (routes.ts, `byAttachments`); anything else rebuilds the lobby first. Each test builds a
// second Lobby on the same object, as a wake does, and hands it a frame as the runtime would.

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AlarmClock } from "../src/alarm";
import { type Attachment, Lobby } from "../src/lobby";
import type { State } from "../src/rules";
import { QUIET_MS } from "../src/timers";
import { chatting, freshLobby, lobbyStub, login, open } from "./support/lobby";
import type { Peer } from "./support/peer";

const attachment = (ws: WebSocket) => ws.deserializeAttachment() as Attachment;
/** Whether this Lobby has rebuilt the whole lobby (its `loaded` state). */
const rebuilt = (lobby: Lobby) => (lobby as unknown as { loaded: State | null }).loaded !== null;

/** Builds a Lobby the way a wake does, and hands it `frame` from `name`'s socket. */
function wakeAndSay(lobby: string, name: string, frame: string): Promise<{ rebuilt: boolean }> {
  return runInDurableObject(lobbyStub(lobby), async (_instance, state) => {
    const woken = new Lobby(state, env);
    const ws = state.getWebSockets().find((w) => attachment(w).key === name);
    if (!ws) throw new Error(`no socket for ${name}`);
    await woken.webSocketMessage(ws, frame);
    return { rebuilt: rebuilt(woken) };
  });
}

/**
 * Builds a Lobby as a wake does, with the alarm read. The runtime gives a new Lobby no event before its constructor
 * has read the alarm (blockConcurrencyWhile); inside the test's own event that read waits for the event to end, so
 * a Lobby built here would not know its alarm. Read for it instead.
 */
async function wokenWithAlarm(state: DurableObjectState): Promise<Lobby> {
  const woken = new Lobby(state, env);
  await (woken as unknown as { clock: AlarmClock }).clock.load();
  return woken;
}

/** Each socket's key and the key of the socket its attachment routes chat lines to. */
function routes(lobby: string): Promise<Record<string, string | null>> {
  return runInDurableObject(lobbyStub(lobby), (_instance, state) => {
    const atts = state.getWebSockets().map(attachment).filter((a) => a.key && !a.gone);
    return Object.fromEntries(atts.map((a) => [a.key, atts.find((b) => b.sid === a.to)?.key ?? null]));
  });
}

async function jsonLogin(lobby: string, name: string): Promise<{ peer: Peer; token: string }> {
  const peer = await open(lobby, name, { json: true });
  await peer.event("ask_name");
  peer.send(JSON.stringify({ type: "login", name }));
  const welcome = await peer.event<{ resume: { token: string } }>("welcome");
  return { peer, token: welcome.resume.token };
}

describe("a woken Lobby", () => {
  it("relays a chat line from the two attachments alone, in both dialects", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    expect(await wakeAndSay(lobby, "alice", "hello after a wake")).toEqual({ rebuilt: false });
    await bob.expect("alice: hello after a wake");

    const bot = await jsonLogin(lobby, "bot");
    const carol = await login(lobby, "carol");
    carol.send("connect bot");
    await bot.peer.event("incoming_request");
    bot.peer.send(JSON.stringify({ type: "answer", accept: true }));
    await carol.until("You are now connected with bot");
    // A numbered JSON line keeps its number through the shortcut (exactly-once clients need it).
    expect(await wakeAndSay(lobby, "bot", JSON.stringify({ type: "say", text: "beep", seq: 3 }))).toEqual({ rebuilt: false });
    await carol.until("bot: beep");
    expect(await wakeAndSay(lobby, "carol", "hi bot")).toEqual({ rebuilt: false });
    expect(await bot.peer.event("message")).toEqual({ type: "message", from: "carol", text: "hi bot" });
    alice.send("exit");
    await bob.until("alice has left the chat");
  });

  it("rebuilds for anything but a chat line, and answers as before", async () => {
    const lobby = freshLobby();
    const [alice] = await chatting(lobby, "alice", "bob");
    await login(lobby, "carol");
    expect(await wakeAndSay(lobby, "alice", "/list")).toEqual({ rebuilt: true });
    await alice.until("3 online:");
    const dave = await login(lobby, "dave");
    expect(await wakeAndSay(lobby, "dave", "hello?")).toEqual({ rebuilt: true });
    await dave.until("Unknown command");
  });

  it("keeps each attachment's route as chats start, partners leave and come back, and chats end", async () => {
    const lobby = freshLobby();
    const alice = await jsonLogin(lobby, "alice");
    const bob = await jsonLogin(lobby, "bob");
    await login(lobby, "carol");
    expect(await routes(lobby)).toEqual({ alice: null, bob: null, carol: null });

    alice.peer.send(JSON.stringify({ type: "connect", to: "bob" }));
    await bob.peer.event("incoming_request");
    expect(await routes(lobby)).toEqual({ alice: null, bob: null, carol: null });
    bob.peer.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.peer.event("connected");
    expect(await routes(lobby)).toEqual({ alice: "bob", bob: "alice", carol: null });

    // bob's connection drops: alice's lines have nowhere to go, so a woken Lobby rebuilds and says so.
    bob.peer.close(4000, "dropped");
    await alice.peer.event("partner_away");
    expect(await routes(lobby)).toEqual({ alice: null, carol: null });
    expect(await wakeAndSay(lobby, "alice", JSON.stringify({ type: "say", text: "are you there?" }))).toEqual({ rebuilt: true });
    expect(await alice.peer.event("error")).toMatchObject({ code: "not_delivered" });

    // bob resumes on a new socket: both attachments name the new one.
    const back = await open(lobby, "bob again", { json: true });
    await back.event("ask_name");
    back.send(JSON.stringify({ type: "resume", token: bob.token }));
    await back.event("resumed");
    await alice.peer.event("partner_back");
    expect(await routes(lobby)).toEqual({ alice: "bob", bob: "alice", carol: null });
    expect(await wakeAndSay(lobby, "alice", JSON.stringify({ type: "say", text: "welcome back" }))).toEqual({ rebuilt: false });
    expect(await back.event("message")).toMatchObject({ from: "alice", text: "welcome back" });

    back.send(JSON.stringify({ type: "exit" }));
    await alice.peer.event("partner_left");
    expect(await routes(lobby)).toEqual({ alice: null, bob: null, carol: null });
  });

  it("does not trust one attachment alone: a route the partner's does not return takes the general path", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const carol = await login(lobby, "carol");
    // alice's attachment is made to point at carol, who is in no chat: a woken Lobby must not deliver there.
    await runInDurableObject(lobbyStub(lobby), (_instance, state) => {
      const sockets = state.getWebSockets();
      const a = sockets.find((w) => attachment(w).key === "alice")!;
      const c = sockets.find((w) => attachment(w).key === "carol")!;
      a.serializeAttachment({ ...attachment(a), to: attachment(c).sid });
    });
    expect(await wakeAndSay(lobby, "alice", "for bob only")).toEqual({ rebuilt: true });
    await carol.expectQuiet();
  });

  it("hands heartbeats back to the runtime without rebuilding when that is all its alarm is for", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const result = await runInDurableObject(lobbyStub(lobby), async (_instance, state) => {
      // The lobby's own next timer (a sweep, while a chat goes on) is a while away.
      const before = Date.now() + 60_000;
      await state.storage.setAlarm(before);
      const woken = await wokenWithAlarm(state);
      const ws = state.getWebSockets().find((w) => attachment(w).key === "alice")!;
      await woken.webSocketMessage(ws, "a line that wakes it");
      // The first frame after a quiet spell takes pings over (keepalive.ts): an alarm to hand them back comes first.
      const quiet = await state.storage.getAlarm();
      await woken.alarm();
      return { before, quiet, after: await state.storage.getAlarm(), rebuilt: rebuilt(woken) };
    });
    expect(result.quiet!).toBeLessThan(result.before);
    expect(result.rebuilt).toBe(false);
    // Too soon to hand back (no quiet spell yet): the alarm is set for the hand-over again, still before the lobby's.
    expect(result.after!).toBeLessThan(result.before);
  });

  it("keeps a chat's end through a wake: a line typed just after it is not read as a command", async () => {
    const lobby = freshLobby();
    const [alice, bob] = await chatting(lobby, "alice", "bob");
    alice.send("exit");
    await bob.expect("alice has left the chat");
    // bob, mid-sentence when alice left, goes on typing; the woken Lobby knows the chat has only just ended.
    expect(await wakeAndSay(lobby, "bob", "hello there")).toEqual({ rebuilt: true });
    await bob.expect("Your chat has just ended, so that line was not sent");
  });

  it("pushes presence after a wake to a JSON client that has not listed since", async () => {
    const lobby = freshLobby();
    const watcher = await jsonLogin(lobby, "watcher");
    await login(lobby, "alice");
    await login(lobby, "bob");
    const view = new Map<string, string>();
    const fold = async (done: () => boolean) => {
      while (!done()) {
        const event = await watcher.peer.event<{ changes: { name: string; status: string }[] }>("presence");
        for (const change of event.changes) view.set(change.name, change.status);
      }
    };
    await fold(() => view.get("bob") === "available");
    expect(await wakeAndSay(lobby, "alice", "connect bob")).toEqual({ rebuilt: true });
    await fold(() => view.get("alice") === "pending" && view.get("bob") === "pending");
  });

  it("sets the lobby's own timer again once heartbeats are handed back, still without rebuilding", async () => {
    const lobby = freshLobby();
    await chatting(lobby, "alice", "bob");
    const result = await runInDurableObject(lobbyStub(lobby), async (_instance, state) => {
      const before = Date.now() + 60_000;
      await state.storage.setAlarm(before);
      const woken = await wokenWithAlarm(state);
      const ws = state.getWebSockets().find((w) => attachment(w).key === "alice")!;
      await woken.webSocketMessage(ws, "a line that wakes it");
      const quiet = await state.storage.getAlarm();
      // The quiet spell has passed (moved back by hand rather than waited for): pings go back to the runtime.
      (woken as unknown as { keepalive: { lastFrameAt: number } }).keepalive.lastFrameAt -= QUIET_MS;
      await woken.alarm();
      return { before, quiet, after: await state.storage.getAlarm(), rebuilt: rebuilt(woken) };
    });
    expect(result.quiet!).toBeLessThan(result.before);
    expect(result.after).toBe(result.before);
    expect(result.rebuilt).toBe(false);
  });

  it("forgets in storage that a user was away once it resumes, so a rebuild does not make it away again", async () => {
    const lobby = freshLobby();
    const alice = await jsonLogin(lobby, "alice");
    const bob = await jsonLogin(lobby, "bob");
    alice.peer.send(JSON.stringify({ type: "connect", to: "bob" }));
    await bob.peer.event("incoming_request");
    bob.peer.send(JSON.stringify({ type: "answer", accept: true }));
    await alice.peer.event("connected");
    const away = () => runInDurableObject(lobbyStub(lobby), (_instance, state) => [...state.storage.sql.exec<{ key: string }>("SELECT key FROM away")].map((r) => r.key));
    bob.peer.close(4000, "dropped");
    await alice.peer.event("partner_away");
    expect(await away()).toEqual(["bob"]);
    const back = await open(lobby, "bob again", { json: true });
    await back.event("ask_name");
    back.send(JSON.stringify({ type: "resume", token: bob.token }));
    await back.event("resumed");
    await alice.peer.event("partner_back");
    expect(await away()).toEqual([]);
  });
});
