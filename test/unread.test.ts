// The unread budget: counted on every frame, a check at half of it, the token echoed back, closed past it.

import { describe, expect, it } from "vitest";
import { MAX_WRONG_ANSWERS, answered, checkSent, counted, noneUnread } from "../src/unread";

describe("unread output", () => {
  it("asks for a check once half the budget is sent, and only once while it is in flight", () => {
    const u = noneUnread();
    expect(counted(u, 40, 100)).toBe("ok");
    expect(counted(u, 10, 100)).toBe("check");
    checkSent(u, "t1");
    expect(counted(u, 10, 100)).toBe("ok");
    expect(u.check).toEqual({ token: "t1", upTo: 50 });
  });

  it("forgives what was sent up to the check when its token comes back, and not what came after", () => {
    const u = noneUnread();
    counted(u, 60, 100);
    checkSent(u, "t1");
    counted(u, 30, 100);
    expect(answered(u, "t1")).toBe("ok");
    expect(u).toEqual({ sent: 30, check: null, wrong: 0 });
    expect(answered(u, "t1")).toBe("none");
  });

  it("is over the budget past it, answered or not", () => {
    const u = noneUnread();
    expect(counted(u, 100, 100)).toBe("check");
    expect(counted(u, 1, 100)).toBe("over");
  });

  it("takes a few wrong answers, then treats the socket as not reading", () => {
    const u = noneUnread();
    counted(u, 60, 100);
    checkSent(u, "4821");
    for (let i = 1; i < MAX_WRONG_ANSWERS; i++) expect(answered(u, `000${i}`)).toBe("wrong");
    expect(answered(u, "0000")).toBe("over");
  });

  it("refuses a token that is only a prefix or an extension of the right one", () => {
    const u = noneUnread();
    counted(u, 60, 100);
    checkSent(u, "abcd");
    expect(answered(u, "abc")).toBe("wrong");
    expect(answered(u, "abcde")).toBe("wrong");
    expect(answered(u, "abcd")).toBe("ok");
  });
});
