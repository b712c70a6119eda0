// Named lobbies (/ws?lobby=NAME): each is its own Durable Object, with its own users and names.

import { describe, expect, it } from "vitest";
import { freshLobby, login } from "./support/lobby";

describe("named lobbies", () => {
  it("keep their users apart: the same name in both, lists and requests stay inside", async () => {
    const red = freshLobby();
    const blue = freshLobby();
    const redAlice = await login(red, "alice");
    const blueAlice = await login(blue, "alice");
    await login(blue, "bob");

    redAlice.send("connect bob");
    await redAlice.expect("bob is not online");
    redAlice.send("list");
    await redAlice.expect("1 online:");
    await redAlice.expect("  alice (you) - available");

    blueAlice.send("list");
    await blueAlice.expect("2 online:");
    blueAlice.send("connect bob");
    await blueAlice.until("Waiting for bob");
  });
});
