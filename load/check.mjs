// @ts-check
// The end-of-run check: reads every client's transcript and every chat's send log and counts what went wrong.
//
// What "lost" means. Take one chat session S between X and Y and the lines X sent in it, m0, m1, … m(n-1), in
// send order (X sends only while it believes S is on: it stops the moment it decides to end S, and the moment it
// receives Y's departure notice). The server relays a line if it processes it while S is still on, and it
// processes each socket's frames in order, so Y must receive a prefix m0…m(k-1), each once, in order:
//   - a line received twice is a duplicate; one received after a later one is reordered; both are always errors;
//   - a gap (m(i) missing while some m(j), j > i, arrived) is lost, however S ended;
//   - the tail m(k)…m(n-1) reached the server after S ended (so the server refused each one to X: see REFUSALS),
//     or it is lost. When S ended by an exit (either side typed exit, including the orderly exit at the end of the
//     run), both sockets stay open, so every line is accounted for exactly:
//         lost += tail − (refusals X received after S ended, before its next chat)
//     and more refusals than the tail is an error (a line refused and delivered). X's own exit follows its last
//     line, so an exiting sender must have a tail of 0.
//   - When S ended by a crash (X's or Y's TCP connection dropped without a close frame), the tail is not
//     checkable: X's last frames may have died in X's socket, or been relayed into Y's dead one. Those lines are
//     counted as `unverifiable`, never as lost; gaps, duplicates and reordering before the crash still count.
// Notices: when X exits, X must get "You left the chat with Y" and Y "X has left the chat", each exactly once;
// when X crashes, Y must get "X has left the chat (disconnected)" exactly once. Missing ones are notices_missing;
// extra or wrong ones are errors, as is any line delivered into the wrong chat or after its end notice, and any
// frame the load never expects (an unknown line, a server error other than the refusals above).

/** @typedef {import("../scripts/lib/client.mjs").Ev} Ev */

/**
 * Everything one socket lifetime of a user (an incarnation: a crashed user comes back as a new one) received.
 * @typedef {object} ClientRecord
 * @property {number} id
 * @property {string} name
 * @property {import("../scripts/lib/client.mjs").Received[]} recv  every event, in order
 * @property {number[]} sessions  the chats it was put in, in order: the k-th `connected` in `recv` starts sessions[k]
 */

/**
 * Chat lines are tagged `m<session>.<seq>`: the session id catches a line delivered into the wrong chat, the
 * sequence number loss, duplicates and reordering. No tag starts with a command word, so a line that arrives
 * after its chat ended is refused as an unknown command in the text dialect and never acted on.
 * @param {number} session
 * @param {number} seq
 */
export const tag = (session, seq) => `m${session}.${seq}`;

/**
 * @param {string} text
 * @returns {{ session: number, seq: number } | null}
 */
export function untag(text) {
  const m = /^m(\d+)\.(\d+)$/.exec(text);
  return m ? { session: Number(m[1]), seq: Number(m[2]) } : null;
}

/**
 * How the server refuses a chat line that reached it after its chat ended: the JSON error `not_in_chat`, or in the
 * text dialect (which carries no codes) the sentence `chat_ended` within 3 s of the end, then `unknown_command`
 * (the line read as a command, its first word, the tag, echoed), or `answer_y_n(_to)` when a new request already
 * waits for this side's y/n.
 */
const REFUSALS = new Set(["not_in_chat", "chat_ended", "unknown_command", "answer_y_n", "answer_y_n_to"]);

/** Counts of named problems, each with the first example seen. */
export class Problems {
  /** @type {Map<string, { count: number, example: string }>} */
  kinds = new Map();

  /**
   * @param {string} kind
   * @param {string} example
   * @param {number} [count]
   */
  add(kind, example, count = 1) {
    if (count <= 0) return;
    const k = this.kinds.get(kind);
    if (k) k.count += count;
    else this.kinds.set(kind, { count, example });
  }

  total() {
    let n = 0;
    for (const k of this.kinds.values()) n += k.count;
    return n;
  }

  /** @returns {Record<string, { count: number, example: string }>} */
  toJSON() {
    return Object.fromEntries([...this.kinds].sort((a, b) => b[1].count - a[1].count));
  }
}

/**
 * One chat, as the driver ran it. Side 0 sent the request, side 1 accepted it.
 * @typedef {object} Session
 * @property {number} id
 * @property {[ClientRecord, ClientRecord]} clients
 * @property {[number[], number[]]} sentAt sentAt[d][seq]: when side d sent its line seq (performance.now())
 * @property {[number, number]} recvCount live count of side d's lines the other side received (the send window)
 * @property {[boolean, boolean]} stop side d sends no more lines
 * @property {boolean} connected both sides saw `connected`
 * @property {{ how: "exit" | "crash", by: 0 | 1, drain: boolean } | null} end
 * @property {string | null} aborted why the driver gave up on this chat (already counted as an error)
 */

/**
 * What one incarnation received during one session.
 * @typedef {{ seqsFrom: number[], notices: Ev[], refusals: number, echoes: number[] }} Seen
 */

/**
 * One direction of a chat, as its receiver showed it: the line numbers `seqs` in arrival order, of `n` sent.
 * @param {number[]} seqs
 * @param {number} n
 * @param {(q: number) => void} neverSent  called for a number the sender never sent
 * @returns {{ once: Set<number>, max: number, repeated: number, outOfOrder: number }}
 *   every number shown, the highest shown in order, how many were shown again, how many came after a higher one
 */
function tally(seqs, n, neverSent) {
  const once = new Set();
  let max = -1;
  let repeated = 0;
  let outOfOrder = 0;
  for (const q of seqs) {
    if (q >= n) neverSent(q);
    if (once.has(q)) {
      repeated++;
      continue;
    }
    once.add(q);
    if (q < max) outOfOrder++;
    else max = q;
  }
  return { once, max, repeated, outOfOrder };
}

/**
 * @param {ClientRecord[]} clients
 * @param {Session[]} sessions
 */
export function check(clients, sessions) {
  const errors = new Problems();
  const byId = new Map(sessions.map((s) => [s.id, s]));
  /** @type {Map<string, Seen>} key `${clientId}/${sessionId}` */
  const seen = new Map();
  const seenOf = (/** @type {number} */ client, /** @type {number} */ session) => {
    const key = `${client}/${session}`;
    let s = seen.get(key);
    if (!s) seen.set(key, (s = { seqsFrom: [], notices: [], refusals: 0, echoes: [] }));
    return s;
  };
  let nameRetries = 0;
  let presence = 0;

  for (const c of clients) {
    let seg = -1;
    /** @type {Session | undefined} */
    let cur;
    let ended = false;
    for (const { ev } of c.recv) {
      switch (ev.type) {
        case "connected": {
          seg++;
          cur = byId.get(c.sessions[seg]);
          ended = false;
          if (!cur) {
            errors.add("unexpected_connected", `${c.name} connected with ${ev.with} outside any chat the driver started`);
            break;
          }
          const partner = cur.clients[cur.clients[0] === c ? 1 : 0];
          if (ev.with !== partner.name) errors.add("wrong_partner", `${c.name} connected with ${ev.with}, expected ${partner.name}`);
          break;
        }
        case "message": {
          const t = untag(ev.text);
          if (!t) {
            errors.add("garbled_message", `${c.name} got ${JSON.stringify(ev.text.slice(0, 80))} from ${ev.from}`);
          } else if (!cur || t.session !== cur.id) {
            errors.add("cross_chat_message", `${c.name} got ${ev.text} from ${ev.from} while in chat ${cur?.id ?? "none"}`);
          } else if (ended) {
            errors.add("message_after_end", `${c.name} got ${ev.text} from ${ev.from} after the chat ended`);
          } else {
            seenOf(c.id, cur.id).seqsFrom.push(t.seq);
          }
          break;
        }
        case "partner_left":
        case "you_left":
          if (!cur) {
            errors.add("notice_outside_chat", `${c.name} got ${JSON.stringify(ev)} outside a chat`);
            break;
          }
          seenOf(c.id, cur.id).notices.push(ev);
          ended = true;
          break;
        case "error":
        case "said": {
          const [what, message] = ev.type === "error" ? [ev.code, ev.message] : [ev.sentence, ev.line];
          if (!REFUSALS.has(what) || !cur || !ended) {
            errors.add(`server_error:${what}`, `${c.name}: ${message}`);
            break;
          }
          const s = seenOf(c.id, cur.id);
          s.refusals++;
          const echoed = ev.type === "said" && ev.fields.word ? untag(ev.fields.word) : null;
          if (echoed && echoed.session !== cur.id) {
            errors.add("refusal_wrong_chat", `${c.name} (in chat ${cur.id}): ${message}`);
          } else if (echoed) s.echoes.push(echoed.seq);
          break;
        }
        case "name_rejected":
          nameRetries++;
          break;
        case "presence":
          presence++;
          break;
        case "other":
          errors.add("unexpected_frame", `${c.name}: ${JSON.stringify(ev.raw)}`);
          break;
        default:
          break; // ask_name, welcome, request_sent, incoming_request, users, check, bye, pong
      }
    }
  }

  let chats = 0;
  let endedByExit = 0;
  let endedByCrash = 0;
  let sent = 0;
  let delivered = 0;
  let refused = 0;
  let unverifiable = 0;
  let lost = 0;
  let duplicates = 0;
  let reordered = 0;
  let noticesMissing = 0;

  for (const s of sessions) {
    if (s.aborted || !s.connected || !s.end) continue;
    chats++;
    if (s.end.how === "crash") endedByCrash++;
    else endedByExit++;
    for (const d of /** @type {const} */ ([0, 1])) {
      const x = s.clients[d];
      const y = s.clients[1 - d];
      const n = s.sentAt[d].length;
      const got = seen.get(`${y.id}/${s.id}`)?.seqsFrom ?? [];
      const xs = seen.get(`${x.id}/${s.id}`);
      sent += n;
      const { once, max, repeated, outOfOrder } = tally(got, n, (q) =>
        errors.add("message_never_sent", `${y.name} got m${s.id}.${q} but ${x.name} sent ${n}`),
      );
      duplicates += repeated;
      reordered += outOfOrder;
      delivered += once.size;
      const k = max + 1;
      const gaps = k - [...once].filter((q) => q < k).length;
      const tail = Math.max(0, n - k);
      const refusals = xs?.refusals ?? 0;
      for (const q of xs?.echoes ?? []) {
        if (q < k) errors.add("refused_and_delivered", `${x.name}'s m${s.id}.${q} was refused but ${y.name} got it or a later one`);
      }
      refused += Math.min(refusals, tail);
      lost += gaps;
      if (s.end.how === "crash") {
        unverifiable += Math.max(0, tail - refusals);
      } else {
        lost += Math.max(0, tail - refusals);
        if (refusals > tail) errors.add("more_refusals_than_missing", `${x.name} in chat ${s.id}: ${refusals} refusals, ${tail} missing`);
      }
    }
    // Notices: the ender's own, and its partner's.
    const e = s.end.by;
    const ender = s.clients[e];
    const partner = s.clients[1 - e];
    const enderSaw = seen.get(`${ender.id}/${s.id}`)?.notices ?? [];
    const partnerSaw = seen.get(`${partner.id}/${s.id}`)?.notices ?? [];
    const reason = s.end.how === "crash" ? "disconnected" : "exit";
    const wantPartner = partnerSaw.filter((n) => n.type === "partner_left" && n.name === ender.name && n.reason === reason).length;
    if (wantPartner === 0) noticesMissing++;
    if (partnerSaw.length > Math.min(1, wantPartner)) {
      errors.add("wrong_or_extra_notice", `${partner.name} in chat ${s.id} (${ender.name} ${s.end.how}): ${JSON.stringify(partnerSaw)}`);
    }
    if (s.end.how === "exit") {
      const wantEnder = enderSaw.filter((n) => n.type === "you_left" && n.with === partner.name).length;
      if (wantEnder === 0) noticesMissing++;
      if (enderSaw.length > Math.min(1, wantEnder)) {
        errors.add("wrong_or_extra_notice", `${ender.name} in chat ${s.id} (exited): ${JSON.stringify(enderSaw)}`);
      }
    } else if (enderSaw.length > 0) {
      errors.add("wrong_or_extra_notice", `${ender.name} in chat ${s.id} (crashed): ${JSON.stringify(enderSaw)}`);
    }
  }

  return {
    chats,
    endedByExit,
    endedByCrash,
    sent,
    delivered,
    refused,
    unverifiable,
    lost,
    duplicates,
    reordered,
    noticesMissing,
    nameRetries,
    presence,
    errors,
  };
}

// -------------------------------------------------------------------------------------------------------------
// --drops: sockets dropped and resumed mid-chat
//
// Here a user is one person across all its sockets, and its transcript is what its client showed: the partner's
// lines as its Conversation (public/wire/conversation.js) released them, in order, each once, whatever the raw
// frames held (a resent line arrives twice on the wire by design), and the notices. Every chat is drained before
// it ends (both sides stop, every line is shown on the other side, then one side exits), so the rule is strict:
// in chat S, Y shows exactly X's lines m0…m(n-1), each once, in order; a line missing is lost, however the drops
// fell. Notices: each drop of X in S gives Y one `partner_away` and one `partner_back` for X and gives X one
// `resumed` (with Y still its partner); a missing one is notices_missing, an extra one an error. The exit's two
// notices are checked as in `check`. A line the client reports undelivered at the end although the partner
// showed it is an error (a false alarm); one it reports and the partner never showed is still lost.

/**
 * What a --drops client shows: the events it acts on, a chat line only once its Conversation releases it,
 * `dropped` where the driver dropped its socket, and `undelivered` for a line its Conversation still held
 * unconfirmed when the chat ended.
 * @typedef {Ev | { type: "dropped" } | { type: "undelivered", text: string }} Shown
 */

/**
 * One user of a --drops run, across every socket it had.
 * @typedef {object} UserRecord
 * @property {number} id
 * @property {string} name
 * @property {{ t: number, ev: Shown }[]} shown  in order
 * @property {number[]} sessions  the k-th `connected` in `shown` starts sessions[k]
 */

/**
 * One chat of a --drops run. Side 0 sent the request.
 * @typedef {object} DropSession
 * @property {number} id
 * @property {[UserRecord, UserRecord]} clients
 * @property {[number[], number[]]} sentAt  sentAt[d][seq]: when side d typed its line seq (performance.now())
 * @property {[number, number]} shownCount  live count of side d's lines the other side showed (the send window)
 * @property {[boolean, boolean]} stop  side d types no more lines
 * @property {[number, number]} drops  how many times side d's socket was dropped in this chat
 * @property {boolean} connected
 * @property {{ how: "exit", by: 0 | 1 } | null} end
 * @property {string | null} aborted  why the driver gave up on this chat (already counted as an error)
 */

/**
 * @param {UserRecord[]} users
 * @param {DropSession[]} sessions
 */
export function checkDrops(users, sessions) {
  const errors = new Problems();
  const byId = new Map(sessions.map((s) => [s.id, s]));
  /** @typedef {{ seqs: number[], away: number, back: number, resumed: number, notices: Ev[], undelivered: number[] }} SeenInChat */
  /** @type {Map<string, SeenInChat>} key `${userId}/${sessionId}` */
  const seen = new Map();
  const seenOf = (/** @type {number} */ user, /** @type {number} */ session) => {
    const key = `${user}/${session}`;
    let s = seen.get(key);
    if (!s) seen.set(key, (s = { seqs: [], away: 0, back: 0, resumed: 0, notices: [], undelivered: [] }));
    return s;
  };

  for (const u of users) {
    let seg = -1;
    /** @type {DropSession | undefined} */
    let cur;
    let partner = "";
    let ended = false;
    for (const { ev } of u.shown) {
      const inChat = cur && !ended ? seenOf(u.id, cur.id) : null;
      switch (ev.type) {
        case "connected":
          seg++;
          cur = byId.get(/** @type {number} */ (u.sessions[seg]));
          ended = false;
          if (!cur) {
            errors.add("unexpected_connected", `${u.name} connected with ${ev.with} outside any chat the driver started`);
            break;
          }
          partner = cur.clients[cur.clients[0] === u ? 1 : 0].name;
          if (ev.with !== partner) errors.add("wrong_partner", `${u.name} connected with ${ev.with}, expected ${partner}`);
          break;
        case "message": {
          const t = untag(ev.text);
          if (!t) errors.add("garbled_message", `${u.name} showed ${JSON.stringify(ev.text.slice(0, 80))} from ${ev.from}`);
          else if (!cur || t.session !== cur.id) errors.add("cross_chat_message", `${u.name} showed ${ev.text} from ${ev.from} while in chat ${cur?.id ?? "none"}`);
          else if (!inChat) errors.add("message_after_end", `${u.name} showed ${ev.text} from ${ev.from} after the chat ended`);
          else inChat.seqs.push(t.seq);
          break;
        }
        case "partner_away":
        case "partner_back":
          if (!inChat || ev.name !== partner) errors.add("stray_notice", `${u.name} (chat ${cur?.id ?? "none"}${ended ? ", ended" : ""}): ${JSON.stringify(ev)}`);
          else if (ev.type === "partner_away") inChat.away++;
          else inChat.back++;
          break;
        case "resumed":
          if (!inChat) break; // a drop between chats is not one this run makes; a resume there has nothing to check
          if (ev.partner !== partner) errors.add("resumed_without_partner", `${u.name} resumed in chat ${cur?.id} with partner ${ev.partner}, expected ${partner}`);
          inChat.resumed++;
          break;
        case "partner_left":
        case "you_left":
          if (!cur) errors.add("notice_outside_chat", `${u.name} got ${JSON.stringify(ev)} outside a chat`);
          else seenOf(u.id, cur.id).notices.push(ev);
          ended = true;
          break;
        case "undelivered": {
          const t = untag(ev.text);
          if (cur && t?.session === cur.id) seenOf(u.id, cur.id).undelivered.push(t.seq);
          break;
        }
        case "error":
          errors.add(`server_error:${ev.code}`, `${u.name}: ${ev.message}`);
          break;
        case "resume_failed":
          errors.add("resume_failed", `${u.name} could not resume in chat ${cur?.id ?? "none"}`);
          break;
        case "other":
          errors.add("unexpected_frame", `${u.name}: ${JSON.stringify(ev.raw)}`);
          break;
        default:
          break; // dropped, ask_name, welcome, request_sent, incoming_request, users, presence, check, bye
      }
    }
  }

  let chats = 0;
  let sent = 0;
  let delivered = 0;
  let lost = 0;
  let duplicates = 0;
  let reordered = 0;
  let noticesMissing = 0;
  let drops = 0;
  let resumes = 0;
  /** Which notices were missing, with an example of each. */
  const missing = new Problems();

  for (const s of sessions) {
    if (s.aborted || !s.connected || !s.end) continue;
    chats++;
    for (const d of /** @type {const} */ ([0, 1])) {
      const x = s.clients[d];
      const y = s.clients[1 - d];
      const n = s.sentAt[d].length;
      const xs = seenOf(x.id, s.id);
      const ys = seenOf(y.id, s.id);
      sent += n;
      const { once, repeated, outOfOrder } = tally(ys.seqs, n, (q) =>
        errors.add("message_never_sent", `${y.name} showed m${s.id}.${q} but ${x.name} sent ${n}`),
      );
      duplicates += repeated;
      reordered += outOfOrder;
      delivered += once.size;
      lost += n - [...once].filter((q) => q < n).length;
      for (const q of xs.undelivered) {
        if (once.has(q)) errors.add("undelivered_but_shown", `${x.name} was told m${s.id}.${q} was not delivered, but ${y.name} showed it`);
      }
      // x's drops: y is told x went and came back, x gets its session back, once per drop.
      const k = s.drops[d];
      drops += k;
      resumes += Math.min(k, xs.resumed);
      for (const [what, got] of /** @type {const} */ ([["partner_away", ys.away], ["partner_back", ys.back], ["resumed", xs.resumed]])) {
        noticesMissing += Math.max(0, k - got);
        missing.add(what, `chat ${s.id}: ${x.name} dropped ${k} times, ${what === "resumed" ? x.name : y.name} saw ${what} ${got} times`, k - got);
        if (got > k) errors.add(`extra_${what}`, `chat ${s.id}: ${x.name} dropped ${k} times, ${what} seen ${got} times`);
      }
    }
    const e = s.end.by;
    const ender = s.clients[e];
    const partner = s.clients[1 - e];
    const enderSaw = seenOf(ender.id, s.id).notices;
    const partnerSaw = seenOf(partner.id, s.id).notices;
    const wantPartner = partnerSaw.filter((n) => n.type === "partner_left" && n.name === ender.name && n.reason === "exit").length;
    const wantEnder = enderSaw.filter((n) => n.type === "you_left" && n.with === partner.name).length;
    if (wantPartner === 0) noticesMissing++;
    if (wantEnder === 0) noticesMissing++;
    missing.add("partner_left", `chat ${s.id}: ${partner.name} was not told ${ender.name} left: ${JSON.stringify(partnerSaw)}`, wantPartner === 0 ? 1 : 0);
    missing.add("you_left", `chat ${s.id}: ${ender.name} was not told it left: ${JSON.stringify(enderSaw)}`, wantEnder === 0 ? 1 : 0);
    if (partnerSaw.length > Math.min(1, wantPartner)) errors.add("wrong_or_extra_notice", `${partner.name} in chat ${s.id}: ${JSON.stringify(partnerSaw)}`);
    if (enderSaw.length > Math.min(1, wantEnder)) errors.add("wrong_or_extra_notice", `${ender.name} in chat ${s.id} (exited): ${JSON.stringify(enderSaw)}`);
  }

  return { chats, sent, delivered, lost, duplicates, reordered, noticesMissing, missing, drops, resumes, errors };
}
