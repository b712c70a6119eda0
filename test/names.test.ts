// Usernames: the allowed alphabet, mixed scripts, invisible characters, and look-alike names.

import { describe, expect, it } from "vitest";
import { checkName, nameKey } from "../public/wire/names.js";

const ok = (raw: string) => {
  const check = checkName(raw);
  if (!check.ok) throw new Error(`${raw}: ${check.detail}`);
  return check;
};
const refusal = (raw: string) => {
  const check = checkName(raw);
  if (check.ok) throw new Error(`${raw} was accepted`);
  return check.detail;
};

describe("which names are allowed", () => {
  it.each(["alice", "Bob_2", "jean-luc.picard", "Αλέξης", "Дмитрий", "अनिल", "山田たろう", "Tanaka田中", "김민준", "José"])(
    "accepts %s",
    (name) => {
      expect(ok(name).name).toBe(name.normalize("NFKC"));
    },
  );

  it.each([
    ["zero-width space", "ali\u200Bce", /invisible characters \(U\+200B\)/],
    ["zero-width joiner", "ali\u200Dce", /U\+200D/],
    ["right-to-left override", "\u202Eecila", /U\+202E/],
    ["byte order mark", "ali\uFEFFce", /U\+FEFF/],
  ])("refuses a %s and names it", (_, name, reason) => {
    expect(refusal(name)).toMatch(reason);
  });

  it("refuses names that mix scripts, which is how look-alikes are usually built, and says which", () => {
    expect(refusal("аlice")).toBe("mixes Cyrillic and Latin letters, which can imitate another name; use one script");
    expect(refusal("pаypal")).toMatch(/mixes Latin and Cyrillic letters/);
    expect(refusal("αlpha")).toMatch(/mixes Greek and Latin letters/);
  });

  it("refuses decoration: a leading combining mark, or a pile of them", () => {
    expect(refusal("\u0301alice")).toMatch(/cannot start with a combining mark/);
    expect(refusal("a\u0300\u0301\u0302\u0303\u0304lice")).toMatch(/at most 3 combining marks/);
  });
});

describe("which names count as the same", () => {
  it.each([
    ["alice", "ALICE"],
    ["alice", "ａｌｉｃｅ"],
    ["cop", "сор"], // all Cyrillic
    ["modern", "modem"], // rn looks like m
    ["bob0", "bobo"],
    ["will", "wi11"],
    ["vvalter", "walter"],
    ["ok", "οκ"], // all Greek
  ])("%s and %s collide", (a, b) => {
    expect(nameKey(a)).toBe(nameKey(b));
  });

  it.each([
    ["alice", "alicia"],
    ["bill", "bell"],
    ["андрей", "andrei"],
  ])("%s and %s do not", (a, b) => {
    expect(nameKey(a)).not.toBe(nameKey(b));
  });
});
