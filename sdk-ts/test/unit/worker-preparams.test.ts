// The worker's side of pre-parameters (src/worker/preparams.ts) in Node:
// two WorkerPreParams stand for two workers, a MessageChannel carries a
// prime from one to the other as the page sets it up, and a fake engine
// stands for tss.wasm. What is checked: primes gather in the collecting
// worker only, what leaves a collection or a handle is zeroed, a set is
// used once, and the pool's sets are taken once whatever the workers.
import "fake-indexeddb/auto";

import { bytesToHex } from "@noble/hashes/utils.js";
import { IDBFactory } from "fake-indexeddb";
import { type IDBPDatabase, wrap } from "idb";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

import { WorkerPreParams, type PrimeEngine } from "../../src/worker/preparams.js";

const DB = "tsskit-preparams-worker-test";
let factory: IDBFactory;
const cleanup: Array<() => unknown> = [];

beforeEach(() => {
  factory = new IDBFactory();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/**
 * A stand-in for tss.wasm: primes are random 128-byte arrays (the engine
 * keeps a reference to each, to check that the worker zeroes them); a set
 * is JSON naming the primes it was made from.
 */
function fakeEngine(opts: { needMoreOnce?: boolean; searchMs?: number } = {}) {
  const primes: Uint8Array[] = [];
  const signals: AbortSignal[] = [];
  const assembled: string[][] = [];
  let needMore = opts.needMoreOnce ?? false;
  const engine: PrimeEngine = {
    safePrime: (signal) =>
      new Promise((resolve, reject) => {
        signals.push(signal);
        const t = setTimeout(() => {
          const p = crypto.getRandomValues(new Uint8Array(128));
          p[0]! |= 0xc0;
          primes.push(p);
          resolve(p);
        }, opts.searchMs ?? 1);
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          reject(Object.assign(new Error("canceled"), { code: "canceled" }));
        });
      }),
    assemble: async (ps) => {
      if (ps.length < 4) throw Object.assign(new Error("need at least 4 safe primes"), { code: "invalid_preparams" });
      if (needMore) {
        needMore = false;
        throw Object.assign(new Error("no two of the safe primes are far enough apart"), { code: "need_more_primes" });
      }
      const names = ps.map((p) => bytesToHex(p));
      assembled.push(names);
      return new TextEncoder().encode(JSON.stringify({ PaillierSK: { from: names } }));
    },
    validate: async (pre) => {
      if (!new TextDecoder().decode(pre).includes("PaillierSK")) throw new Error("not pre-parameters");
    },
  };
  return { engine, primes, signals, assembled };
}

function worker(engine: PrimeEngine): WorkerPreParams {
  return new WorkerPreParams(engine, { indexedDB: factory });
}

const never = () => new AbortController().signal;

/** One prime found by `from` for `to`'s collection, over a channel made for it, as the page does. */
async function sendPrime(from: WorkerPreParams, to: WorkerPreParams, collection: string, signal = never()): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const received = to.receive(collection, port2, signal);
  await from.findFor(port1, signal);
  return received;
}

describe("WorkerPreParams", () => {
  test("primes found in two workers gather in the collector; the set stays there under a handle", async () => {
    const a = fakeEngine();
    const b = fakeEngine();
    const collector = worker(a.engine);
    const helper = worker(b.engine);
    const c = collector.openCollection();
    const counts = await Promise.all([collector.findInto(c, never()), sendPrime(helper, collector, c), collector.findInto(c, never()), sendPrime(helper, collector, c)]);
    expect(counts.sort()).toEqual([1, 2, 3, 4]);
    // The helper's primes were zeroed where they were found: it kept no copy.
    expect(b.primes).toHaveLength(2);
    for (const p of b.primes) expect(p.every((x) => x === 0)).toBe(true);
    expect(helper.held).toEqual({ collections: 0, sets: 0 });

    const { handle } = (await collector.assemble(c)) as { handle: string };
    expect(typeof handle).toBe("string");
    expect(a.assembled).toHaveLength(1);
    expect(a.assembled[0]).toHaveLength(4);
    // The collector's primes are zeroed once assembled, and the collection is gone.
    for (const p of a.primes) expect(p.every((x) => x === 0)).toBe(true);
    expect(collector.held).toEqual({ collections: 0, sets: 1 });
    await expect(collector.findInto(c, never())).rejects.toMatchObject({ code: "canceled" });

    await collector.validate(handle);
    const pre = collector.consume(handle);
    expect(new TextDecoder().decode(pre)).toContain("PaillierSK");
    expect(collector.held.sets).toBe(0);
    // Used once: a second keygen with the same handle is refused.
    expect(() => collector.consume(handle)).toThrow(/no pre-parameters under this handle/);
    // And a handle means nothing in another worker.
    const other = (await (async () => {
      const c2 = collector.openCollection();
      for (let i = 0; i < 4; i++) await collector.findInto(c2, never());
      return collector.assemble(c2);
    })()) as { handle: string };
    expect(() => helper.consume(other.handle)).toThrow();
    collector.release(other.handle);
    expect(collector.held.sets).toBe(0);
  });

  test("need_more_primes keeps the collection; one more prime and it assembles", async () => {
    const a = fakeEngine({ needMoreOnce: true });
    const w = worker(a.engine);
    const c = w.openCollection();
    for (let i = 0; i < 4; i++) await w.findInto(c, never());
    await expect(w.assemble(c)).rejects.toMatchObject({ code: "need_more_primes" });
    expect(w.held.collections).toBe(1);
    expect(await w.findInto(c, never())).toBe(5);
    await w.assemble(c);
    expect(a.assembled[0]).toHaveLength(5);
  });

  test("closing a collection zeroes its primes; a prime arriving after is zeroed and refused", async () => {
    const a = fakeEngine();
    const b = fakeEngine({ searchMs: 20 });
    const collector = worker(a.engine);
    const helper = worker(b.engine);
    const c = collector.openCollection();
    await collector.findInto(c, never());
    const late = sendPrime(helper, collector, c);
    collector.closeCollection(c);
    expect(a.primes[0]!.every((x) => x === 0)).toBe(true);
    await expect(late).rejects.toMatchObject({ code: "canceled" });
    expect(collector.held.collections).toBe(0);
  });

  test("aborting stops the search and the wait", async () => {
    const a = fakeEngine({ searchMs: 10_000 });
    const w = worker(a.engine);
    const helper = worker(fakeEngine({ searchMs: 10_000 }).engine);
    const c = w.openCollection();
    const stop = new AbortController();
    const { port1, port2 } = new MessageChannel();
    const waiting = w.receive(c, port2, stop.signal);
    const searching = helper.findFor(port1, stop.signal);
    const local = w.findInto(c, stop.signal);
    stop.abort();
    await expect(waiting).rejects.toMatchObject({ code: "canceled" });
    await expect(searching).rejects.toMatchObject({ code: "canceled" });
    await expect(local).rejects.toMatchObject({ code: "canceled" });
    expect(a.signals.every((s) => s.aborted)).toBe(true);
  });

  test("a message that is not a prime is refused", async () => {
    const w = worker(fakeEngine().engine);
    const c = w.openCollection();
    for (const bad of [{ prime: "12345" }, { prime: new Uint8Array(200) }, { prime: new Uint8Array(0) }, null]) {
      const { port1, port2 } = new MessageChannel();
      const got = w.receive(c, port2, never());
      port1.postMessage(bad);
      port1.close();
      await expect(got).rejects.toMatchObject({ code: "invalid_argument" });
    }
    w.closeCollection(c);
  });

  test("sets assembled into the pool are stored encrypted, counted and taken once, whatever the worker", async () => {
    const a = fakeEngine();
    const w1 = worker(a.engine);
    const w2 = worker(fakeEngine().engine); // another worker (or tab) on the same database
    for (let i = 0; i < 3; i++) {
      const c = w1.openCollection();
      for (let j = 0; j < 4; j++) await w1.findInto(c, never());
      expect(await w1.assemble(c, { db: DB })).toEqual({ stored: i + 1 });
    }
    expect(w1.held).toEqual({ collections: 0, sets: 0 });
    expect(await w2.count({ db: DB })).toBe(3);

    // Nothing of a set is readable in the database.
    const db = (await wrap(factory.open(DB))) as unknown as IDBPDatabase;
    cleanup.push(() => db.close());
    for (const e of (await db.getAll("entries")) as Array<{ ciphertext: Uint8Array }>) {
      const text = new TextDecoder("latin1").decode(e.ciphertext);
      expect(text).not.toContain("PaillierSK");
      for (const names of a.assembled) for (const n of names) expect(text).not.toContain(n.slice(0, 32));
    }

    const takes = await Promise.all([w1.take({ db: DB }), w2.take({ db: DB }), w1.take({ db: DB }), w2.take({ db: DB }), w1.take({ db: DB })]);
    const handles = takes.map((t) => t.handle);
    expect(handles.filter((h) => h !== null)).toHaveLength(3);
    expect(await w1.count({ db: DB })).toBe(0);
    const sets = takes.flatMap((t, i) => (t.handle ? [new TextDecoder().decode((i % 2 ? w2 : w1).consume(t.handle))] : []));
    expect(new Set(sets).size).toBe(3);
    expect(sets.sort()).toEqual(a.assembled.map((n) => JSON.stringify({ PaillierSK: { from: n } })).sort());
  });

  test("take drops and reports an entry that fails validation", async () => {
    const a = fakeEngine();
    let fail = true;
    const engine: PrimeEngine = { ...a.engine, validate: async (p) => (fail ? Promise.reject(new Error("bad NTilde")) : a.engine.validate(p)) };
    const w = worker(engine);
    for (let i = 0; i < 2; i++) {
      const c = w.openCollection();
      for (let j = 0; j < 4; j++) await w.findInto(c, never());
      await w.assemble(c, {});
    }
    const first = await w.take();
    expect(first.handle).toBeNull();
    expect(first.dropped).toHaveLength(2);
    expect(first.dropped[0]).toMatchObject({ reason: "validate", message: "bad NTilde" });
    fail = false;
    expect((await w.take()).handle).toBeNull();
    expect(await w.count()).toBe(0);
  });

  test("bad handles and database names", async () => {
    const w = worker(fakeEngine().engine);
    expect(() => w.consume(undefined as unknown as string)).toThrow();
    await expect(w.validate("nope")).rejects.toSatisfy((e) => codeOf(e) === "invalid_argument");
    w.release("nope"); // harmless
    await expect(w.count({ db: "" })).rejects.toSatisfy((e) => codeOf(e) === "invalid_argument");
    await expect(w.assemble("no-such-collection")).rejects.toSatisfy((e) => codeOf(e) === "canceled");
  });
});
