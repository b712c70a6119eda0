// Issue 9, attack 9: a client's close frame with a code no endpoint may send (or a one-byte payload) is a protocol
// error: it is answered with 1002 and the socket really closes; a valid code is echoed back.

import { afterAll, beforeAll, expect, it } from "vitest";
import { RawClient } from "../raw-client.ts";
import { ATTACK_VARS, type Runtime, freshLobby, login, startRuntime, summary } from "./support.ts";

/** Out of range, reserved, or never to be sent in a close frame (RFC 6455 7.4). */
const INVALID = [999, 1004, 1006, 1015, 1016, 2999, 5000, 65535];
/**
 * The runtime reports these as 1005, exactly as it reports a valid close frame with no code: the Lobby cannot tell
 * them apart, and answers all three with a close frame without a code. What matters is that the socket closes.
 */
const REPORTED_AS_NO_CODE = ["1005", "1 byte", "empty"];
const VALID = [1000, 1001, 3000, 4999];
/** How long the server may take to answer a close and end the connection. */
const ANSWER_WITHIN_MS = 2000;

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime({ vars: { ...ATTACK_VARS } });
});
afterAll(async () => {
  await rt?.stop();
});

/** Logs in, sends a close frame with `payload`, and reports the server's close code and whether TCP ended. */
async function closeWith(url: string, name: string, payload: Buffer): Promise<{ answer: number | "none"; ended: boolean }> {
  const c = await login(url, name);
  await c.sendCloseRaw(payload);
  const frame = await c.waitClose(ANSWER_WITHIN_MS).catch(() => null);
  const ended = await c.waitEnd(ANSWER_WITHIN_MS).then(() => true, () => false);
  c.destroy();
  return { answer: frame?.code ?? "none", ended };
}

const codePayload = (code: number) => Buffer.from([code >> 8, code & 0xff]);

it("answers an invalid close code with 1002, echoes a valid one, and closes the socket whatever the close frame held", { timeout: 20_000 }, async () => {
  const url = freshLobby(rt);
  const cases: [string, Buffer][] = [
    ...INVALID.map((code): [string, Buffer] => [String(code), codePayload(code)]),
    ["1005", codePayload(1005)],
    ["1 byte", Buffer.from([0x03])],
    ...VALID.map((code): [string, Buffer] => [String(code), codePayload(code)]),
    ["empty", Buffer.alloc(0)],
  ];
  const results = Object.fromEntries(
    await Promise.all(cases.map(async ([label, payload], i) => [label, await closeWith(url, `closer${i}`, payload)] as const)),
  );
  summary("close codes", Object.fromEntries(Object.entries(results).map(([k, r]) => [k, `${r.answer}${r.ended ? "" : " (TCP open)"}`])));

  for (const label of INVALID.map(String)) expect(results[label], `close with ${label}`).toEqual({ answer: 1002, ended: true });
  for (const label of REPORTED_AS_NO_CODE) expect(results[label], `close with ${label}`).toEqual({ answer: 1005, ended: true });
  for (const code of VALID) expect(results[code], `close with ${code}`).toEqual({ answer: code, ended: true });
});
