/**
 * A pool of ready keygen pre-parameters (Paillier key and safe-prime based
 * NTilde, the JSON tss.wasm's assemblePreParams makes), filled in the
 * background so that creating a wallet need not wait ~6 s for them.
 *
 * Pre-parameters are only ever made here, by this browser (the `make`
 * callback), never taken from another party. They are secret (the Paillier
 * private key), so they are kept in IndexedDB encrypted with AES-256-GCM
 * under a non-extractable Web Crypto key stored beside them in the same
 * database (a CryptoKey is structured-cloneable): no password is needed,
 * and the key's bytes can never be read out by script, only used. A fresh
 * random 12-byte nonce is used per entry, and the additional authenticated
 * data binds the ciphertext to its entry: "tsskit.preparams|" + id.
 *
 * The database ("tsskit-preparams" unless told otherwise, separate from the
 * share storage) has two object stores, both with key path "id":
 *
 *     entries: { id, createdAt, nonce, ciphertext }
 *     keys:    { id: "pool-key", kid, createdAt, key: CryptoKey }
 *
 * kid is a random label of the key, used to notice that the key was
 * replaced while an entry was being encrypted. When the key is missing
 * (the "keys" store was cleared) the entries, which nothing can decrypt any
 * more, are dropped.
 *
 * A set is never handed out twice: take() reads and deletes its entry in
 * one readwrite transaction, and IndexedDB runs readwrite transactions on a
 * store one after the other, so concurrent take() calls (in this page or
 * in other tabs) never get the same entry. An entry that fails decryption
 * or validation is gone too, and the next one is tried.
 *
 * Background work is low priority: one set at a time, started startDelayMs
 * after the first fill() and gapMs after each set, and paused (the set in
 * progress aborted through the signal given to make, and made again later)
 * while pause() is held, e.g. while the page runs its own keygen on the
 * same workers. Errors in the background never reach the page: they go to
 * onError, and the work is retried after a growing delay.
 *
 * Nothing here logs; errors reported carry no secret material.
 */
import { type DBSchema, type IDBPDatabase, wrap } from "idb";

export interface PreParamsPoolOptions {
  /** The IndexedDB database name; default "tsskit-preparams" (a separate database from the share storage). */
  dbName?: string;
  /** How many sets to keep ready; default 2, 0 disables the pool (make is never called). */
  size?: number;
  /** The IndexedDB factory; default globalThis.indexedDB. */
  indexedDB?: IDBFactory;
  /** Makes one set; the client passes (signal) => generatePreParams(workers, { signal }). */
  make: (signal: AbortSignal) => Promise<Uint8Array>;
  /** Checks a set before take() hands it out (the client passes worker.validatePreParams); optional. */
  validate?: (pre: Uint8Array) => Promise<void>;
  /** Wait this long (ms) after the first fill() before starting background work; default 2000. */
  startDelayMs?: number;
  /** Wait this long (ms) between sets; default 250. */
  gapMs?: number;
  /** The first wait (ms) after a failed make or store; doubled on each further failure; default 5000. */
  retryDelayMs?: number;
  /** The longest wait (ms) between retries; default 60000. */
  maxRetryDelayMs?: number;
  /** Called with the number of ready sets whenever this pool adds or takes one. */
  onChange?: (ready: number) => void;
  /**
   * Called with errors of the background work (a failed make, a failed
   * write) and with the reason an entry was dropped by take() (it failed
   * decryption or validation). Never thrown into the page.
   */
  onError?: (error: unknown) => void;
}

/** The default database name. */
export const PREPARAMS_DB_NAME = "tsskit-preparams";
/** The id of the AES key's record in the "keys" store. */
export const POOL_KEY_ID = "pool-key";
const DB_VERSION = 1;
const AAD_PREFIX = "tsskit.preparams|";
const NONCE_BYTES = 12;
/** How many times a made set is re-encrypted when the key changes underneath before giving up. */
const STORE_ATTEMPTS = 3;

/** A stored entry: one encrypted set of pre-parameters. */
interface Entry {
  id: string;
  createdAt: number;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** The stored pool key. */
interface KeyRecord {
  id: string;
  kid: string;
  createdAt: number;
  key: CryptoKey;
}

interface Schema extends DBSchema {
  entries: { key: string; value: Entry };
  keys: { key: string; value: KeyRecord };
}

type Db = IDBPDatabase<Schema>;

/** The pool was closed. */
export class PreParamsPoolClosedError extends Error {
  override readonly name = "PreParamsPoolClosedError";
  constructor() {
    super("pre-params pool is closed");
  }
}

/** A stored entry could not be used and was deleted (reported through onError). */
export class PreParamsEntryDroppedError extends Error {
  override readonly name = "PreParamsEntryDroppedError";
  readonly entryId: string;
  readonly reason: "decrypt" | "validate";
  constructor(entryId: string, reason: "decrypt" | "validate", cause?: unknown) {
    super(
      reason === "decrypt"
        ? `pre-params entry ${entryId} could not be decrypted (damaged, or encrypted under another key); deleted`
        : `pre-params entry ${entryId} failed validation; deleted`,
      cause === undefined ? undefined : { cause },
    );
    this.entryId = entryId;
    this.reason = reason;
  }
}

export class PreParamsPool {
  readonly #db: Db;
  readonly #size: number;
  readonly #make: (signal: AbortSignal) => Promise<Uint8Array>;
  readonly #validate: ((pre: Uint8Array) => Promise<void>) | undefined;
  readonly #startDelayMs: number;
  readonly #gapMs: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #onChange: ((ready: number) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;

  /** The key as last read or made; re-read when it turns out replaced. */
  #key: KeyRecord;
  #closed = false;
  /** fill() was called and stop() not since: refill after take() and resume. */
  #wanted = false;
  /** The background loop, while it runs. */
  #loop: Promise<void> | undefined;
  /** Aborts the running loop (its sleeps, waits and make). */
  #runCtl: AbortController | undefined;
  /** Aborts the set being made, for pause(). */
  #setCtl: AbortController | undefined;
  /** Set when the loop should look again before it ends (an entry was taken meanwhile). */
  #kicked = false;
  /** Whether the loop has started before (the first start waits startDelayMs, later ones gapMs). */
  #started = false;
  #pauses = 0;
  #resumed: { promise: Promise<void>; resolve(): void } | undefined;

  private constructor(db: Db, key: KeyRecord, opts: PreParamsPoolOptions) {
    this.#db = db;
    this.#key = key;
    this.#size = opts.size ?? 2;
    this.#make = opts.make;
    this.#validate = opts.validate;
    this.#startDelayMs = opts.startDelayMs ?? 2000;
    this.#gapMs = opts.gapMs ?? 250;
    this.#retryDelayMs = opts.retryDelayMs ?? 5000;
    this.#maxRetryDelayMs = opts.maxRetryDelayMs ?? 60_000;
    this.#onChange = opts.onChange;
    this.#onError = opts.onError;
  }

  /**
   * Opens (creating if needed) the pool's database and its key. Drops
   * entries that have no key to decrypt them. Does not start filling: call
   * fill().
   */
  static async open(opts: PreParamsPoolOptions): Promise<PreParamsPool> {
    if (typeof opts?.make !== "function") throw new TypeError("make: want a function");
    const size = opts.size ?? 2;
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size: ${size}; want a non-negative integer`);
    for (const name of ["startDelayMs", "gapMs", "retryDelayMs", "maxRetryDelayMs"] as const) {
      const v = opts[name];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name}: ${v}; want a non-negative number`);
    }
    const factory = opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) throw new Error("pre-params pool: IndexedDB is not available here");
    const request = factory.open(opts.dbName ?? PREPARAMS_DB_NAME, DB_VERSION);
    request.addEventListener("upgradeneeded", () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("entries")) db.createObjectStore("entries", { keyPath: "id" });
      if (!db.objectStoreNames.contains("keys")) db.createObjectStore("keys", { keyPath: "id" });
    });
    const db = (await wrap(request)) as unknown as Db;
    // Let another tab upgrade the database rather than block it.
    db.addEventListener("versionchange", () => db.close());
    try {
      const key = await ensureKey(db);
      return new PreParamsPool(db, key, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** The configured number of sets to keep ready. */
  get size(): number {
    return this.#size;
  }

  /** The number of ready sets. */
  async count(): Promise<number> {
    this.#live();
    return this.#db.count("entries");
  }

  /**
   * Removes and returns one ready set, or null when there is none. Each
   * entry is deleted in the transaction that reads it, so no set is ever
   * handed out twice. An entry that fails decryption or validation (when
   * validate is set) is reported to onError, and the next is tried. Starts
   * refilling when fill() was called.
   */
  async take(): Promise<Uint8Array | null> {
    this.#live();
    let removed = false;
    try {
      for (;;) {
        const got = await this.#takeEntry();
        if (got === null) return null;
        removed = true;
        const { entry, key } = got;
        let pre: Uint8Array;
        try {
          pre = await decrypt(key.key, entry);
        } catch (e) {
          this.#report(new PreParamsEntryDroppedError(entry.id, "decrypt", e));
          continue;
        }
        if (this.#validate) {
          try {
            await this.#validate(pre);
          } catch (e) {
            pre.fill(0);
            this.#report(new PreParamsEntryDroppedError(entry.id, "validate", e));
            continue;
          }
        }
        return pre;
      }
    } finally {
      if (removed) this.#changed();
      this.#kick();
    }
  }

  /**
   * Starts filling the pool up to size in the background, one set at a
   * time; returns at once. Calling it again while it runs changes nothing.
   * Once called, the pool refills after take() until stop() or close().
   */
  fill(): void {
    if (this.#closed || this.#size === 0) return;
    this.#wanted = true;
    this.#kick();
  }

  /** Stops the background work (aborting a set being made) and waits for it to settle. fill() starts it again. */
  async stop(): Promise<void> {
    this.#wanted = false;
    this.#runCtl?.abort(abortReason("stopped"));
    await this.#loop;
  }

  /**
   * Pauses the background work while the page runs its own keygen, so the
   * two do not compete for the workers: a set being made is aborted (the
   * signal given to make fires) and made again once resumed. Returns the
   * function that resumes; pauses nest, and calling it twice is harmless.
   */
  pause(): () => void {
    this.#pauses++;
    this.#setCtl?.abort(abortReason("paused"));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.#pauses === 0) {
        this.#resumed?.resolve();
        this.#resumed = undefined;
        this.#kick();
      }
    };
  }

  /** Stops the background work and closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stop();
    this.#db.close();
  }

  // -------------------------------------------------------------------------

  #live(): void {
    if (this.#closed) throw new PreParamsPoolClosedError();
  }

  /** Starts the background loop if it is wanted and not running; otherwise makes a running loop look again. */
  #kick(): void {
    if (!this.#wanted || this.#closed || this.#size === 0) return;
    this.#kicked = true;
    if (this.#loop) return;
    const ctl = new AbortController();
    this.#runCtl = ctl;
    const delay = this.#started ? this.#gapMs : this.#startDelayMs;
    this.#started = true;
    this.#loop = this.#run(ctl.signal, delay);
  }

  /** The background loop: makes and stores sets until the pool is full, or stopped. */
  async #run(stop: AbortSignal, delay: number): Promise<void> {
    let failures = 0;
    try {
      await sleep(delay, stop);
      for (;;) {
        this.#kicked = false;
        if (stop.aborted) return;
        if (this.#pauses > 0) {
          await this.#whilePaused(stop);
          continue;
        }
        let ready: number;
        try {
          ready = await this.#db.count("entries");
        } catch (e) {
          if (stop.aborted) return;
          this.#report(e);
          await sleep(this.#backoff(failures++), stop);
          continue;
        }
        if (ready >= this.#size) {
          if (this.#kicked) continue; // an entry was taken while counting
          return;
        }
        if (stop.aborted) return;
        if (this.#pauses > 0) continue;

        const set = new AbortController();
        this.#setCtl = set;
        const onStop = () => set.abort(stop.reason);
        stop.addEventListener("abort", onStop, { once: true });
        let pre: Uint8Array;
        try {
          pre = await this.#make(set.signal);
          if (!(pre instanceof Uint8Array) || pre.length === 0) throw new TypeError("make: want a non-empty Uint8Array");
        } catch (e) {
          if (stop.aborted) return;
          if (set.signal.aborted) continue; // paused: made again after resume
          this.#report(e);
          await sleep(this.#backoff(failures++), stop);
          continue;
        } finally {
          stop.removeEventListener("abort", onStop);
          if (this.#setCtl === set) this.#setCtl = undefined;
        }
        if (stop.aborted) {
          pre.fill(0);
          return;
        }
        try {
          await this.#store(pre);
        } catch (e) {
          if (stop.aborted) return;
          this.#report(e);
          await sleep(this.#backoff(failures++), stop);
          continue;
        } finally {
          pre.fill(0);
        }
        failures = 0;
        this.#changed();
        await sleep(this.#gapMs, stop);
      }
    } catch (e) {
      // sleep rejects only when stopped; anything else is a bug, reported.
      if (!stop.aborted) this.#report(e);
    } finally {
      // Synchronously with the loop's last check, so a take() right after
      // it starts a new loop.
      this.#loop = undefined;
      if (this.#runCtl?.signal === stop) this.#runCtl = undefined;
      // fill() called again after stop() while this loop was winding down.
      if (stop.aborted && this.#wanted) this.#kick();
    }
  }

  /** Resolves when no pause is held, or when stopped. */
  async #whilePaused(stop: AbortSignal): Promise<void> {
    if (this.#pauses === 0) return;
    if (!this.#resumed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#resumed = { promise, resolve };
    }
    await untilOr(this.#resumed.promise, stop);
  }

  #backoff(failures: number): number {
    return Math.min(this.#maxRetryDelayMs, this.#retryDelayMs * 2 ** Math.min(failures, 30));
  }

  /** Encrypts pre under the pool key and adds it, provided the key is still the stored one. */
  async #store(pre: Uint8Array): Promise<void> {
    for (let attempt = 0; attempt < STORE_ATTEMPTS; attempt++) {
      const key = this.#key;
      const entry = await encrypt(key.key, pre);
      const tx = this.#db.transaction(["entries", "keys"], "readwrite");
      const done = settled(tx.done);
      const current = await tx.objectStore("keys").get(POOL_KEY_ID);
      const same = isKeyRecord(current) && current.kid === key.kid;
      if (same) await tx.objectStore("entries").add(entry);
      await done;
      if (same) return;
      // The key was replaced (another tab) or removed: encrypt under the stored one.
      this.#key = await ensureKey(this.#db);
    }
    throw new Error("pre-params pool: the pool key keeps changing; set not stored");
  }

  /**
   * Reads and deletes the first entry in one readwrite transaction, with
   * the key to decrypt it. When the key is gone, deletes all entries (no one
   * can decrypt them) and returns null.
   */
  async #takeEntry(): Promise<{ entry: Entry; key: KeyRecord } | null> {
    const tx = this.#db.transaction(["entries", "keys"], "readwrite");
    const done = settled(tx.done);
    const stored = await tx.objectStore("keys").get(POOL_KEY_ID);
    const key = isKeyRecord(stored) ? stored : undefined;
    let entry: Entry | undefined;
    if (key === undefined) {
      await tx.objectStore("entries").clear();
    } else {
      const cursor = await tx.objectStore("entries").openCursor();
      if (cursor) {
        entry = cursor.value;
        await cursor.delete();
      }
    }
    await done;
    if (key === undefined) {
      // The next store makes a new key.
      return null;
    }
    if (key.kid !== this.#key.kid) this.#key = key;
    return entry === undefined ? null : { entry, key };
  }

  #changed(): void {
    if (!this.#onChange || this.#closed) return;
    this.#db.count("entries").then(
      (n) => {
        try {
          this.#onChange?.(n);
        } catch {
          // A callback's failure is not ours to surface.
        }
      },
      () => {},
    );
  }

  #report(e: unknown): void {
    try {
      this.#onError?.(e);
    } catch {
      // Never into the page.
    }
  }
}

// ---------------------------------------------------------------------------

/**
 * Returns the stored pool key, making and storing one if there is none. A
 * new key is stored in the transaction that finds none, which also deletes
 * any entries (encrypted under a key that is gone). When two pages race,
 * the first stored key wins and both use it.
 */
async function ensureKey(db: Db): Promise<KeyRecord> {
  const existing = await db.get("keys", POOL_KEY_ID);
  if (isKeyRecord(existing)) return existing;
  const fresh: KeyRecord = {
    id: POOL_KEY_ID,
    kid: crypto.randomUUID(),
    createdAt: Date.now(),
    key: await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]),
  };
  const tx = db.transaction(["entries", "keys"], "readwrite");
  const done = settled(tx.done);
  const current = await tx.objectStore("keys").get(POOL_KEY_ID);
  let chosen = fresh;
  if (isKeyRecord(current)) {
    chosen = current;
  } else {
    await tx.objectStore("entries").clear();
    await tx.objectStore("keys").put(fresh);
  }
  await done;
  return chosen;
}

function isKeyRecord(v: unknown): v is KeyRecord {
  if (!v || typeof v !== "object") return false;
  const r = v as Partial<KeyRecord>;
  return typeof r.kid === "string" && typeof CryptoKey !== "undefined" && r.key instanceof CryptoKey;
}

function aad(id: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(AAD_PREFIX + id);
}

async function encrypt(key: CryptoKey, pre: Uint8Array): Promise<Entry> {
  const id = crypto.randomUUID();
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad(id), tagLength: 128 }, key, copy(pre)),
  );
  return { id, createdAt: Date.now(), nonce, ciphertext };
}

async function decrypt(key: CryptoKey, entry: Entry): Promise<Uint8Array> {
  const { id, nonce, ciphertext } = entry as Partial<Entry>;
  if (typeof id !== "string" || !(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES || !(ciphertext instanceof Uint8Array)) {
    throw new Error("malformed entry");
  }
  return new Uint8Array(
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: copy(nonce), additionalData: aad(id), tagLength: 128 }, key, copy(ciphertext)),
  );
}

/** A copy backed by a plain ArrayBuffer (what Web Crypto's types want). */
function copy(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function abortReason(message: string): unknown {
  return typeof DOMException === "function" ? new DOMException(message, "AbortError") : Object.assign(new Error(message), { name: "AbortError" });
}

/** Resolves when p does or when signal is aborted, whichever is first; removes its listener either way. */
function untilOr(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/** Waits ms; rejects with the signal's reason when it is aborted. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      if (timer !== undefined) clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
  });
}

/** A transaction's done promise, marked handled (see share-storage.ts). */
function settled(done: Promise<void>): Promise<void> {
  done.catch(() => {});
  return done;
}
