import { describe, expect, test } from "vitest";

import {
  COMMON_WORDS,
  KEYBOARD_ROWS,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_BITS,
  MIN_PASSWORD_LENGTH,
  POOL_BITS,
  SUBSTITUTES,
  WeakPasswordError,
  checkNewPassword,
  passwordStrength,
} from "../../src/password.js";

// This workspace has no @types/node: Node's modules are loaded untyped and
// given the few types used here.
const { readFileSync } = (await import(/* @vite-ignore */ "node:fs" as string)) as {
  readFileSync(path: URL, encoding: "utf8"): string;
};

// The Go package's corpus (internal/pwrule/testdata), which both
// implementations must reproduce exactly.
interface Vector {
  password: string;
  ok: boolean;
  code: string; // "" when ok
  bits: number;
  message: string; // "" when ok
  note: string;
}
const pwrule = new URL("../../../internal/pwrule/", import.meta.url);
const VECTORS = (JSON.parse(readFileSync(new URL("testdata/vectors.json", pwrule), "utf8")) as { vectors: Vector[] })
  .vectors;
const GO_SOURCE = readFileSync(new URL("pwrule.go", pwrule), "utf8");

/** The body of the Go declaration `var <name> = ... {` up to its closing brace, without comments. */
function goBlock(name: string): string {
  const start = GO_SOURCE.indexOf(`var ${name} = `);
  expect(start).toBeGreaterThanOrEqual(0);
  const open = GO_SOURCE.indexOf("{", start);
  const close = GO_SOURCE.indexOf("\n}\n", open);
  return GO_SOURCE.slice(open + 1, close).replace(/\/\/.*$/gm, "");
}

describe("Go vectors", () => {
  test("the corpus is there", () => {
    expect(VECTORS.length).toBeGreaterThanOrEqual(60);
  });

  test.each(VECTORS.map((v, i) => [i, v.note, v] as const))("%i: %s", (_i, _note, v) => {
    expect(passwordStrength(v.password)).toEqual({
      bits: v.bits,
      ok: v.ok,
      code: v.ok ? null : v.code,
      reason: v.message,
    });
    if (v.ok) {
      expect(() => checkNewPassword(v.password)).not.toThrow();
      return;
    }
    let err: unknown;
    try {
      checkNewPassword(v.password);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeakPasswordError);
    const e = err as WeakPasswordError;
    expect([e.name, e.code, e.bits, e.message]).toEqual(["WeakPasswordError", v.code, v.bits, v.message]);
  });
});

describe("the tables are Go's", () => {
  test("COMMON_WORDS is Go's commonWords, in order", () => {
    const goWords = [...goBlock("commonWords").matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    expect(COMMON_WORDS).toEqual(goWords);
  });

  test("POOL_BITS is Go's poolBits, and floor(1000·log2(pool))", () => {
    const goPools = [...goBlock("poolBits").matchAll(/(\d+): (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect([...POOL_BITS]).toEqual(goPools);
    for (const [pool, milli] of POOL_BITS) expect(milli).toBe(Math.floor(1000 * Math.log2(pool)));
  });

  test("KEYBOARD_ROWS are Go's keyboardRows", () => {
    // Go and JSON escape a string the same way.
    const goRows = [...goBlock("keyboardRows").matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`));
    expect(KEYBOARD_ROWS).toEqual(goRows);
  });

  test("SUBSTITUTES are Go's substitutes", () => {
    const goSubs = Object.fromEntries(
      [...goBlock("substitutes").matchAll(/'(.)': "([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    expect(SUBSTITUTES).toEqual(goSubs);
  });
});

describe("checkNewPassword", () => {
  test("sets code, bits and limit", () => {
    const cases: [string, string, number][] = [
      ["", "too_short", MIN_PASSWORD_LENGTH],
      ["🔑".repeat(MAX_PASSWORD_LENGTH + 1), "too_long", MAX_PASSWORD_LENGTH],
      ["kfbqxvmzwrst", "too_weak", MIN_PASSWORD_BITS],
      ["Password123456", "common", MIN_PASSWORD_BITS],
    ];
    for (const [pw, code, limit] of cases) {
      try {
        checkNewPassword(pw);
        expect.unreachable(code);
      } catch (e) {
        expect(e).toBeInstanceOf(WeakPasswordError);
        expect(e).toBeInstanceOf(Error);
        expect([(e as WeakPasswordError).code, (e as WeakPasswordError).limit]).toEqual([code, limit]);
      }
    }
  });

  test("refuses what is not a string of valid Unicode, as protect does", () => {
    expect(() => checkNewPassword(42 as unknown as string)).toThrow(TypeError);
    expect(() => checkNewPassword("velvet anchor \uD800 mosaic lantern")).toThrow(TypeError);
  });
});

describe("passwordStrength", () => {
  test("counts a lone surrogate as U+FFFD, as Go counts a byte that is not UTF-8", () => {
    expect(passwordStrength("\uD800abcdefghijkl")).toEqual(passwordStrength("\uFFFDabcdefghijkl"));
    expect(passwordStrength("xq\uDC00\uD800zv")).toEqual(passwordStrength("xq\uFFFD\uFFFDzv"));
  });

  test("counts code points, not UTF-16 units", () => {
    expect(passwordStrength("😀".repeat(MIN_PASSWORD_LENGTH - 1)).code).toBe("too_short");
    expect(passwordStrength("😀".repeat(MIN_PASSWORD_LENGTH)).code).toBe("too_weak");
    expect(passwordStrength("🔑".repeat(MAX_PASSWORD_LENGTH)).ok).toBe(true);
  });

  test("every message is one of four texts with numbers only, never part of a password", () => {
    const re = new RegExp(
      "^(use at least 12 characters|use at most 1024 characters|" +
        "this contains a common password; add other words or characters \\(about \\d+ bits, 50 are needed\\)|" +
        "add words or characters; this password is about \\d+ bits, 50 are needed)$",
    );
    for (const v of VECTORS) {
      const s = passwordStrength(v.password);
      if (!s.ok) expect(s.reason).toMatch(re);
    }
  });

  test("finds every listed word, in capitals and with substitutions", () => {
    const sub: Record<string, string> = { a: "@", e: "3", i: "!", l: "1", o: "0", s: "$", t: "7" };
    for (const w of COMMON_WORDS) {
      for (const pw of [w, w.toUpperCase(), [...w].map((c) => sub[c] ?? c).join("")]) {
        // Padded to the minimum length with characters that make no word.
        const s = passwordStrength(pw + "é".repeat(Math.max(0, MIN_PASSWORD_LENGTH - pw.length)));
        expect(s.code, pw).toBe("common");
      }
    }
  });
});
