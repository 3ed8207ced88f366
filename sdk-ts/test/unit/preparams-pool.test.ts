// The pre-params pool as the client wires it, in one process: the page's
// scheduler (PreParamsPool) over the worker's store (PreParamsStore), with
// make() standing in for generatePreParamsIntoPool (make a set, put it in
// the store) and take() for the worker's takePreParams (here returning the
// set as hex, so the test can compare what was made with what was taken).
import "fake-indexeddb/auto"; // the IDB classes idb's wrappers test against; each test still gets its own factory

import { bytesToHex } from "@noble/hashes/utils.js";
import { IDBFactory } from "fake-indexeddb";
import { type IDBPDatabase, wrap } from "idb";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

import { PreParamsPool, type PreParamsPoolOptions } from "../../src/preparams-pool.js";
import {
  POOL_KEY_ID,
  PREPARAMS_DB_NAME,
  PreParamsEntryDroppedError,
  PreParamsPoolClosedError,
  PreParamsStore,
} from "../../src/worker/preparams-store.js";

const DB = "tsskit-preparams-test";
const hex = (b: Uint8Array) => bytesToHex(b);

let factory: IDBFactory;
const opened: Array<{ close(): unknown }> = [];

beforeEach(() => {
  factory = new IDBFactory();
});

afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
});

/** A set of made-up pre-parameters: JSON with a marker and random numbers, distinct each call. */
function fakeSet(): Uint8Array {
  const r = hex(crypto.getRandomValues(new Uint8Array(256)));
  return new TextEncoder().encode(
    `{"PaillierSK":{"N":"${r}","LambdaN":"${r.slice(0, 128)}"},"NTildei":"${r.slice(128)}","marker":"SECRET-${crypto.randomUUID()}"}`,
  );
}

/** A make that returns fresh sets and remembers them (as hex, since the pool zeroes what it was given). */
function fakeMaker() {
  const made: string[] = [];
  const signals: AbortSignal[] = [];
  const make = async (signal: AbortSignal) => {
    signals.push(signal);
    await new Promise((r) => setTimeout(r, 1));
    const set = fakeSet();
    made.push(hex(set));
    return set;
  };
  return {
    make,
    made,
    signals,
    get calls() {
      return signals.length;
    },
  };
}

type Options = Omit<PreParamsPoolOptions<string>, "make" | "count" | "take"> & {
  /** Makes one set; the harness puts it in the store (as the worker does) and zeroes it. */
  make: (signal: AbortSignal) => Promise<Uint8Array>;
  /** The worker's check before take hands a set out (tss.wasm's validatePreParams). */
  validate?: (pre: Uint8Array) => Promise<void>;
};

async function openStore(name = DB): Promise<PreParamsStore> {
  const store = await PreParamsStore.open({ indexedDB: factory, dbName: name });
  opened.push(store);
  return store;
}

/** A pool over its own connection to the store (a tab of its own). */
async function open(opts: Options): Promise<PreParamsPool<string>> {
  const store = await openStore();
  const { make, validate, ...rest } = opts;
  const pool = await PreParamsPool.open<string>({
    startDelayMs: 0,
    gapMs: 0,
    retryDelayMs: 5,
    ...rest,
    make: async (signal) => {
      const set = await make(signal);
      try {
        await store.put(set);
      } finally {
        set?.fill?.(0);
      }
    },
    count: () => store.count(),
    take: async (report) => {
      const pre = await store.take({ validate, onDropped: report });
      if (!pre) return null;
      const h = hex(pre);
      pre.fill(0);
      return h;
    },
  });
  opened.push(pool);
  return pool;
}

/** A second connection to the database, to read and damage records behind the pool's back. */
async function rawDb(name = DB): Promise<IDBPDatabase> {
  const db = (await wrap(factory.open(name))) as unknown as IDBPDatabase;
  opened.push(db);
  return db;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 2));
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fills a pool of size n (no refill afterwards) and returns it with its maker. */
async function filled(n: number, opts: Partial<Options> = {}) {
  const m = fakeMaker();
  const pool = await open({ make: m.make, size: n, ...opts });
  pool.fill();
  await until(async () => (await pool.count()) === n);
  await pool.stop();
  return { pool, m };
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe("PreParamsPool", () => {
  test("fill reaches size and stops there", async () => {
    const m = fakeMaker();
    const changes: number[] = [];
    const pool = await open({ make: m.make, size: 3, onChange: (n) => changes.push(n) });
    expect(pool.size).toBe(3);
    expect(await pool.count()).toBe(0);
    pool.fill();
    pool.fill(); // idempotent
    await until(async () => (await pool.count()) === 3);
    await delay(30);
    expect(m.calls).toBe(3);
    expect(await pool.count()).toBe(3);
    await until(() => changes.length === 3);
    expect(changes.at(-1)).toBe(3);
    // Sets are made one at a time.
    expect(new Set(m.made).size).toBe(3);
  });

  test("default size is 2, and a reopened pool keeps its sets", async () => {
    const m = fakeMaker();
    const pool = await open({ make: m.make });
    pool.fill();
    await until(async () => (await pool.count()) === 2);
    await pool.close();
    await expect(pool.count()).rejects.toThrow(PreParamsPoolClosedError);
    await expect(pool.take()).rejects.toThrow(PreParamsPoolClosedError);

    const again = await open({ make: m.make });
    expect(await again.count()).toBe(2);
    const got = [(await again.take())!, (await again.take())!];
    expect(got.sort()).toEqual([...m.made].sort());
    expect(m.calls).toBe(2);
  });

  test("take returns each set once and count goes down", async () => {
    const { pool, m } = await filled(3);
    const got: string[] = [];
    for (let left = 2; left >= 0; left--) {
      const pre = await pool.take();
      expect(typeof pre).toBe("string");
      got.push(pre!);
      expect(await pool.count()).toBe(left);
    }
    expect(got.sort()).toEqual([...m.made].sort());
    expect(await pool.take()).toBeNull();
    expect(await pool.count()).toBe(0);
    expect(m.calls).toBe(3); // stopped: no refill
  });

  test("after fill, take refills the pool", async () => {
    const m = fakeMaker();
    const pool = await open({ make: m.make, size: 2 });
    pool.fill();
    await until(async () => (await pool.count()) === 2);
    const a = await pool.take();
    const b = await pool.take();
    expect(a!).not.toBe(b!);
    await until(async () => (await pool.count()) === 2);
    expect(m.calls).toBe(4);
    const c = await pool.take();
    expect([a!, b!]).not.toContain(c!);
  });

  test("20 concurrent takes of 5 sets: 5 distinct sets and 15 nulls", async () => {
    const { pool, m } = await filled(5);
    const got = await Promise.all(Array.from({ length: 20 }, () => pool.take()));
    const sets = got.filter((x): x is string => x !== null);
    expect(sets).toHaveLength(5);
    expect(got.filter((x) => x === null)).toHaveLength(15);
    expect(new Set(sets).size).toBe(5);
    expect(sets.sort()).toEqual([...m.made].sort());
    expect(await pool.count()).toBe(0);
  });

  test("two connections (two tabs) taking at once never get the same set", async () => {
    const { pool, m } = await filled(6);
    const other = await open({ make: m.make });
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? pool : other).take()));
    const sets = got.filter((x): x is string => x !== null);
    expect(sets).toHaveLength(6);
    expect(new Set(sets).size).toBe(6);
  });

  test("stored entries are encrypted: no plaintext on disk, fresh nonces, bound to their id", async () => {
    const { m } = await filled(3);
    const db = await rawDb();
    const entries = (await db.getAll("entries")) as Array<Record<string, unknown>>;
    expect(entries).toHaveLength(3);
    const nonces = new Set<string>();
    for (const e of entries) {
      expect(Object.keys(e).sort()).toEqual(["ciphertext", "createdAt", "id", "nonce"]);
      expect(typeof e.id).toBe("string");
      expect(typeof e.createdAt).toBe("number");
      const nonce = e.nonce as Uint8Array;
      const ct = e.ciphertext as Uint8Array;
      expect(nonce).toBeInstanceOf(Uint8Array);
      expect(nonce).toHaveLength(12);
      nonces.add(hex(nonce));
      expect(ct).toBeInstanceOf(Uint8Array);
      const text = new TextDecoder("latin1").decode(ct);
      expect(text).not.toContain("SECRET-");
      expect(text).not.toContain("PaillierSK");
      for (const madeHex of m.made) {
        const plain = new TextEncoder().encode(madeHex);
        expect(contains(ct, plain)).toBe(false);
        // No 16-byte run of any set's plaintext appears in any ciphertext.
        const set = Uint8Array.from(madeHex.match(/../g)!.map((h) => parseInt(h, 16)));
        for (let i = 0; i + 16 <= set.length; i += 16) expect(contains(ct, set.subarray(i, i + 16))).toBe(false);
      }
    }
    expect(nonces.size).toBe(3);
    // The sizes are those of AES-GCM: plaintext + 16-byte tag.
    const lengths = entries.map((e) => (e.ciphertext as Uint8Array).length).sort();
    const plainLengths = m.made.map((h) => h.length / 2 + 16).sort();
    expect(lengths).toEqual(plainLengths);
  });

  test("the stored key is a non-extractable AES-256-GCM CryptoKey", async () => {
    await filled(1);
    const db = await rawDb();
    expect(await db.getAllKeys("keys")).toEqual([POOL_KEY_ID]);
    const rec = (await db.get("keys", POOL_KEY_ID)) as { key: CryptoKey; kid: string };
    expect(rec.key).toBeInstanceOf(CryptoKey);
    expect(rec.key.extractable).toBe(false);
    expect(rec.key.type).toBe("secret");
    expect(rec.key.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
    expect([...rec.key.usages].sort()).toEqual(["decrypt", "encrypt"]);
    await expect(crypto.subtle.exportKey("raw", rec.key)).rejects.toThrow();
  });

  test("the default database is tsskit-preparams", async () => {
    opened.push(await PreParamsStore.open({ indexedDB: factory }));
    expect(PREPARAMS_DB_NAME).toBe("tsskit-preparams");
    const names = (await factory.databases()).map((d) => d.name);
    expect(names).toContain("tsskit-preparams");
  });

  test("a tampered entry is skipped, deleted and reported", async () => {
    const errors: unknown[] = [];
    const { pool, m } = await filled(2, { onError: (e) => errors.push(e) });
    const db = await rawDb();
    const [first] = (await db.getAll("entries")) as Array<{ id: string; ciphertext: Uint8Array }>;
    first!.ciphertext[5]! ^= 1;
    await db.put("entries", first);

    const got = await pool.take();
    expect(got).not.toBeNull();
    expect(m.made).toContain(got!);
    expect(await pool.count()).toBe(0);
    expect(await db.get("entries", first!.id)).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(PreParamsEntryDroppedError);
    expect(errors[0]).toMatchObject({ entryId: first!.id, reason: "decrypt" });
    expect(await pool.take()).toBeNull();
  });

  test("an entry moved to another id does not decrypt (the id is authenticated)", async () => {
    const { pool } = await filled(1);
    const db = await rawDb();
    const [entry] = (await db.getAll("entries")) as Array<{ id: string }>;
    await db.delete("entries", entry!.id);
    await db.put("entries", { ...entry, id: crypto.randomUUID() });
    expect(await pool.take()).toBeNull();
    expect(await db.count("entries")).toBe(0);
  });

  test("a set that fails validation is skipped and deleted", async () => {
    const errors: unknown[] = [];
    const validated: string[] = [];
    let fail = 1;
    const { pool, m } = await filled(3, {
      onError: (e) => errors.push(e),
      validate: async (pre) => {
        validated.push(hex(pre));
        if (fail-- > 0) throw new Error("bad NTilde");
      },
    });
    const got = await pool.take();
    expect(got).not.toBeNull();
    expect(validated).toHaveLength(2);
    expect(validated[1]).toBe(got!);
    expect(validated[0]).not.toBe(got!);
    expect(m.made).toContain(validated[0]);
    expect(await pool.count()).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ reason: "validate" });
    expect((errors[0] as Error).cause).toMatchObject({ message: "bad NTilde" });

    // All failing: null, and the pool is empty.
    fail = Infinity;
    expect(await pool.take()).toBeNull();
    expect(await pool.count()).toBe(0);
  });

  test("a missing key drops the entries it encrypted", async () => {
    const { pool } = await filled(2);
    await pool.close();
    const db = await rawDb();
    await db.clear("keys");
    db.close();

    const m = fakeMaker();
    const again = await open({ make: m.make });
    expect(await again.count()).toBe(0);
    const raw = await rawDb();
    expect(await raw.count("entries")).toBe(0);
    expect(await raw.get("keys", POOL_KEY_ID)).toBeDefined();
    expect(m.calls).toBe(0);
  });

  test("a key removed while open: take drops the entries, and the next fill makes a new key", async () => {
    const { pool } = await filled(2);
    const db = await rawDb();
    const oldKid = ((await db.get("keys", POOL_KEY_ID)) as { kid: string }).kid;
    await db.clear("keys");
    expect(await pool.take()).toBeNull();
    expect(await pool.count()).toBe(0);

    pool.fill();
    await until(async () => (await pool.count()) === 2);
    const rec = (await db.get("keys", POOL_KEY_ID)) as { kid: string };
    expect(rec.kid).not.toBe(oldKid);
    expect(await pool.take()).not.toBeNull();
  });

  test("a key replaced (another tab) while a set is being made: the set is stored under the new key", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pool = await open({
      size: 1,
      make: async () => {
        await gate;
        return fakeSet();
      },
    });
    pool.fill();
    await delay(10);
    const db = await rawDb();
    await db.clear("keys"); // another tab then makes its own key
    const other = await open({ make: fakeMaker().make, size: 0 });
    const kid = ((await db.get("keys", POOL_KEY_ID)) as { kid: string }).kid;
    release();
    await until(async () => (await pool.count()) === 1);
    expect(((await db.get("keys", POOL_KEY_ID)) as { kid: string }).kid).toBe(kid);
    expect(await other.take()).not.toBeNull(); // the other tab can decrypt it
  });

  test("pause aborts the set being made and makes none until resumed", async () => {
    const signals: AbortSignal[] = [];
    let makeSets = false;
    const pool = await open({
      size: 1,
      make: (signal) =>
        new Promise<Uint8Array>((resolve, reject) => {
          signals.push(signal);
          if (makeSets) return void setTimeout(() => resolve(fakeSet()), 1);
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
    });
    pool.fill();
    await until(() => signals.length === 1);
    expect(signals[0]!.aborted).toBe(false);

    const resume = pool.pause();
    expect(signals[0]!.aborted).toBe(true);
    expect((signals[0]!.reason as Error).name).toBe("AbortError");
    await delay(30);
    expect(signals).toHaveLength(1);
    expect(await pool.count()).toBe(0);

    // Nested pauses: the pool resumes when the last is released.
    const resume2 = pool.pause();
    makeSets = true;
    resume();
    resume(); // twice: harmless
    await delay(30);
    expect(signals).toHaveLength(1);
    resume2();
    await until(async () => (await pool.count()) === 1);
    expect(signals).toHaveLength(2);
    expect(signals[1]!.aborted).toBe(false);
  });

  test("pause before the background work starts holds it off", async () => {
    const m = fakeMaker();
    const pool = await open({ make: m.make, size: 2 });
    const resume = pool.pause();
    pool.fill();
    await delay(30);
    expect(m.calls).toBe(0);
    // take() while paused works, and does not start work either.
    expect(await pool.take()).toBeNull();
    await delay(10);
    expect(m.calls).toBe(0);
    resume();
    await until(async () => (await pool.count()) === 2);
  });

  test("a set made despite the pause is kept", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const pool = await open({
      size: 1,
      make: async () => {
        calls++;
        await gate; // ignores its signal
        return fakeSet();
      },
    });
    pool.fill();
    await until(() => calls === 1);
    const resume = pool.pause();
    release();
    await until(async () => (await pool.count()) === 1);
    resume();
    await delay(20);
    expect(calls).toBe(1);
  });

  test("stop aborts the set being made and waits for it to settle; fill starts again", async () => {
    const signals: AbortSignal[] = [];
    let settled = false;
    const pool = await open({
      size: 1,
      make: (signal) =>
        new Promise<Uint8Array>((_, reject) => {
          signals.push(signal);
          signal.addEventListener(
            "abort",
            () =>
              setTimeout(() => {
                settled = true;
                reject(signal.reason);
              }, 20),
            { once: true },
          );
        }),
    });
    pool.fill();
    await until(() => signals.length === 1);
    await pool.stop();
    expect(signals[0]!.aborted).toBe(true);
    expect(settled).toBe(true);
    await delay(20);
    expect(signals).toHaveLength(1);
    await pool.stop(); // idle: returns at once

    pool.fill();
    await until(() => signals.length === 2);
    await pool.close();
    expect(signals[1]!.aborted).toBe(true);
  });

  test("fill right after stop starts again once the old work settles", async () => {
    const m = fakeMaker();
    const pool = await open({ make: m.make, size: 2 });
    pool.fill();
    await until(() => m.calls === 1);
    const stopped = pool.stop();
    pool.fill();
    await stopped;
    await until(async () => (await pool.count()) === 2);
  });

  test("startDelayMs holds off the first set", async () => {
    const m = fakeMaker();
    const pool = await open({ make: m.make, size: 1, startDelayMs: 150 });
    pool.fill();
    await delay(40);
    expect(m.calls).toBe(0);
    await until(async () => (await pool.count()) === 1);
  });

  test("size 0 never makes a set", async () => {
    const m = fakeMaker();
    const pool = await open({ make: m.make, size: 0 });
    pool.fill();
    expect(await pool.take()).toBeNull();
    const resume = pool.pause();
    resume();
    await delay(30);
    expect(m.calls).toBe(0);
    expect(await pool.count()).toBe(0);
  });

  test("make errors go to onError and are retried with a growing delay", async () => {
    const errors: unknown[] = [];
    const times: number[] = [];
    let failures = 3;
    const pool = await open({
      size: 1,
      retryDelayMs: 10,
      maxRetryDelayMs: 25,
      onError: (e) => {
        errors.push(e);
        throw new Error("a callback that throws changes nothing");
      },
      make: async () => {
        times.push(Date.now());
        if (failures-- > 0) throw new Error(`worker crashed ${3 - failures}`);
        return fakeSet();
      },
    });
    pool.fill();
    await until(async () => (await pool.count()) === 1);
    expect(errors.map((e) => (e as Error).message)).toEqual(["worker crashed 1", "worker crashed 2", "worker crashed 3"]);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(9); // 10
    expect(gaps[1]).toBeGreaterThanOrEqual(19); // 20
    expect(gaps[2]).toBeGreaterThanOrEqual(24); // 40, capped at 25
  });

  test("a made set that is not bytes is not stored: an error", async () => {
    const errors: unknown[] = [];
    let n = 0;
    const pool = await open({
      size: 1,
      onError: (e) => errors.push(e),
      make: async () => (n++ === 0 ? (undefined as unknown as Uint8Array) : fakeSet()),
    });
    pool.fill();
    await until(async () => (await pool.count()) === 1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
  });

  test("bad options", async () => {
    const make = fakeMaker().make;
    const count = async () => 0;
    const take = async () => null;
    await expect(PreParamsPool.open({ make, count, take, size: -1 })).rejects.toThrow(RangeError);
    await expect(PreParamsPool.open({ make, count, take, size: 1.5 })).rejects.toThrow(RangeError);
    await expect(PreParamsPool.open({ make, count, take, gapMs: -1 })).rejects.toThrow(RangeError);
    await expect(PreParamsPool.open({ count, take, make: undefined as unknown as PreParamsPoolOptions<null>["make"] })).rejects.toThrow(TypeError);
    await expect(PreParamsPool.open({ make, take, count: undefined as unknown as PreParamsPoolOptions<null>["count"] })).rejects.toThrow(TypeError);
    await expect(PreParamsPool.open({ make, count, take: undefined as unknown as PreParamsPoolOptions<null>["take"] })).rejects.toThrow(TypeError);
    // A store that cannot answer fails open() rather than the background.
    await expect(PreParamsPool.open({ make, take, count: async () => Promise.reject(new Error("no IndexedDB")) })).rejects.toThrow("no IndexedDB");
  });
});
