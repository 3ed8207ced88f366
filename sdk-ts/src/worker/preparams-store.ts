/**
 * The stored keygen pre-parameters (Paillier key and safe-prime based
 * NTilde, the JSON tss.wasm's assemblePreParams makes), in IndexedDB. This
 * runs in the worker (tss-worker.js): the sets are made, stored, taken and
 * used there, and never cross to the page. The page only asks how many
 * there are and when to make one (PreParamsPool).
 *
 * Pre-parameters are only ever made by this browser, never taken from
 * another party. They are secret (the Paillier private key), so they are
 * kept encrypted with AES-256-GCM under a non-extractable Web Crypto key
 * stored beside them in the same database (a CryptoKey is
 * structured-cloneable): no password is needed, and the key's bytes can
 * never be read out by script, only used. A fresh random 12-byte nonce is
 * used per entry, and the additional authenticated data binds the
 * ciphertext to its entry: "tsskit.preparams|" + id.
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
 * store one after the other, so concurrent take() calls (in this worker,
 * other workers or other tabs) never get the same entry. An entry that
 * fails decryption or validation is gone too, and the next one is tried.
 *
 * Nothing here logs; errors carry no secret material.
 */
import { type DBSchema, type IDBPDatabase, wrap } from "idb";

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

export interface PreParamsStoreOptions {
  /** The IndexedDB database name; default "tsskit-preparams" (a separate database from the share storage). */
  dbName?: string;
  /** The IndexedDB factory; default globalThis.indexedDB. */
  indexedDB?: IDBFactory;
}

/** The store was closed. */
export class PreParamsPoolClosedError extends Error {
  override readonly name = "PreParamsPoolClosedError";
  constructor() {
    super("pre-params pool is closed");
  }
}

/** A stored entry could not be used and was deleted (reported, never thrown). */
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

export interface TakeOptions {
  /** Checks a set before take() hands it out (the worker passes tss.wasm's validatePreParams). */
  validate?: (pre: Uint8Array) => Promise<void>;
  /** Told of each entry dropped on the way (PreParamsEntryDroppedError). */
  onDropped?: (e: PreParamsEntryDroppedError) => void;
}

export class PreParamsStore {
  readonly #db: Db;
  /** The key as last read or made; re-read when it turns out replaced. */
  #key: KeyRecord;
  #closed = false;

  private constructor(db: Db, key: KeyRecord) {
    this.#db = db;
    this.#key = key;
  }

  /**
   * Opens (creating if needed) the database and its key. Drops entries that
   * have no key to decrypt them.
   */
  static async open(opts: PreParamsStoreOptions = {}): Promise<PreParamsStore> {
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
      return new PreParamsStore(db, key);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** The number of stored sets. */
  async count(): Promise<number> {
    this.#live();
    return this.#db.count("entries");
  }

  /** Encrypts pre under the pool key and adds it, provided the key is still the stored one. pre is not zeroed here. */
  async put(pre: Uint8Array): Promise<void> {
    this.#live();
    if (!(pre instanceof Uint8Array) || pre.length === 0) throw new TypeError("put: want a non-empty Uint8Array");
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
   * Removes and returns one stored set, or null when there is none. Each
   * entry is deleted in the transaction that reads it, so no set is ever
   * handed out twice. An entry that fails decryption or validation is
   * reported to onDropped, and the next is tried. The caller zeroes what it
   * gets.
   */
  async take(opts: TakeOptions = {}): Promise<Uint8Array | null> {
    this.#live();
    for (;;) {
      const got = await this.#takeEntry();
      if (got === null) return null;
      const { entry, key } = got;
      let pre: Uint8Array;
      try {
        pre = await decrypt(key.key, entry);
      } catch (e) {
        report(opts.onDropped, new PreParamsEntryDroppedError(entry.id, "decrypt", e));
        continue;
      }
      if (opts.validate) {
        try {
          await opts.validate(pre);
        } catch (e) {
          pre.fill(0);
          report(opts.onDropped, new PreParamsEntryDroppedError(entry.id, "validate", e));
          continue;
        }
      }
      return pre;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #live(): void {
    if (this.#closed) throw new PreParamsPoolClosedError();
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
      // The next put makes a new key.
      return null;
    }
    if (key.kid !== this.#key.kid) this.#key = key;
    return entry === undefined ? null : { entry, key };
  }
}

function report(onDropped: ((e: PreParamsEntryDroppedError) => void) | undefined, e: PreParamsEntryDroppedError): void {
  try {
    onDropped?.(e);
  } catch {
    // A callback's failure is not ours to surface.
  }
}

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
  const plain = copy(pre);
  try {
    const ciphertext = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad(id), tagLength: 128 }, key, plain),
    );
    return { id, createdAt: Date.now(), nonce, ciphertext };
  } finally {
    plain.fill(0);
  }
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

/** A transaction's done promise, marked handled (see share-storage.ts). */
function settled(done: Promise<void>): Promise<void> {
  done.catch(() => {});
  return done;
}
