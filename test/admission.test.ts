// Who may open a socket and try a login: the address key, the caps counted until the close event, and the
// login buckets that forget the least recently used address, never everyone's at once.

import { describe, expect, it } from "vitest";
import { Admission, addressKey } from "../src/admission";

const LIMITS = { maxSocketsPerIp: 2, maxSocketsPerLobby: 5, loginsPerMinutePerIp: 3 };
const T0 = 1_700_000_000_000;

describe("addressKey", () => {
  it("keeps an IPv4 address whole", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey(" 203.0.113.7 ")).toBe("203.0.113.7");
  });

  it("keys an IPv6 address by its /64, however it is written", () => {
    const key = "2001:db8:1:2::/64";
    for (const ip of ["2001:db8:1:2::1", "2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:DB8:1:2:0:0:0:9", "2001:db8:1:2::a:b%eth0"]) {
      expect(addressKey(ip)).toBe(key);
    }
    expect(addressKey("2001:db8:1:3::1")).not.toBe(key);
  });

  it("counts no loopback or private address: only a developer's own machine sends those (npm start, a local load)", () => {
    for (const ip of ["127.0.0.1", "127.0.0.42", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.10", "169.254.1.1", "::1", "::ffff:127.0.0.1", "fd00::1", "fc12::1", "fe80::1"]) {
      expect(addressKey(ip), ip).toBeNull();
    }
    for (const ip of ["172.15.0.1", "172.32.0.1", "100.64.0.1", "11.0.0.1", "2001:db8::1"]) expect(addressKey(ip), ip).not.toBeNull();
  });

  it("reads an IPv4-mapped IPv6 address as the IPv4 address", () => {
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  it("has no key for an unknown address, and keeps what it cannot parse whole", () => {
    expect(addressKey(null)).toBeNull();
    expect(addressKey("")).toBeNull();
    expect(addressKey("1:2:3")).toBe("1:2:3");
    expect(addressKey("1::2::3")).toBe("1::2::3");
  });
});

describe("socket caps", () => {
  it("refuses an address over its cap with 429 and the whole lobby over its cap with 503", () => {
    const a = new Admission(LIMITS);
    a.opened("x");
    expect(a.refusal("x")).toBeNull();
    a.opened("x");
    expect(a.refusal("x")).toEqual({ status: 429, reason: expect.stringContaining("at most 2") });
    expect(a.refusal("y")).toBeNull();
    a.opened("y");
    a.opened(null);
    a.opened(null);
    expect(a.count()).toBe(5);
    expect(a.refusal("z")).toEqual({ status: 503, reason: expect.stringContaining("full") });
    expect(a.refusal(null)).toEqual({ status: 503, reason: expect.stringContaining("full") });
  });

  it("frees a slot only when a socket's close event comes", () => {
    const a = new Admission(LIMITS);
    a.opened("x");
    a.opened("x");
    a.closed("x");
    expect(a.count("x")).toBe(1);
    expect(a.refusal("x")).toBeNull();
    a.closed("x");
    a.closed("x");
    expect(a.count("x")).toBe(0);
    expect(a.count()).toBe(0);
  });
});

describe("login buckets", () => {
  it("allows a burst of logins per address, then refills over a minute", () => {
    const a = new Admission(LIMITS);
    expect([1, 2, 3, 4].map(() => a.mayLogin("x", T0))).toEqual([true, true, true, false]);
    expect(a.mayLogin("y", T0)).toBe(true);
    expect(a.mayLogin("x", T0 + 20_000)).toBe(true);
    expect(a.mayLogin(null, T0)).toBe(true);
  });

  it("forgets the least recently used address when full, never everyone's bucket at once", () => {
    const a = new Admission(LIMITS, 3);
    for (let i = 0; i < 3; i++) a.mayLogin("attacked", T0);
    expect(a.mayLogin("attacked", T0)).toBe(false);
    // Ten thousand fresh addresses (here, past a capacity of 3) must not reset the address in use.
    for (let i = 0; i < 50; i++) {
      a.mayLogin(`fresh-${i}`, T0);
      expect(a.mayLogin("attacked", T0)).toBe(false);
    }
  });
});
