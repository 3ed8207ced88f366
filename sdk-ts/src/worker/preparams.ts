/**
 * Keygen pre-parameters on the worker's side: the safe primes found, the
 * sets assembled from them, and the stored pool, all in this worker and
 * never posted to the page. The page sees handles and counts.
 *
 * Several workers search primes at once, and one of them (the collector)
 * assembles the set. A prime found by another worker reaches the collector
 * over a MessageChannel that the page makes for that one prime: the page
 * transfers one port to the searching worker (findFor) and the other to the
 * collector (receive), keeps neither, and never reads the channel. The
 * prime travels as one message, {prime: Uint8Array}, with its buffer
 * transferred.
 *
 *   openCollection              -> id; primes gather under it here
 *   findInto(id) | receive(id, port)  -> the number of primes gathered
 *   assemble(id)                -> a handle to the set, kept here (keygen consumes it)
 *   assemble(id, {db})          -> the set encrypted into the pool instead
 *   take({db})                  -> a handle to a stored set, or null
 *
 * Whatever leaves a collection, a set or a handle is zeroed.
 */
import { PREPARAMS_DB_NAME, PreParamsStore, type PreParamsEntryDroppedError } from "./preparams-store.js";

/** What the wasm engine does for pre-parameters (tss.wasm's safePrime, assemblePreParams, validatePreParams). */
export interface PrimeEngine {
  safePrime(signal: AbortSignal): Promise<Uint8Array>;
  assemble(primes: Uint8Array[]): Promise<Uint8Array>;
  validate(pre: Uint8Array): Promise<void>;
}

/** A stored entry that take() dropped, as the page is told of it: no secret in it. */
export interface DroppedEntry {
  entryId: string;
  reason: "decrypt" | "validate";
  message: string;
}

/** Where a set goes: the pool's database, by name (default "tsskit-preparams"). */
export interface PoolTarget {
  db?: string;
}

/** A 1024-bit safe prime is 128 bytes; anything longer is not one of ours. */
const MAX_PRIME_BYTES = 128;

function fail(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function dbName(target: PoolTarget | undefined): string {
  const name = target?.db ?? PREPARAMS_DB_NAME;
  if (typeof name !== "string" || name === "") throw fail("invalid_argument", "db: want a database name");
  return name;
}

export class WorkerPreParams {
  readonly #engine: PrimeEngine;
  readonly #indexedDB: IDBFactory | undefined;
  /** Primes gathering for a set, by collection id. */
  readonly #collections = new Map<string, Uint8Array[]>();
  /** Assembled or taken sets waiting for their keygen, by handle. */
  readonly #sets = new Map<string, Uint8Array>();
  /** Open pool databases, by name. */
  readonly #stores = new Map<string, Promise<PreParamsStore>>();

  constructor(engine: PrimeEngine, opts: { indexedDB?: IDBFactory } = {}) {
    this.#engine = engine;
    this.#indexedDB = opts.indexedDB;
  }

  /** A new, empty collection of primes. */
  openCollection(): string {
    const id = randomId();
    this.#collections.set(id, []);
    return id;
  }

  /** Zeroes and forgets a collection; harmless when it is gone already. */
  closeCollection(id: string): void {
    const primes = this.#collections.get(id);
    if (!primes) return;
    for (const p of primes) p.fill(0);
    this.#collections.delete(id);
  }

  /** Finds a safe prime here and adds it to collection id: the collection's size. */
  async findInto(id: string, signal: AbortSignal): Promise<number> {
    this.#collection(id);
    const prime = await this.#engine.safePrime(signal);
    return this.#add(id, prime);
  }

  /**
   * Finds a safe prime here and posts it on port, to the collector at the
   * other end; this worker keeps no copy. The port is closed either way.
   */
  async findFor(port: MessagePort, signal: AbortSignal): Promise<void> {
    try {
      const prime = await this.#engine.safePrime(signal);
      const out = prime.slice();
      prime.fill(0);
      port.postMessage({ prime: out }, [out.buffer]);
    } finally {
      port.close();
    }
  }

  /** Finds a safe prime and forgets it: for benchmarks, which time the search. */
  async find(signal: AbortSignal): Promise<void> {
    (await this.#engine.safePrime(signal)).fill(0);
  }

  /** Waits for one prime on port (from findFor in another worker) and adds it to collection id. */
  receive(id: string, port: MessagePort, signal: AbortSignal): Promise<number> {
    this.#collection(id);
    return new Promise<number>((resolve, reject) => {
      const done = () => {
        port.onmessage = null;
        port.close();
        signal.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        done();
        reject(fail("canceled", "canceled"));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      port.onmessage = (ev: MessageEvent) => {
        done();
        const prime = (ev.data as { prime?: unknown } | null)?.prime;
        if (!(prime instanceof Uint8Array) || prime.length === 0 || prime.length > MAX_PRIME_BYTES) {
          if (prime instanceof Uint8Array) prime.fill(0);
          return reject(fail("invalid_argument", "receivePrime: the other worker sent no prime"));
        }
        try {
          resolve(this.#add(id, prime));
        } catch (e) {
          reject(e);
        }
      };
    });
  }

  /**
   * Builds pre-parameters from collection id. It rejects with code
   * need_more_primes when one more prime is needed (the collection stays);
   * otherwise the collection is zeroed and closed, and the set is kept
   * here under a handle, or, with target, encrypted into the pool: then
   * the result is the pool's new count.
   */
  async assemble(id: string, target?: PoolTarget): Promise<{ handle: string } | { stored: number }> {
    const primes = this.#collection(id);
    const copies = primes.map((p) => p.slice());
    let pre: Uint8Array;
    try {
      pre = await this.#engine.assemble(copies);
    } finally {
      for (const c of copies) c.fill(0);
    }
    this.closeCollection(id);
    if (target === undefined) return { handle: this.#keep(pre) };
    try {
      const store = await this.#store(dbName(target));
      await store.put(pre);
      return { stored: await store.count() };
    } finally {
      pre.fill(0);
    }
  }

  /** Takes a stored set (checked with the engine) and keeps it here: its handle, or null when the pool is empty. */
  async take(target?: PoolTarget): Promise<{ handle: string | null; dropped: DroppedEntry[] }> {
    const store = await this.#store(dbName(target));
    const dropped: DroppedEntry[] = [];
    const pre = await store.take({
      validate: (p) => this.#engine.validate(p),
      onDropped: (e: PreParamsEntryDroppedError) => {
        const cause = e.cause instanceof Error ? e.cause.message : "";
        dropped.push({ entryId: e.entryId, reason: e.reason, message: cause });
      },
    });
    return { handle: pre ? this.#keep(pre) : null, dropped };
  }

  /** The number of stored sets. */
  async count(target?: PoolTarget): Promise<number> {
    return (await this.#store(dbName(target))).count();
  }

  /** Checks a kept set with the engine; it stays kept. */
  async validate(handle: string): Promise<void> {
    await this.#engine.validate(this.#get(handle));
  }

  /** Zeroes and forgets a kept set; harmless when it was consumed or released already. */
  release(handle: string): void {
    this.#sets.get(handle)?.fill(0);
    this.#sets.delete(handle);
  }

  /** Hands a kept set over (to a keygen) and forgets it: the caller zeroes it once the engine has copied it. */
  consume(handle: string): Uint8Array {
    const pre = this.#get(handle);
    this.#sets.delete(handle);
    return pre;
  }

  /** How many collections and kept sets this worker holds (for tests). */
  get held(): { collections: number; sets: number } {
    return { collections: this.#collections.size, sets: this.#sets.size };
  }

  #collection(id: string): Uint8Array[] {
    const c = this.#collections.get(id);
    if (!c) throw fail("canceled", "no such collection of primes in this worker (closed, or made in another worker)");
    return c;
  }

  #add(id: string, prime: Uint8Array): number {
    const c = this.#collections.get(id);
    if (!c) {
      prime.fill(0);
      throw fail("canceled", "the collection of primes was closed");
    }
    c.push(prime);
    return c.length;
  }

  #keep(pre: Uint8Array): string {
    const handle = randomId();
    this.#sets.set(handle, pre);
    return handle;
  }

  #get(handle: unknown): Uint8Array {
    const pre = typeof handle === "string" ? this.#sets.get(handle) : undefined;
    if (!pre) throw fail("invalid_argument", "no pre-parameters under this handle in this worker (used already, released, or made in another worker)");
    return pre;
  }

  #store(name: string): Promise<PreParamsStore> {
    let s = this.#stores.get(name);
    if (!s) {
      s = PreParamsStore.open({ dbName: name, indexedDB: this.#indexedDB });
      this.#stores.set(name, s);
      // A failed open is tried again next time.
      s.catch(() => this.#stores.delete(name));
    }
    return s;
  }
}
