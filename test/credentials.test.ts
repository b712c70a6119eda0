// The synchronous SHA-256 that resume credentials are kept as, against the runtime's own.

import { describe, expect, it } from "vitest";
import { newCredential, sameSecret, sha256 } from "../src/credentials";

async function subtle(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("sha256", () => {
  it("gives the known digests", () => {
    expect(sha256("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("agrees with crypto.subtle at every length around the block boundaries, and on non-ASCII text", async () => {
    for (let n = 0; n < 140; n++) {
      const text = "x".repeat(n);
      expect(sha256(text), `length ${n}`).toBe(await subtle(text));
    }
    for (const text of ["ünïcødé 🙂", "\u0000", "a".repeat(1000)]) expect(sha256(text)).toBe(await subtle(text));
  });
});

describe("sameSecret", () => {
  it("is true only for equal strings", () => {
    expect(sameSecret("abc", "abc")).toBe(true);
    for (const other of ["abd", "ab", "abcd", "", "ABC"]) expect(sameSecret(other, "abc")).toBe(false);
  });
});

describe("newCredential", () => {
  it("is 128 random bits in base64url (22 characters, no padding), never the same twice", () => {
    const made = Array.from({ length: 200 }, () => newCredential());
    for (const c of made) expect(c).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(made).size).toBe(made.length);
  });
});
