/**
 * The rule a new password must meet before a key share is encrypted under
 * it. A backup is only as strong as its password: PBKDF2 at 600,000
 * iterations slows guessing down, it does not stop it.
 *
 * The rule is the one of the Go package internal/pwrule, which specifies
 * it; both give the same answer, bits and message for every password, and
 * internal/pwrule/testdata/vectors.json is the corpus both run. In short:
 *
 * - 12 to 1024 characters, counted in code points of the password as
 *   given (no normalisation: a decomposed "ü" is two; an emoji is one).
 * - A strength estimate of at least 50 bits, in whole thousandths of a bit
 *   with integers only, so that JavaScript and Go cannot round differently.
 *   The pool is the total size of the classes the password uses (a-z 26,
 *   A-Z 26, 0-9 10, other printable ASCII and space 33, any other code
 *   point 100); a character counts log2(pool) bits from a fixed table, but
 *   only 1 bit if, with ASCII letters in lowercase, it repeats the one
 *   before it, is next to it in code points or on a US keyboard row, or
 *   forms with it a pair seen earlier in the password. A common password or
 *   word from a fixed list (at most 128), found with ASCII letters in
 *   lowercase and 0 o, 1 i or l, ! i, 3 e, 4 a, @ a, 5 s, $ s, 7 t undone,
 *   left to right and longest first, counts 7 bits for all its characters.
 * - Under 50 bits, the code is "common" if a listed word was found and
 *   "too_weak" otherwise.
 *
 * A lone surrogate counts as U+FFFD, which is what UTF-8 encoding makes of
 * it (and Go sees); checkNewPassword refuses it, as protect does.
 *
 * Nothing here logs, and no message holds the password or any part of it.
 */

/** The fewest code points a new password may have. */
export const MIN_PASSWORD_LENGTH = 12;
/** The most code points a new password may have; it bounds the work of the estimate. */
export const MAX_PASSWORD_LENGTH = 1024;
/** The least strength estimate, in bits, a new password may have. */
export const MIN_PASSWORD_BITS = 50;

/**
 * Which part of the rule a password fails: fewer than 12 or more than 1024
 * code points, an estimate under 50 bits, or that with a common password
 * or word in it.
 */
export type WeakPasswordCode = "too_short" | "too_long" | "too_weak" | "common";

/** The rule's verdict on a password, for a strength meter. */
export interface PasswordStrength {
  /** The strength estimate in bits, a multiple of 1/1000; 0 above MAX_PASSWORD_LENGTH. */
  bits: number;
  /** The password meets the rule. */
  ok: boolean;
  /** Why not; null when ok. */
  code: WeakPasswordCode | null;
  /** What is needed, for the user; "" when ok. */
  reason: string;
}

/** A new password does not meet the rule; the message says what is needed. */
export class WeakPasswordError extends Error {
  override readonly name = "WeakPasswordError";
  readonly code: WeakPasswordCode;
  /** The strength estimate in bits; 0 with "too_long". */
  readonly bits: number;
  /**
   * The bound not met: MIN_PASSWORD_LENGTH with "too_short",
   * MAX_PASSWORD_LENGTH with "too_long", MIN_PASSWORD_BITS otherwise.
   */
  readonly limit: number;
  constructor(code: WeakPasswordCode, bits: number, message: string) {
    super(message);
    this.code = code;
    this.bits = bits;
    this.limit =
      code === "too_short" ? MIN_PASSWORD_LENGTH : code === "too_long" ? MAX_PASSWORD_LENGTH : MIN_PASSWORD_BITS;
  }
}

/**
 * Throws WeakPasswordError if password may not be set as a new password,
 * TypeError if it is not a string of valid Unicode. Call it wherever a
 * password is chosen (a new wallet, a changed password), not where one is
 * typed to open an existing backup.
 */
export function checkNewPassword(password: string): void {
  if (typeof password !== "string") throw new TypeError("password: want a string");
  // TextEncoder would turn a lone surrogate into U+FFFD silently, and the
  // backup would then open with another password than the one typed.
  if (/[\uD800-\uDFFF]/u.test(password)) throw new TypeError("password: not valid Unicode (a lone surrogate)");
  const s = passwordStrength(password);
  if (!s.ok) throw new WeakPasswordError(s.code!, s.bits, s.reason);
}

/**
 * Applies the rule to password. It estimates passwords of any length up to
 * MAX_PASSWORD_LENGTH, short ones included, so that a meter can follow the
 * typing.
 */
export function passwordStrength(password: string): PasswordStrength {
  const p: number[] = [];
  for (const ch of password) {
    if (p.length === MAX_PASSWORD_LENGTH) {
      return { bits: 0, ok: false, code: "too_long", reason: `use at most ${MAX_PASSWORD_LENGTH} characters` };
    }
    const c = ch.codePointAt(0)!;
    p.push(c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
  }
  const [milli, common] = estimate(p);
  const bits = milli / 1000;
  const about = Math.floor(milli / 1000);
  if (p.length < MIN_PASSWORD_LENGTH) {
    return { bits, ok: false, code: "too_short", reason: `use at least ${MIN_PASSWORD_LENGTH} characters` };
  }
  if (milli < MIN_PASSWORD_BITS * 1000 && common) {
    const reason = `this contains a common password; add other words or characters (about ${about} bits, ${MIN_PASSWORD_BITS} are needed)`;
    return { bits, ok: false, code: "common", reason };
  }
  if (milli < MIN_PASSWORD_BITS * 1000) {
    const reason = `add words or characters; this password is about ${about} bits, ${MIN_PASSWORD_BITS} are needed`;
    return { bits, ok: false, code: "too_weak", reason };
  }
  return { bits, ok: true, code: null, reason: "" };
}

// ---------------------------------------------------------------------------

const WEAK_BITS = 1000; // a repeated, sequential or already seen character, in millibits
const WORD_BITS = 7000; // a listed word: log2 of the list's bound, 128

/**
 * floor(1000·log2(pool)) for every pool a password can have, the sums of
 * the class sizes 26, 26, 10, 33 and 100. A table, not Math.log2, so that
 * every implementation has the same numbers; Go's poolBits.
 * @internal
 */
export const POOL_BITS: ReadonlyMap<number, number> = new Map([
  [10, 3321], [26, 4700], [33, 5044], [36, 5169], [43, 5426], [52, 5700],
  [59, 5882], [62, 5954], [69, 6108], [85, 6409], [95, 6569], [100, 6643],
  [110, 6781], [126, 6977], [133, 7055], [136, 7087], [143, 7159], [152, 7247],
  [159, 7312], [162, 7339], [169, 7400], [185, 7531], [195, 7607],
]);

// The character classes, as bits of a set, and their sizes.
const LOWER = 1;
const UPPER = 2;
const DIGIT = 4;
const SYMBOL = 8;
const OTHER = 16;
const CLASS_SIZE: ReadonlyArray<readonly [number, number]> = [
  [LOWER, 26],
  [UPPER, 26],
  [DIGIT, 10],
  [SYMBOL, 33],
  [OTHER, 100],
];

function charClass(c: number): number {
  if (c >= 0x61 && c <= 0x7a) return LOWER;
  if (c >= 0x41 && c <= 0x5a) return UPPER;
  if (c >= 0x30 && c <= 0x39) return DIGIT;
  if (c >= 0x20 && c <= 0x7e) return SYMBOL;
  return OTHER;
}

/** The strength estimate of the code points p in millibits, and whether p contains a listed word. */
function estimate(p: readonly number[]): [number, boolean] {
  if (p.length === 0) return [0, false];
  let classes = 0;
  for (const c of p) classes |= charClass(c);
  let pool = 0;
  for (const [cls, size] of CLASS_SIZE) if (classes & cls) pool += size;
  const full = POOL_BITS.get(pool)!;

  const lower = p.map(asciiLower);

  // Characters inside a listed word count through the word.
  let milli = 0;
  let common = false;
  const inWord = new Array<boolean>(p.length).fill(false);
  for (let i = 0; i < lower.length; ) {
    const n = longestWord(lower, i);
    if (n === 0) {
      i++;
      continue;
    }
    common = true;
    milli += WORD_BITS;
    for (let j = i; j < i + n; j++) inWord[j] = true;
    i += n;
  }

  // A pair's key: both code points are below 0x110000, so the key is exact.
  const seen = new Set<number>();
  for (let i = 0; i < lower.length; i++) {
    const c = lower[i]!;
    let weak = false;
    if (i > 0) {
      const prev = lower[i - 1]!;
      const pair = prev * 0x110000 + c;
      weak = c === prev || c === prev + 1 || c === prev - 1 || keyboardNeighbours(prev, c) || seen.has(pair);
      seen.add(pair);
    }
    if (inWord[i]) continue;
    milli += weak ? WEAK_BITS : full;
  }
  return [milli, common];
}

function asciiLower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/**
 * The rows of a US keyboard, unshifted and shifted; neighbours in a row
 * are a walk ("qwerty", "!@#$"). Go's keyboardRows.
 * @internal
 */
export const KEYBOARD_ROWS: readonly string[] = [
  "`1234567890-=",
  "~!@#$%^&*()_+",
  "qwertyuiop[]\\",
  "qwertyuiop{}|",
  "asdfghjkl;'",
  'asdfghjkl:"',
  "zxcvbnm,./",
  "zxcvbnm<>?",
];
const ROWS: readonly number[][] = KEYBOARD_ROWS.map(codes);

function keyboardNeighbours(a: number, b: number): boolean {
  for (const row of ROWS) {
    const ia = row.indexOf(a);
    const ib = row.indexOf(b);
    if (ia >= 0 && ib >= 0 && (ia - ib === 1 || ib - ia === 1)) return true;
  }
  return false;
}

/**
 * The characters that stand for a letter of a listed word. Go's
 * substitutes.
 * @internal
 */
export const SUBSTITUTES: Readonly<Record<string, string>> = { a: "4@", e: "3", i: "1!", l: "1", o: "0", s: "5$", t: "7" };
const SUBS: ReadonlyMap<number, readonly number[]> = new Map(
  Object.entries(SUBSTITUTES).map(([k, v]) => [k.charCodeAt(0), codes(v)]),
);

/** The length of the longest listed word p has at i, substitutions undone; 0 if none. */
function longestWord(p: readonly number[], i: number): number {
  let best = 0;
  for (const w of WORDS) {
    if (w.length > best && i + w.length <= p.length && matchWord(w, p, i)) best = w.length;
  }
  return best;
}

function matchWord(w: readonly number[], p: readonly number[], i: number): boolean {
  for (let k = 0; k < w.length; k++) {
    const c = p[i + k]!;
    if (c !== w[k] && !SUBS.get(w[k]!)?.includes(c)) return false;
  }
  return true;
}

function codes(s: string): number[] {
  return Array.from(s, (ch) => ch.codePointAt(0)!);
}

/**
 * Among the most used passwords and password words, all lowercase ASCII
 * letters and digits of 4 or more characters (shorter ones would turn up
 * by chance in random strings). Go's commonWords, in the same order.
 * @internal
 */
export const COMMON_WORDS: readonly string[] = [
  // Passwords from the lists of leaked passwords.
  "password", "passwd", "pass", "qwerty", "qwertz", "azerty", "qazwsx",
  "1q2w3e", "1qaz2wsx", "zaq12wsx", "123456", "123123", "654321", "111111", "000000",
  "121212", "112233", "666666", "696969", "abc123", "letmein", "welcome",
  "admin", "root", "toor", "guest", "user", "test", "login", "access",
  "secret", "changeme", "default", "iloveyou", "love", "loveme", "lovely",
  "hello", "monkey", "dragon", "master", "shadow", "sunshine", "princess",
  "superman", "batman", "starwars", "pokemon", "naruto", "minecraft",
  "trustno1", "whatever", "freedom", "flower", "cookie", "cheese",
  "computer", "internet", "killer", "angel", "money", "football",
  "baseball", "soccer", "hockey", "mustang", "ferrari", "matrix", "ninja",
  "michael", "jennifer", "jordan", "charlie", "thomas", "hunter", "ranger",
  "buster", "pepper", "friend", "family", "jesus", "google", "facebook",
  "apple", "samsung",
  // Words a user of this wallet would reach for.
  "tsskit", "wallet", "bitcoin", "ethereum", "crypto", "satoshi",
  "blockchain", "metamask", "ledger", "mnemonic", "passphrase", "backup",
  // Months (not "may", too short), days and seasons.
  "january", "february", "march", "april", "june", "july", "august",
  "september", "october", "november", "december", "monday", "tuesday",
  "wednesday", "thursday", "friday", "saturday", "sunday", "spring",
  "summer", "autumn", "winter",
];

const WORDS: readonly number[][] = COMMON_WORDS.map(codes);
