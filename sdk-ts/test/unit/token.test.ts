import { describe, expect, test, vi } from "vitest";

import { TokenSource, expiryOf, TOKEN_REFRESH_MARGIN_MS } from "../../src/token.js";
import { TsskitError } from "../../src/errors.js";

/** An unsigned token with exp (seconds) in its claims: enough for scheduling. */
function tokenExpiring(atMs: number, n = 0): string {
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${b64({ alg: "EdDSA" })}.${b64({ exp: Math.floor(atMs / 1000), n })}.sig`;
}

describe("TokenSource", () => {
  test("needs a token or getToken", () => {
    expect(() => new TokenSource({})).toThrow(TsskitError);
    expect(() => new TokenSource({ token: "" })).toThrow(/token or getToken is required/);
  });

  test("a static token is used as is", async () => {
    const s = new TokenSource({ token: "static" });
    expect(await s.get()).toBe("static");
    expect(await s.refresh()).toBe("static");
    expect(s.refreshable).toBe(false);
  });

  test("getToken is called once while the token is fresh, again a minute before it expires", async () => {
    let now = 1_000_000_000_000;
    vi.spyOn(Date, "now").mockImplementation(() => now);
    let n = 0;
    const getToken = vi.fn(async () => tokenExpiring(now + 10 * 60_000, ++n));
    const s = new TokenSource({ getToken });
    const first = await s.get();
    expect(await s.get()).toBe(first);
    expect(getToken).toHaveBeenCalledTimes(1);
    now += 10 * 60_000 - TOKEN_REFRESH_MARGIN_MS + 1; // inside the margin
    const second = await s.get();
    expect(second).not.toBe(first);
    expect(getToken).toHaveBeenCalledTimes(2);
    vi.restoreAllMocks();
  });

  test("callers waiting at once share one getToken call", async () => {
    let release!: (t: string) => void;
    const getToken = vi.fn(() => new Promise<string>((r) => (release = r)));
    const s = new TokenSource({ getToken });
    const both = Promise.all([s.get(), s.get(), s.refresh()]);
    release(tokenExpiring(Date.now() + 3_600_000));
    const [a, b, c] = await both;
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(getToken).toHaveBeenCalledTimes(1);
  });

  test("a getToken that fails or returns nothing is a typed error, and is tried again next time", async () => {
    const getToken = vi.fn().mockRejectedValueOnce(new Error("backend down")).mockResolvedValueOnce("").mockResolvedValueOnce("ok.e30.x");
    const s = new TokenSource({ getToken });
    await expect(s.get()).rejects.toBeInstanceOf(TsskitError);
    await expect(s.get()).rejects.toMatchObject({ code: "unauthenticated" });
    expect(await s.get()).toBe("ok.e30.x");
  });

  test("expiryOf reads exp, and treats an unreadable token as expired", () => {
    expect(expiryOf(tokenExpiring(1_700_000_000_000))).toBe(1_700_000_000_000);
    for (const t of ["", "a", "a.b.c", "a." + btoa("{\"exp\":\"soon\"}") + ".c", "a." + btoa("[1]") + ".c"]) expect(expiryOf(t)).toBe(0);
  });
});
