// The web client: wires the connection, the server's events and the page together.
// The server is the judge of every rule; this page shows what it says and offers only what makes sense now.

import { Chat } from "./chat.js";
import { Conversation } from "./wire/conversation.js";
import { Link } from "./connection.js";
import { DesktopNotifications } from "./desktop.js";
import { byId, countdown, el, hueOf } from "./dom.js";
import { Favicon } from "./favicon.js";
import { Inbox } from "./inbox.js";
import { checkName, nameKey, socketUrl } from "./names.js";
import { announcer, Notices } from "./notices.js";
import { People } from "./people.js";
import { RequestDialog } from "./request-dialog.js";
import { noticeFor, rejectedName, secondsLeft, transcriptLine } from "./texts.js";
import { renderText } from "./wire/text.js";

/** @typedef {import("./wire/protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./connection.js").LinkState} LinkState */
/** @typedef {import("./connection.js").ClientAction} ClientAction */

/**
 * Until the server pushes `presence`, the list is asked for again after each status change and this often
 * while the tab is visible; the first `presence` push switches both off.
 */
const LIST_POLL_MS = 5000;
/**
 * In a lobby bigger than a list (100 names), the server pushes presence only for the people the last list showed,
 * so the list is asked for again this often while the tab is visible, to see who else came. Always, not only when
 * the last list was cut short: a lobby that grows past 100 after a complete list would otherwise never show its
 * newcomers.
 */
const LIST_REFRESH_MS = 30_000;
const NAME_KEY = "parley.name";
/**
 * Blocks and "do not disturb" live in the server's session, which a reconnect (a new login) starts afresh: the tab
 * keeps them here and says them again after every login.
 */
const BLOCKED_KEY = "parley.blocked";
const AWAY_KEY = "parley.away";
/**
 * The session's resume credential ({token, graceMs}, from welcome or resumed), and the chat in progress (partner,
 * transcript, and the conversation's numbered lines): with them a reload or a dropped connection picks the chat up
 * where it was (PROTOCOL.md, "Resuming"). This tab's only: sessionStorage.
 */
const RESUME_KEY = "parley.resume";
const CHAT_KEY = "parley.chat";

const ui = {
  conn: byId("conn", HTMLElement),
  connText: byId("conn-text", HTMLElement),
  retry: byId("retry", HTMLButtonElement),
  me: byId("me", HTMLElement),
  meName: byId("me-name", HTMLElement),
  signOut: byId("sign-out", HTMLButtonElement),
  loginView: byId("login-view", HTMLElement),
  loginForm: byId("login-form", HTMLFormElement),
  name: byId("name", HTMLInputElement),
  nameError: byId("name-error", HTMLElement),
  join: byId("join", HTMLButtonElement),
  lobbyView: byId("lobby-view", HTMLElement),
  idle: byId("idle", HTMLElement),
  outgoing: byId("outgoing", HTMLElement),
  outgoingName: byId("outgoing-name", HTMLElement),
  outgoingLeft: byId("outgoing-left", HTMLElement),
  outgoingBar: byId("outgoing-bar", HTMLElement),
  cancel: byId("cancel", HTMLButtonElement),
  chat: byId("chat", HTMLElement),
  chatAvatar: byId("chat-avatar", HTMLElement),
  blockPartner: byId("block-partner", HTMLButtonElement),
  exit: byId("exit", HTMLButtonElement),
  message: byId("message", HTMLTextAreaElement),
  back: byId("back", HTMLButtonElement),
  peopleList: byId("people-list", HTMLUListElement),
  away: byId("away", HTMLButtonElement),
  awayHint: byId("away-hint", HTMLElement),
  blockedPeople: byId("blocked-people", HTMLDetailsElement),
  blockedCount: byId("blocked-count", HTMLElement),
  blockedList: byId("blocked-list", HTMLUListElement),
  /** Where focus goes when what had it disappears (a finished request, a closed chat). */
  peopleTitle: byId("people-title", HTMLElement),
};

const link = new Link(socketUrl(location), {
  event: onEvent,
  state: onLinkState,
  refused: (reason) => tell(reason, "error"),
});
const notices = new Notices(byId("notices", HTMLElement));
const announce = announcer(byId("announcer", HTMLElement));
const send = (/** @type {ClientAction} */ action) => link.send(action);
/** The chat's lines, exactly once and in order across drops and reloads. */
const conversation = new Conversation((action) => {
  link.send(action);
});
const hidden = () => document.visibilityState === "hidden";

/** What happened while the tab was hidden, kept until dismissed; the title and the favicon count it. */
const inbox = new Inbox(
  { section: byId("inbox", HTMLElement), list: byId("inbox-list", HTMLUListElement), dismiss: byId("inbox-dismiss", HTMLButtonElement) },
  () => update(),
  ui.peopleTitle,
);
const favicon = new Favicon(byId("favicon", HTMLLinkElement));
const desktop = new DesktopNotifications(byId("notify", HTMLButtonElement), byId("notify-hint", HTMLElement));

/**
 * A notice; while the tab is hidden it goes into the inbox too, since it will be gone by the time anyone looks.
 * @param {string} text
 * @param {import("./texts.js").Tone} [tone]
 */
function tell(text, tone = "info") {
  if (hidden()) inbox.add(null, text);
  return notices.show(text, tone);
}

const people = new People(
  {
    list: ui.peopleList,
    title: ui.peopleTitle,
    count: byId("people-count", HTMLElement),
    more: byId("people-more", HTMLElement),
    empty: byId("people-empty", HTMLElement),
  },
  (name) => {
    if (send({ type: "connect", to: name })) session.asking = true;
    else tell("Not connected; trying to reconnect", "warn");
    update();
  },
  (name, block) => blockPerson(name, block),
);

const chat = new Chat(
  {
    name: byId("chat-name", HTMLElement),
    log: byId("transcript", HTMLElement),
    form: byId("composer", HTMLFormElement),
    input: ui.message,
    send: byId("send", HTMLButtonElement),
    hint: byId("message-hint", HTMLElement),
    ended: byId("chat-ended", HTMLElement),
    endedText: byId("chat-ended-text", HTMLElement),
    typing: byId("typing", HTMLElement),
  },
  (text) => {
    // While reconnecting, a line waits with the conversation and goes out when the session is back.
    const online = link.state.kind === "open" && session.loggedIn;
    if (!online && !resumable()) {
      tell("Not connected, so that message was not sent", "error");
      return false;
    }
    conversation.say(text, online);
    return true;
  },
  () => send({ type: "typing" }),
);

const request = new RequestDialog(
  {
    dialog: byId("incoming", HTMLDialogElement),
    names: [...document.querySelectorAll("#incoming .incoming-name")].map((n) => /** @type {HTMLElement} */ (n)),
    avatar: byId("incoming-avatar", HTMLElement),
    left: byId("incoming-left", HTMLElement),
    bar: byId("incoming-bar", HTMLElement),
    accept: byId("accept", HTMLButtonElement),
    decline: byId("decline", HTMLButtonElement),
    block: byId("decline-block", HTMLButtonElement),
    banner: byId("request-banner", HTMLElement),
    bannerText: byId("request-banner-text", HTMLElement),
    bannerLeft: byId("request-banner-left", HTMLElement),
    bannerAvatar: byId("request-banner-avatar", HTMLElement),
    answer: byId("request-answer", HTMLButtonElement),
  },
  (choice, from) => {
    if (choice === "block") {
      // The server declines the request and blocks in one step; its "You blocked…" says both.
      session.hushDecline.add(nameKey(from));
      if (!send({ type: "block", name: from })) tell("Not connected; trying to reconnect", "warn");
    } else {
      send({ type: "answer", accept: choice === "accept" });
    }
    settleRequestEntry(from, choice === "accept" ? "you accepted" : choice === "block" ? "you declined and blocked them" : "you declined");
    update();
  },
  () => update(),
  ui.peopleTitle,
);

/** What this page knows about its session on the server. */
const session = {
  /** The name we were welcomed with; after a reconnect we log in with it again. */
  name: /** @type {string | null} */ (null),
  loggedIn: false,
  /** The name to log in with once the server asks (typed, or remembered after a reconnect). */
  joining: /** @type {string | null} */ (null),
  /** That login is the automatic one after a reconnect. */
  rejoining: false,
  /** The server has asked this socket for a name. */
  asked: false,
  /** A Connect click is on its way; the buttons wait for the answer. */
  asking: false,
  outgoing: /** @type {{ to: string, stop: () => void } | null} */ (null),
  /** The server pushes presence changes, so the list needs no asking. */
  pushed: false,
  /** When the last list came (ms). */
  listedAt: 0,
  signingOut: false,
  /** Not taking requests ("do not disturb"), as the server last confirmed or as the tab remembers it. */
  away: sessionStorage.getItem(AWAY_KEY) === "1",
  /** The next `availability` answers the page saying "away" again after a login: no notice for it. */
  quietAvailability: false,
  /** Name keys whose block the page is saying again after a login: their confirmations need no notice. */
  quietBlocks: /** @type {Set<string>} */ (new Set()),
  /** Name keys declined by a block ("Decline and block"): the block's notice says it, not "You declined…". */
  hushDecline: /** @type {Set<string>} */ (new Set()),
  /** Counts logins, so that blocks still being said again for an earlier one stop. */
  generation: 0,
  /** The inbox entry for the request being asked now, to say how it turned out. */
  requestEntry: /** @type {{ key: string, from: string } | null} */ (null),
  /** Numbers inbox entries (each request, each chat's messages) apart. */
  serial: 0,
  /** The inbox entry that counts this chat's messages while the tab is hidden. */
  messagesEntry: "",
  /** This session's credential, while it may still be resumed. */
  resume: /** @type {{ token: string, graceMs: number } | null} */ (readJson(RESUME_KEY)),
  /** When the connection dropped, if it is down: the session may be resumed until `dropped + graceMs`. */
  dropped: /** @type {number | null} */ (null),
  /** A `resume` is on its way. */
  resuming: false,
};

/** Whom this person blocked: name key (as the server keys blocks) -> name as shown. */
const blocks = /** @type {Map<string, string>} */ (new Map());
try {
  const saved = JSON.parse(sessionStorage.getItem(BLOCKED_KEY) ?? "[]");
  if (Array.isArray(saved)) for (const name of saved) if (typeof name === "string") blocks.set(nameKey(name), name);
} catch {
  // nothing kept, or not by this page
}

// ---------------------------------------------------------------------------------------------
// Server events

/** @param {string} key */
function readJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

/** Whether the session may still be resumed: there is a credential, and a drop, if any, is within its window. */
function resumable() {
  return session.resume !== null && (session.dropped === null || Date.now() < session.dropped + session.resume.graceMs);
}

function saveChat() {
  if (chat.partner === null || chat.ended) sessionStorage.removeItem(CHAT_KEY);
  else sessionStorage.setItem(CHAT_KEY, JSON.stringify({ partner: chat.partner, lines: chat.lines, conversation }));
}

/** The session is back on this socket: where it stands now, and what it missed meanwhile. */
function resumed(/** @type {Extract<ServerEvent, { type: "resumed" }>} */ e) {
  const dropped = session.dropped !== null;
  session.resuming = false;
  session.dropped = null;
  dismissLost?.();
  dismissLost = null;
  session.name = e.name;
  session.loggedIn = true;
  session.asked = false;
  ui.meName.textContent = e.name;
  sessionStorage.setItem(NAME_KEY, e.name);
  showView("lobby");
  if (e.partner !== null) {
    // The same chat: this page kept it (a dropped connection), or this tab's storage has it (a reload).
    if (chat.partner !== e.partner || chat.ended) {
      const saved = readJson(CHAT_KEY);
      if (saved?.partner === e.partner) {
        chat.restore(e.partner, Array.isArray(saved.lines) ? saved.lines : []);
        conversation.restore(saved.conversation);
      } else {
        chat.start(e.partner, "");
        conversation.start(e.partner);
      }
      showChatHeader(e.partner);
    }
    conversation.resumed();
    if (dropped) chat.system(`Back; your chat with ${e.partner} goes on`, "good");
  } else if (chat.partner !== null && !chat.ended) {
    chat.end(`Your chat with ${chat.partner} ended while you were away`);
    conversation.end();
  }
  if (e.request?.role === "received") request.open(e.request.name, e.request.expiresInMs);
  if (e.request?.role === "sent") startOutgoing(e.request.name, e.request.expiresInMs);
  for (const missed of e.missed) onEvent(missed);
  send({ type: "list" });
  restoreSession(null);
  saveChat();
}

/** @param {ServerEvent} e */
function onEvent(e) {
  /** The event's notice is not needed (the page said the same thing again by itself, or something else says it). */
  let quiet = false;
  /** The inbox already has this event (a request, a message): no line of its own from its notice. */
  let noted = false;
  switch (e.type) {
    case "ask_name":
      session.asked = true;
      // A new socket for a session that may still be resumed (a reload, a dropped connection): take it back.
      if (session.resume && resumable() && !session.resuming) {
        session.resuming = true;
        send({ type: "resume", token: session.resume.token, seen: conversation.seen });
        break;
      }
      // The server lost our login (restored without its storage): sign in again with the same name.
      if (session.loggedIn) endSession("The server restarted", "The server restarted; signing you in again…");
      if (session.joining === null && session.name !== null) {
        session.joining = session.name;
        session.rejoining = true;
      }
      if (session.joining !== null) send({ type: "login", name: session.joining });
      break;
    case "name_rejected": {
      const automatic = session.rejoining;
      loginFailed(
        (rejectedName(e) ?? "") +
          (automatic && e.reason === "taken"
            ? ". Your previous connection may not have closed yet; try again in a few seconds."
            : ""),
      );
      break;
    }
    case "resumed":
      session.resume = e.resume;
      sessionStorage.setItem(RESUME_KEY, JSON.stringify(e.resume));
      resumed(e);
      break;
    case "resume_failed":
      // Too late, or the credential was already used: the chat is over for us; log in again with the name.
      session.resuming = false;
      forgetResume();
      if (chat.partner !== null && !chat.ended) chat.end(`Your chat with ${chat.partner} could not be resumed`);
      conversation.end();
      if (session.name !== null || ui.name.value) {
        session.joining = session.name ?? ui.name.value;
        session.rejoining = true;
        send({ type: "login", name: session.joining });
      } else showView("login");
      quiet = true;
      break;
    case "welcome":
      session.resume = e.resume ?? null;
      if (e.resume) sessionStorage.setItem(RESUME_KEY, JSON.stringify(e.resume));
      else sessionStorage.removeItem(RESUME_KEY);
      session.dropped = null;
      dismissLost?.();
      dismissLost = null;
      chat.maxFrameBytes = e.limits.maxMessageBytes;
      link.useLimits(e.limits);
      if (session.rejoining) tell(`Reconnected as ${e.name}`, "good");
      session.name = e.name;
      session.loggedIn = true;
      session.joining = null;
      session.rejoining = false;
      session.asked = false;
      sessionStorage.setItem(NAME_KEY, e.name);
      ui.meName.textContent = e.name;
      if (!ui.loginView.hidden) {
        showView("lobby");
        ui.peopleTitle.focus();
      }
      send({ type: "list" });
      restoreSession(e.limits);
      break;
    case "users":
      session.listedAt = Date.now();
      people.snapshot(e);
      break;
    case "presence":
      session.pushed = true;
      people.apply(e.changes);
      break;
    case "request_sent":
      session.asking = false;
      startOutgoing(e.to, e.expiresInMs);
      break;
    case "incoming_request": {
      const key = nameKey(e.from);
      if (blocks.has(key)) {
        // Someone this tab blocked asked before the block was said again after a reconnect: say it now, which
        // declines the request; nothing to show.
        session.quietBlocks.add(key);
        session.hushDecline.add(key);
        send({ type: "block", name: e.from });
        quiet = true;
        break;
      }
      request.open(e.from, e.expiresInMs);
      if (hidden()) {
        const entry = { key: `request:${++session.serial}`, from: e.from };
        session.requestEntry = entry;
        inbox.add(entry.key, `${e.from} asked to chat`);
        desktop.show(`${e.from} wants to chat`, "Open Parley to accept or decline.", "parley-request", () => request.show());
      }
      break;
    }
    case "request_declined":
    case "cancelled":
      stopOutgoing();
      break;
    case "you_declined":
      request.close();
      if (session.hushDecline.delete(nameKey(e.from))) quiet = true;
      break;
    case "request_ended":
      if (e.role === "sent") stopOutgoing();
      else {
        request.close();
        const outcome = e.reason === "expired" ? "expired" : e.reason === "withdrawn" ? "withdrawn" : "went offline";
        noted = settleRequestEntry(e.name, outcome);
      }
      break;
    case "connected": {
      notices.clear(); // what came before (a decline, an expiry) is over now
      stopOutgoing();
      request.close();
      const line = transcriptLine(e) ?? "";
      chat.start(e.with, line);
      conversation.start(e.with);
      showChatHeader(e.with);
      announce(line);
      if (hidden()) inbox.add(null, line);
      update();
      ui.message.focus();
      break;
    }
    case "message":
      if (chat.partner === null || chat.ended) break;
      // Shown once and in order, whatever drops and resends came between (wire/conversation.js).
      for (const m of conversation.received(e)) {
        chat.theirs(e.from, m.text);
        announce(`${e.from}: ${m.text}`);
        if (hidden()) {
          inbox.add(session.messagesEntry, (n) => `${e.from} sent you ${n === 1 ? "a message" : `${n} messages`}`);
          desktop.show(e.from, m.text.length > 200 ? `${m.text.slice(0, 200)}…` : m.text, "parley-message");
        }
      }
      break;
    case "seen":
      conversation.partnerSaw(e.seq);
      break;
    case "partner_away":
    case "partner_back": {
      if (e.type === "partner_back") conversation.partnerBack(e.seen);
      const line = renderText(e)[0] ?? "";
      if (chat.partner !== null && !chat.ended) chat.system(line, e.type === "partner_back" ? "good" : "warn");
      announce(line);
      if (hidden()) inbox.add(null, line);
      break;
    }
    case "typing":
      chat.typing(e.from);
      break;
    case "partner_left":
    case "you_left": {
      const line = transcriptLine(e) ?? "";
      const hadFocus = ui.chat.contains(document.activeElement);
      // Nothing disappears silently: lines the partner never confirmed, and theirs that waited for a missing one.
      const { undelivered, stranded } = conversation.end();
      for (const m of stranded) chat.theirs(chat.partner ?? "", m.text);
      for (const l of undelivered) chat.system(`Not delivered: ${l.text}`, "warn");
      chat.end(line);
      announce(line);
      if (hidden()) inbox.add(null, line);
      if (hadFocus) ui.back.focus();
      break;
    }
    case "availability":
      session.away = !e.taking;
      if (session.away) sessionStorage.setItem(AWAY_KEY, "1");
      else sessionStorage.removeItem(AWAY_KEY);
      if (session.quietAvailability) quiet = true;
      session.quietAvailability = false;
      break;
    case "blocked":
      if (e.changed) {
        const key = nameKey(e.changed.name);
        if (session.quietBlocks.delete(key)) quiet = true;
        session.hushDecline.delete(key); // its "You declined…", if any, came just before
        if (e.changed.blocked) blocks.set(key, e.changed.name);
        else blocks.delete(key);
        saveBlocks();
      }
      break;
    case "bye":
      if (session.signingOut) signedOut();
      break;
    case "ask_target":
      send({ type: "cancel" }); // only a bare `connect` asks this; the page always names someone
      break;
    case "error":
      session.asking = false;
      // The partner is away: the line waits with the conversation and goes out when they are back.
      if (e.code === "not_delivered") {
        quiet = true;
        break;
      }
      // A login refused for another reason (too many attempts from this address): say so by the name field.
      if (!session.loggedIn && session.joining !== null) return loginFailed(e.message);
      if (e.code === "not_logged_in") showView("login");
      break;
    case "request_failed":
      session.asking = false;
      break;
    case "help": // never asked for: the page has its own words for what can be done
      break;
  }
  const notice = quiet ? null : noticeFor(e);
  if (notice) {
    if (hidden() && !noted) inbox.add(null, notice.text);
    notices.show(notice.text, notice.tone);
  }
  if (changesStatuses(e)) refreshSoon();
  saveChat();
  update();
}

/** The chat header: the partner's initial and the Block button's words. */
function showChatHeader(/** @type {string} */ partner) {
  session.messagesEntry = `messages:${++session.serial}`;
  ui.chatAvatar.textContent = [...partner][0]?.toUpperCase() ?? "";
  ui.chatAvatar.style.setProperty("--hue", String(hueOf(partner)));
  ui.blockPartner.setAttribute("aria-label", `Block ${partner}`);
  ui.blockPartner.title = `End this chat; ${partner} will be told no whenever they ask`;
}

function forgetResume() {
  session.resume = null;
  session.dropped = null;
  sessionStorage.removeItem(RESUME_KEY);
  sessionStorage.removeItem(CHAT_KEY);
}

/**
 * The inbox line of the request being asked says how it ended ("maya asked to chat, expired"); false when the
 * request came while the tab was visible and has no line.
 * @param {string} from
 * @param {string} outcome
 */
function settleRequestEntry(from, outcome) {
  const entry = session.requestEntry;
  session.requestEntry = null;
  if (!entry || nameKey(entry.from) !== nameKey(from)) return false;
  return inbox.amend(entry.key, `${entry.from} asked to chat, ${outcome}`);
}

/** The login did not happen: back to the form, with the name that was tried and why. */
function loginFailed(/** @type {string} */ why) {
  dismissLost?.();
  dismissLost = null;
  const name = session.joining;
  session.joining = null;
  session.rejoining = false;
  session.name = null;
  sessionStorage.removeItem(NAME_KEY);
  showView("login");
  if (name !== null) ui.name.value = name;
  showNameError(why);
  ui.name.focus();
  ui.name.select();
  update();
}

/** @param {ServerEvent} e */
function changesStatuses(e) {
  return ["request_sent", "request_failed", "incoming_request", "request_declined", "you_declined", "request_ended",
    "cancelled", "connected", "partner_left", "you_left"].includes(e.type);
}

// ---------------------------------------------------------------------------------------------
// The connection

/** @type {(() => void) | null} */
let stopRetryCountdown = null;
/** Removes the "Connection lost" notice once the socket is back and signed in. */
let dismissLost = /** @type {(() => void) | null} */ (null);

/** @param {LinkState} s */
function onLinkState(s) {
  stopRetryCountdown?.();
  stopRetryCountdown = null;
  ui.conn.dataset.state = s.kind;
  ui.retry.hidden = s.kind !== "waiting";
  switch (s.kind) {
    case "connecting":
      ui.connText.textContent = s.attempt === 0 && !session.name ? "Connecting…" : "Reconnecting…";
      break;
    case "open":
      ui.connText.textContent = "Online";
      break;
    case "waiting":
      if (session.loggedIn && resumable()) {
        // The session is kept for a while (R18): say so, and keep the chat as it is.
        session.dropped ??= Date.now();
        session.loggedIn = false;
        session.resuming = false;
        const seconds = Math.round((session.resume?.graceMs ?? 0) / 1000);
        const what = chat.partner !== null && !chat.ended ? `your chat with ${chat.partner} is kept for ${seconds} s` : `your session is kept for ${seconds} s`;
        dismissLost ??= tell(`Reconnecting… ${what}`, "warn");
      } else if (session.dropped !== null && !resumable()) {
        // Gone past the window: what was kept is over.
        forgetResume();
        endSession("Connection lost", "Connection lost; reconnecting…");
      } else if (session.loggedIn) endSession("Connection lost", "Connection lost; reconnecting…");
      session.asked = false;
      session.resuming = false;
      stopRetryCountdown = countdown(s.retryAt, (ms) => {
        ui.connText.textContent = `Offline · reconnecting in ${secondsLeft(ms)} s`;
      });
      break;
    case "stopped":
      ui.connText.textContent = "Offline";
      break;
  }
  update();
}

/**
 * The server forgot us (the socket dropped, or it asked for a name again): end what was going on, keep the
 * transcript readable, and log in again with the same name when the server asks.
 * @param {string} why what happened, for the transcript of a chat it ends
 * @param {string} notice what happened and what comes next, when there was no chat to end
 */
function endSession(why, notice) {
  notices.clear(); // earlier notices were about the session that just ended
  session.loggedIn = false;
  session.asking = false;
  session.generation++;
  if (chat.partner !== null && !chat.ended) {
    const line = `${why}: your chat with ${chat.partner} ended`;
    chat.end(line);
    if (hidden()) inbox.add(null, line);
  } else dismissLost = tell(notice, "warn");
  stopOutgoing();
  if (request.from !== null) settleRequestEntry(request.from, "ended when the connection was lost");
  request.close();
}

/**
 * After a login, the server's session starts with no blocks and taking requests: say again what this tab was
 * told. Blocks go a few at a time, well inside the server's rate limit (its welcome gives the limit).
 * @param {import("./wire/protocol.js").Limits | null} limits null after a resume
 */
function restoreSession(limits) {
  // A resumed session kept its blocks and its away on the server: nothing to say again.
  if (limits === null) return;
  if (session.away) {
    session.quietAvailability = true;
    send({ type: "away" });
  }
  const generation = ++session.generation;
  const names = [...blocks.values()];
  const perSecond = Math.max(1, Math.floor(Math.min(limits.rateBurst, limits.ratePerSecond) / 2));
  const next = () => {
    if (generation !== session.generation || !session.loggedIn) return;
    for (const name of names.splice(0, perSecond)) {
      session.quietBlocks.add(nameKey(name));
      send({ type: "block", name });
    }
    if (names.length > 0) setTimeout(next, 1000);
  };
  next();
}

/** Block or Unblock, from the list, the chat header or the list of blocked people. */
function blockPerson(/** @type {string} */ name, /** @type {boolean} */ block) {
  if (!send(block ? { type: "block", name } : { type: "unblock", name })) tell("Not connected; trying to reconnect", "warn");
}

function saveBlocks() {
  sessionStorage.setItem(BLOCKED_KEY, JSON.stringify([...blocks.values()]));
  people.blocked = blocks.values();
  ui.blockedPeople.hidden = blocks.size === 0;
  ui.blockedCount.textContent = String(blocks.size);
  const hadFocus = ui.blockedList.contains(document.activeElement);
  ui.blockedList.replaceChildren(
    ...[...blocks.values()].map((name) => {
      const li = el("li", "blocked-person");
      const button = el("button", "btn btn-quiet btn-small", "Unblock");
      button.type = "button";
      button.setAttribute("aria-label", `Unblock ${name}`);
      button.addEventListener("click", () => blockPerson(name, false));
      li.append(el("span", "person-name", name), button);
      return li;
    }),
  );
  if (hadFocus) (ui.blockedList.querySelector("button") ?? ui.peopleTitle).focus();
}

function signedOut() {
  session.signingOut = false;
  forgetResume();
  session.name = null;
  session.joining = null;
  session.loggedIn = false;
  session.asked = false;
  sessionStorage.removeItem(NAME_KEY);
  // The next person to sign in from this tab starts with no blocks and taking requests.
  session.away = false;
  sessionStorage.removeItem(AWAY_KEY);
  blocks.clear();
  saveBlocks();
  inbox.clear();
  stopOutgoing();
  request.close();
  chat.close();
  people.clear();
  showView("login");
  link.restart();
  ui.name.focus();
}

let refreshTimer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);

/** The fallback until presence pushes land: ask for the list once, shortly after a burst of changes. */
function refreshSoon() {
  if (session.pushed || refreshTimer !== undefined) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    if (session.loggedIn && !session.pushed) send({ type: "list" });
  }, 300);
}

setInterval(() => {
  if (!session.loggedIn || document.visibilityState !== "visible") return;
  if (!session.pushed || Date.now() - session.listedAt >= LIST_REFRESH_MS) send({ type: "list" });
}, LIST_POLL_MS);

// ---------------------------------------------------------------------------------------------
// The page

function showView(/** @type {"login" | "lobby"} */ view) {
  ui.loginView.hidden = view !== "login";
  ui.lobbyView.hidden = view !== "lobby";
  if (view === "login") resetJoin();
}

/** Shows or hides each part of the page from the session; called after every change. */
function update() {
  const inChat = chat.partner !== null;
  const busy = session.asking || session.outgoing !== null || request.from !== null || (inChat && !chat.ended);
  people.canAsk = session.loggedIn && !busy;
  ui.lobbyView.dataset.mode = session.outgoing ? "outgoing" : inChat ? "chat" : "idle";
  ui.lobbyView.classList.toggle("is-stale", !session.loggedIn);
  ui.idle.hidden = inChat || session.outgoing !== null;
  ui.outgoing.hidden = session.outgoing === null;
  ui.chat.hidden = !inChat || session.outgoing !== null;
  ui.exit.hidden = ui.blockPartner.hidden = chat.ended;
  ui.exit.disabled = ui.blockPartner.disabled = !session.loggedIn;
  ui.cancel.disabled = !session.loggedIn;
  ui.me.hidden = !session.loggedIn;
  ui.away.disabled = !session.loggedIn;
  ui.away.setAttribute("aria-pressed", String(session.away));
  ui.awayHint.hidden = !session.away;
  if (session.away) ui.away.setAttribute("aria-describedby", ui.awayHint.id);
  else ui.away.removeAttribute("aria-describedby");
  const news = inbox.unseen;
  const title = request.from !== null ? `${request.from} wants to chat · Parley` : "Parley";
  document.title = news > 0 ? `(${news}) ${title}` : title;
  favicon.show(news);
}

/** @param {string} to @param {number} expiresInMs */
function startOutgoing(to, expiresInMs) {
  stopOutgoing();
  if (chat.ended) chat.close();
  const deadline = Date.now() + expiresInMs;
  ui.outgoingName.textContent = to;
  const stop = countdown(deadline, (ms) => {
    ui.outgoingLeft.textContent = `The request expires in ${secondsLeft(ms)} s`;
    ui.outgoingBar.style.transform = `scaleX(${expiresInMs > 0 ? ms / expiresInMs : 0})`;
  });
  session.outgoing = { to, stop };
  update();
  ui.cancel.focus();
}

function stopOutgoing() {
  const hadFocus = ui.outgoing.contains(document.activeElement);
  session.outgoing?.stop();
  session.outgoing = null;
  update();
  if (hadFocus) ui.peopleTitle.focus();
}

function showNameError(/** @type {string} */ text) {
  ui.nameError.textContent = text;
  ui.name.setAttribute("aria-invalid", String(text !== ""));
}

function resetJoin() {
  ui.join.disabled = false;
  ui.join.textContent = "Join";
}

ui.loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const check = checkName(ui.name.value);
  if (!check.ok) {
    showNameError(check.detail);
    ui.name.focus();
    return;
  }
  showNameError("");
  session.joining = check.name;
  session.rejoining = false;
  ui.join.disabled = true;
  ui.join.textContent = link.state.kind === "open" ? "Joining…" : "Joining when connected…";
  if (session.asked) send({ type: "login", name: check.name });
});

// The name is checked as it is typed, by the server's own rules; an empty field says nothing until Join.
ui.name.addEventListener("input", () => {
  const check = checkName(ui.name.value);
  showNameError(check.ok || ui.name.value.trim() === "" ? "" : check.detail);
});

ui.cancel.addEventListener("click", () => send({ type: "cancel" }));
ui.exit.addEventListener("click", () => send({ type: "exit" }));
// Blocking the partner ends the chat as Exit does (the server says "You left the chat with…").
ui.blockPartner.addEventListener("click", () => {
  if (chat.partner !== null && !chat.ended) blockPerson(chat.partner, true);
});
// Do not disturb: the server answers `availability`, and the switch shows that answer.
ui.away.addEventListener("click", () => {
  if (!send({ type: session.away ? "back" : "away" })) tell("Not connected; trying to reconnect", "warn");
});
ui.retry.addEventListener("click", () => link.retryNow());
ui.back.addEventListener("click", () => {
  chat.close();
  update();
  ui.peopleTitle.focus();
});
ui.signOut.addEventListener("click", () => {
  session.signingOut = true;
  if (!send({ type: "quit" })) signedOut();
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return;
  const news = inbox.unseen;
  if (news > 0) announce(`While you were away: ${news} ${news === 1 ? "update" : "updates"}, listed at the top of the page`);
  inbox.seen();
  desktop.paint();
  update();
  link.retryNow();
});
addEventListener("online", () => link.retryNow());
// Close with a close frame when the page goes away, so the partner hears at once and the name is free again
// (Chrome can otherwise leave a closed tab's socket open; see workerd#1187 in docs/DESIGN.md).
addEventListener("pagehide", () => link.stop());
addEventListener("pageshow", (e) => {
  if (!e.persisted) return;
  if (session.loggedIn) endSession("Connection lost", "Connection lost; reconnecting…");
  link.start();
});

ui.name.value = sessionStorage.getItem(NAME_KEY) ?? "";
chat.onChange = saveChat;
if (session.resume !== null && ui.name.value) {
  // A reload within the window: the page resumes its session by itself, chat and all.
  ui.meName.textContent = ui.name.value;
  session.name = ui.name.value;
  session.dropped = Date.now();
  const saved = readJson(CHAT_KEY);
  if (saved && typeof saved.partner === "string") {
    chat.restore(saved.partner, Array.isArray(saved.lines) ? saved.lines : []);
    conversation.restore(saved.conversation);
    showChatHeader(saved.partner);
  }
  showView("lobby");
  dismissLost = tell(`Reconnecting… ${chat.partner !== null ? `your chat with ${chat.partner} is kept for ${Math.round(session.resume.graceMs / 1000)} s` : "signing you in again"}`, "warn");
} else {
  showView("login");
  ui.name.focus();
}
saveBlocks();
update();
link.start();
