// Browsers get no permessage-deflate (issue 13 §1): wrangler.toml sets `no_web_socket_compression`, and the runtime
// refuses a client that offers it. Checked where the worker meets the client (Miniflare's direct socket, as on
// Cloudflare's edge): through wrangler dev, or Miniflare's usual entry, their proxy negotiates compression itself.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type DevServer, ROOT, configFlags, startDevServer } from "../../scripts/dev-server.mjs";

const NO_COMPRESSION = "no_web_socket_compression";

/** The Sec-WebSocket-Extensions of the 101 answer to a client that offers, as browsers do, "permessage-deflate; client_max_window_bits". */
function extensionsFor(url: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    let extensions: string | undefined;
    ws.once("upgrade", (res) => {
      extensions = res.headers["sec-websocket-extensions"] as string | undefined;
    });
    ws.once("open", () => {
      ws.close(1000, "done");
      resolve(extensions);
    });
    ws.once("error", reject);
  });
}

describe("WebSocket compression, where the worker meets the client", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDevServer({ runtime: "miniflare" });
  });
  afterAll(() => dev?.stop());

  it("is refused to a client that offers permessage-deflate: no Sec-WebSocket-Extensions in the 101", async () => {
    expect(configFlags(ROOT)).toContain(NO_COMPRESSION);
    expect(await extensionsFor(dev.wsUrl)).toBeUndefined();
  });

  it("is negotiated by the same runtime without the flag, so the refusal is the flag's doing", async () => {
    // The bench worker's config sets no flags of its own: the Lobby there, started without wrangler.toml's.
    const bare = await startDevServer({ runtime: "miniflare", config: "bench/wrangler.toml" });
    try {
      expect(configFlags(ROOT, "bench/wrangler.toml")).not.toContain(NO_COMPRESSION);
      expect(await extensionsFor(`${bare.url.replace("http", "ws")}/lobby/ws?lobby=compression`)).toMatch(/^permessage-deflate/);
    } finally {
      await bare.stop();
    }
  });
});
