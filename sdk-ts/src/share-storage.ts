/**
 * The browser's key shares, one per wallet, encrypted under the user's
 * password in IndexedDB.
 *
 * Each share is kept as a password backup (see backup.ts, the format the Go
 * CLI reads): the salt, iteration count, nonce and format version are
 * stored beside the ciphertext, and the additional authenticated data
 * binds the ciphertext to wallet_id|party_id|version. The wallet's public
 * fields (ids, roster, threshold, public key, address) are stored in clear
 * text beside it so wallets can be listed without the password; get
 * checks them against the decrypted record.
 *
 * A stored value (object store "shares", key path "walletId") is
 *
 *     { version: 1, walletId, partyId, name, publicKey, address, threshold,
 *       parties, createdAt, chainCode?, epoch?, backup: { format, version,
 *       wallet_id, party_id, kdf, iterations, salt, cipher, nonce,
 *       ciphertext }, checksum }
 *
 * where backup holds the fields of the backup text, in its order, and
 * checksum is the hex SHA-256 of the other fields. epoch is the share
 * record's (0 after keygen, one more after each refresh or reshare); a
 * record stored before epochs were recorded has none until a password
 * opens it, which writes it back with its epoch. The checksum is not a
 * MAC (whoever can write the database can recompute it; the GCM tag is what
 * authenticates): it tells a damaged record (CorruptRecordError) from a
 * wrong password (WrongPasswordError), which AES-GCM alone cannot.
 *
 * Records of an older version are upgraded when read by the functions in
 * `migrations`, and written back upgraded once a password has opened them.
 * A record of a newer version than this SDK knows is reported corrupt and
 * left as it is.
 *
 * Pending shares. A refresh or reshare makes a new share of the next epoch
 * while the current one stays the wallet's until every holder has stored
 * its new share (docs/lifecycle.md, two-phase activation). The new share
 * is stored first in the object store "pending" (key path [walletId,
 * epoch]), as the same kind of value plus its session id, and only
 * activatePending makes it the wallet's share: in one transaction over
 * both stores it replaces the current share and deletes the pending ones
 * up to its epoch. Nothing else reads pending shares: signing, export and
 * listing see the current share alone, and a refresh that fails leaves
 * it untouched.
 *
 * Recovery. A browser recovering a wallet whose client was lost has no
 * share of it yet: its new share is stored pending like a refresh's
 * (putPending with `recovery`, no current share needed) and
 * activatePending with `recovery` makes it the wallet's share, adding it
 * or replacing an older epoch's. While the app backend's approval is
 * awaited, the request and the device identity key, sealed under the
 * password in the worker (recovery.ts), are kept in the object store
 * "recovery" (key path "walletId"):
 *
 *     { version: 1, walletId, epoch, partyId, identity, recovery: {kit,
 *       backend}, createdAt, device: <sealed text>, checksum }
 *
 * and activatePending deletes it in its transaction.
 *
 * ShareStorage never sees a plaintext share: it stores backups (ciphertext)
 * and hands decryption to a ShareCrypto — in the browser the worker's
 * (TssClient wires it), so the password-derived key and the record stay in
 * the worker and the page gets public fields and an opaque handle.
 */
import { checkNewPassword } from "./password.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { type DBSchema, type IDBPDatabase, wrap } from "idb";

import { TsskitError } from "./errors.js";
import type { RecoveryRequest } from "./recovery.js";
import {
  BackupFormatError,
  CorruptRecordError,
  WrongPasswordError,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  addressOf,
  checkPassword,
  openBackup,
  parseBackup,
  protect,
  serializeBackup,
  type BackupHeader,
  type ShareRecordInfo,
} from "./backup.js";

/** A wallet whose share this browser holds: the public part of a stored record. */
export interface StoredWallet {
  walletId: string;
  partyId: string;
  /** A label for the user; "" unless given. */
  name: string;
  /** Compressed SEC1, lowercase hex. */
  publicKey: string;
  /** "0x" and 40 lowercase hex digits. */
  address: string;
  threshold: number;
  parties: string[];
  /**
   * When this browser first stored a share of the wallet, in milliseconds
   * since 1970 (a refresh or a newer backup keeps it, so listings keep
   * their order).
   */
  createdAt: number;
  /**
   * The share's epoch: 0 after keygen, one more after each refresh or
   * reshare. Absent for a share stored by an SDK older than epochs until
   * it is next opened with its password (a signing, an export).
   */
  epoch?: number;
  /**
   * The wallet's BIP32 chain code, 64 lowercase hex, as its share record
   * carries it. Absent for a record of version 1 or 2, whose wallet uses
   * the legacy chain code (hd.ts legacyChainCode).
   */
  chainCode?: string;
}

/** put or importBackup was given a share of a wallet that already has one. */
export class ShareExistsError extends Error {
  override readonly name = "ShareExistsError";
  readonly walletId: string;
  constructor(walletId: string) {
    super(`a share of wallet ${JSON.stringify(walletId)} is already stored; remove it first`);
    this.walletId = walletId;
  }
}

/**
 * importBackup was given a backup of an older epoch than the share stored
 * for its wallet (code "older_backup"). The wallet was refreshed or
 * reshared since the backup was made: its shares no longer sign with the
 * wallet's, and storing it would put an old epoch's share back in reach.
 * Export a new backup instead; the stored share is unchanged.
 */
export class OlderBackupError extends Error {
  override readonly name = "OlderBackupError";
  readonly code = "older_backup";
  readonly walletId: string;
  readonly backupEpoch: number;
  readonly storedEpoch: number;
  constructor(walletId: string, backupEpoch: number, storedEpoch: number) {
    super(
      `the backup of wallet ${JSON.stringify(walletId)} is of epoch ${backupEpoch}, older than the stored share's epoch ${storedEpoch}: ` +
        `the wallet was refreshed since that backup was made, and its old shares no longer sign. Keep the stored share (export a new backup of it)`,
    );
    this.walletId = walletId;
    this.backupEpoch = backupEpoch;
    this.storedEpoch = storedEpoch;
  }
}

/** A share of an unfinished refresh or reshare, stored beside the wallet's current share until it is activated. */
export interface PendingShare extends StoredWallet {
  epoch: number;
  /** The reshare session that made it. */
  sessionId: string;
}

/** No share of this wallet is stored. */
export class ShareNotFoundError extends Error {
  override readonly name = "ShareNotFoundError";
  readonly walletId: string;
  constructor(walletId: string, message = `no share of wallet ${JSON.stringify(walletId)} is stored`) {
    super(message);
    this.walletId = walletId;
  }
}

/** The record changed while an operation was under way; nothing was written. */
export class ShareChangedError extends Error {
  override readonly name = "ShareChangedError";
  readonly walletId: string;
  constructor(walletId: string) {
    super(`the share of wallet ${JSON.stringify(walletId)} changed meanwhile; nothing was written, try again`);
    this.walletId = walletId;
  }
}

/**
 * What decrypts and re-encrypts backups for ShareStorage. H is what an open
 * share is to the caller: a handle into a worker (WorkerShareCrypto), or the
 * record's bytes when this thread does the work (LocalShareCrypto, for
 * tests and tools).
 */
export interface ShareCrypto<H = unknown> {
  /** Decrypts a backup and checks its record; it stays open until close() or its use. */
  open(backup: string, password: string): Promise<{ handle: H; info: ShareRecordInfo }>;
  close(handle: H): Promise<void> | void;
  /** Decrypts and checks a backup, then forgets it: its public part. */
  check(backup: string, password: string): Promise<ShareRecordInfo>;
  /** The backup re-encrypted under newPassword, with a fresh salt and nonce. */
  rewrap(backup: string, oldPassword: string, newPassword: string, iterations: number): Promise<{ backup: string; info: ShareRecordInfo }>;
}

/** ShareCrypto in this thread: the open handle is the record's bytes. */
export class LocalShareCrypto implements ShareCrypto<Uint8Array> {
  async open(backup: string, password: string): Promise<{ handle: Uint8Array; info: ShareRecordInfo }> {
    const { plaintext, info } = await openBackup(backup, password);
    return { handle: plaintext, info };
  }
  close(handle: Uint8Array): void {
    handle.fill(0);
  }
  async check(backup: string, password: string): Promise<ShareRecordInfo> {
    const { plaintext, info } = await openBackup(backup, password);
    plaintext.fill(0);
    return info;
  }
  async rewrap(backup: string, oldPassword: string, newPassword: string, iterations: number): Promise<{ backup: string; info: ShareRecordInfo }> {
    const { plaintext, info } = await openBackup(backup, oldPassword);
    try {
      return { backup: await protect(plaintext, newPassword, { iterations }), info };
    } finally {
      plaintext.fill(0);
    }
  }
}

export interface ShareStorageOptions<H = unknown> {
  /** What decrypts backups; default LocalShareCrypto (this thread). */
  crypto?: ShareCrypto<H>;
  /** The IndexedDB database name; default "tsskit". */
  dbName?: string;
  /** PBKDF2 iterations for new encryptions; default and least MIN_ITERATIONS. */
  iterations?: number;
  /** The IndexedDB factory; default globalThis.indexedDB. */
  indexedDB?: IDBFactory;
  /** Ask the browser not to evict the database (navigator.storage.persist()); default true. */
  persist?: boolean;
}

/** The version of stored records this SDK writes. */
export const STORED_RECORD_VERSION = 1;
/**
 * 2: the "pending" store (new shares of a refresh, until activated); 3: the "recovery" store (a new device's requests);
 * 4: the "runs" store (the reshare runs this browser joined, joinRun); 5: runs may be frozen, pinned or activated
 * (settling a run in limbo, settleRun): an SDK from before refuses to open the database rather than read a frozen
 * run as abandoned (and say so in a join) or activate its share.
 */
const DB_VERSION = 5;
const STORE = "shares";
const PENDING = "pending";
const RECOVERY = "recovery";
const RUNS = "runs";
/** At most this many runs of one wallet's epoch are recorded (the coordinator relays at most as many statements). */
export const MAX_RUNS = 64;
const MAX_EPOCH = 2 ** 31 - 1;
const MAX_NAME_LENGTH = 256;

interface Schema extends DBSchema {
  shares: { key: string; value: unknown };
  pending: { key: [string, number]; value: unknown };
  recovery: { key: string; value: unknown };
  runs: { key: [string, number, string]; value: StoredRun };
}

/**
 * A reshare run this browser joined as a new holder (ShareStorage.joinRun):
 * "joined" until its share is stored ("stored", putPending); "abandoned"
 * once a later run of the epoch was joined without this one having stored
 * — for good: its share is never stored from then on — or once it was
 * dropped while settled; "activated" once its share is the wallet's (the
 * run of the active epoch stays recorded, to answer a freeze). While a run
 * in limbo is settled (docs/lifecycle.md, TssClient.settleRun) it is
 * "frozen" (its share is never activated here, and no run of the epoch is
 * joined) or "pinned" (frozen, and never dropped here: only thawed).
 */
export interface StoredRun {
  walletId: string;
  epoch: number;
  sessionId: string;
  state: "joined" | "stored" | "abandoned" | "frozen" | "pinned" | "activated";
  /** Pinned or thawed here once: never dropped here from then on (its frozen-run statement still verifies). */
  pinned?: boolean;
}

/** A run that is frozen or pinned here: settled, not to be activated, joined beside or stored again. */
export function runHeld(r: StoredRun | undefined): boolean {
  return r?.state === "frozen" || r?.state === "pinned";
}

/** A run pinned or thawed here once: never dropped here (its frozen-run statement still verifies). */
export function pinnedForGood(r: StoredRun | undefined): boolean {
  return !!r?.pinned || r?.state === "pinned";
}

/** A recovery request kept while its approval is awaited: the request and the sealed device key. */
export interface StoredRecoveryRequest extends RecoveryRequest {
  /** The device identity key, sealed under the password (recovery.ts). */
  device: string;
}

/** The fields of a backup text, in its order: what a stored record holds under "backup". */
interface BackupFields {
  format: string;
  version: number;
  wallet_id: string;
  party_id: string;
  kdf: string;
  iterations: number;
  salt: string;
  cipher: string;
  nonce: string;
  ciphertext: string;
}

/** A stored record of the current version (a pending one has its epoch and session id). */
interface StoredRecordV1 extends StoredWallet {
  version: 1;
  /** Pending records only: the session that made the share. */
  sessionId?: string;
  backup: BackupFields;
  checksum: string;
}

/**
 * Upgrades of stored records, by the version they upgrade from. Each takes
 * a record of its version, already known to be a non-null object, and
 * returns one of the next version (checked afterwards as any record is);
 * it throws when the record cannot be upgraded.
 *
 * Version 0 never shipped: it is the layout before the address and the
 * checksum were stored, kept to exercise the mechanism.
 */
export const migrations: Record<number, (old: Record<string, unknown>) => Record<string, unknown>> = {
  0: (old) => {
    const publicKey = typeof old.publicKey === "string" ? old.publicKey : "";
    const address = addressOf(publicKey);
    if (address === undefined) throw new Error("publicKey: want a compressed secp256k1 point in lowercase hex");
    const next: Record<string, unknown> = {
      version: 1,
      walletId: old.walletId,
      partyId: old.partyId,
      name: old.name ?? "",
      publicKey,
      address,
      threshold: old.threshold,
      parties: old.parties,
      createdAt: old.createdAt,
      backup: old.backup,
    };
    next.checksum = checksum(next as unknown as Omit<StoredRecordV1, "checksum">);
    return next;
  },
};

/** A record read from the database: checked, upgraded if it was old. */
interface Loaded {
  record: StoredRecordV1;
  /** The value as stored, for detecting a concurrent change. */
  raw: unknown;
  migrated: boolean;
}

export class ShareStorage<H = Uint8Array> {
  /** The result of navigator.storage.persist(); undefined where unavailable or not asked. */
  readonly persisted: boolean | undefined;
  readonly #db: IDBPDatabase<Schema>;
  readonly #iterations: number;
  readonly #crypto: ShareCrypto<H>;

  private constructor(db: IDBPDatabase<Schema>, iterations: number, persisted: boolean | undefined, crypto: ShareCrypto<H>) {
    this.#db = db;
    this.#iterations = iterations;
    this.persisted = persisted;
    this.#crypto = crypto;
  }

  /** PBKDF2 iterations for new encryptions. */
  get iterations(): number {
    return this.#iterations;
  }

  /** Opens (creating if needed) the share database. */
  static async open<H = Uint8Array>(opts: ShareStorageOptions<H> = {}): Promise<ShareStorage<H>> {
    const iterations = opts.iterations ?? MIN_ITERATIONS;
    if (!Number.isSafeInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
      throw new RangeError(`iterations: ${iterations}; want an integer in ${MIN_ITERATIONS}..${MAX_ITERATIONS}`);
    }
    const factory = opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) throw new Error("share storage: IndexedDB is not available here");
    const request = factory.open(opts.dbName ?? "tsskit", DB_VERSION);
    request.addEventListener("upgradeneeded", () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: "walletId" });
      if (!db.objectStoreNames.contains(PENDING)) db.createObjectStore(PENDING, { keyPath: ["walletId", "epoch"] });
      if (!db.objectStoreNames.contains(RECOVERY)) db.createObjectStore(RECOVERY, { keyPath: "walletId" });
      if (!db.objectStoreNames.contains(RUNS)) db.createObjectStore(RUNS, { keyPath: ["walletId", "epoch", "sessionId"] });
    });
    const db = (await wrap(request)) as unknown as IDBPDatabase<Schema>;
    // Let another tab upgrade the database rather than block it.
    db.addEventListener("versionchange", () => db.close());

    let persisted: boolean | undefined;
    const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
    if (opts.persist !== false && typeof storage?.persist === "function") {
      try {
        persisted = await storage.persist();
      } catch {
        persisted = undefined;
      }
    }
    return new ShareStorage(db, iterations, persisted, (opts.crypto ?? new LocalShareCrypto()) as ShareCrypto<H>);
  }

  /**
   * Stores a share that comes encrypted: the backup the worker made at
   * keygen, and the public part of its record. Refuses to replace a stored
   * share of the same wallet (ShareExistsError).
   */
  async putBackup(backup: string, info: ShareRecordInfo, meta: { name?: string } = {}): Promise<StoredWallet> {
    const name = checkName(meta.name);
    const header = parseBackup(backup);
    if (header.walletId !== info.walletId || header.partyId !== info.partyId) {
      throw new BackupFormatError("backup: not of the wallet and party of its record's public part");
    }
    if (header.iterations < this.#iterations) {
      throw new BackupFormatError(`backup: ${header.iterations} PBKDF2 iterations; this storage writes at least ${this.#iterations}`);
    }
    return this.#add(header, name, info);
  }

  /**
   * Opens the stored share with password and returns it as the ShareCrypto
   * holds it (a worker handle in the browser), after checking it against
   * the clear-text fields. WrongPasswordError leaves the record as it was;
   * a damaged record is CorruptRecordError. The caller hands the handle on
   * (TssWorker.prepareSign) or closes it.
   */
  async unlock(walletId: string, password: string): Promise<{ handle: H; wallet: StoredWallet }> {
    const loaded = await this.#load(walletId);
    const { handle, info } = await this.#open(loaded, password);
    // The epoch is the decrypted record's (a record stored before epochs has none in clear text).
    return { handle, wallet: { ...publicPart(loaded.record), epoch: info.epoch } };
  }

  /** The public fields of a stored wallet, without the password. */
  async info(walletId: string): Promise<StoredWallet> {
    return publicPart((await this.#load(walletId)).record);
  }

  /**
   * All stored wallets, oldest first, and the ids of records that cannot be
   * read (damaged, or written by a newer SDK); those do not hide the others.
   */
  async list(): Promise<{ wallets: StoredWallet[]; corrupt: string[] }> {
    const tx = this.#db.transaction(STORE, "readonly");
    const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll(), tx.done]);
    const wallets: StoredWallet[] = [];
    const corrupt: string[] = [];
    keys.forEach((key, i) => {
      try {
        wallets.push(publicPart(readRecord(values[i], String(key)).record));
      } catch {
        corrupt.push(String(key));
      }
    });
    wallets.sort((a, b) => a.createdAt - b.createdAt || (a.walletId < b.walletId ? -1 : 1));
    return { wallets, corrupt };
  }

  /** Deletes the share of a wallet, readable or not, and its pending shares. */
  async remove(walletId: string): Promise<void> {
    checkWalletIdArg(walletId);
    const tx = this.#db.transaction([STORE, PENDING, RUNS], "readwrite");
    const done = settled(tx.done);
    const key = await tx.objectStore(STORE).getKey(walletId);
    if (key !== undefined) await tx.objectStore(STORE).delete(walletId);
    await deletePending(tx.objectStore(PENDING), walletId, MAX_EPOCH);
    await deleteRuns(tx.objectStore(RUNS), walletId, MAX_EPOCH);
    await done;
    if (key === undefined) throw new ShareNotFoundError(walletId);
  }

  /**
   * Stores the new share of a refresh or reshare as pending: encrypted
   * (the backup the worker made), beside the wallet's current share,
   * which stays the wallet's until activatePending. Its epoch must be
   * newer than the current share's, and its key the same. A pending
   * share of the same wallet and epoch (an earlier attempt) is replaced.
   */
  async putPending(backup: string, info: ShareRecordInfo, meta: { sessionId: string; recovery?: { name?: string } }): Promise<PendingShare> {
    if (typeof meta?.sessionId !== "string" || meta.sessionId === "") throw new TypeError("sessionId: want a non-empty string");
    const header = parseBackup(backup);
    if (header.walletId !== info.walletId || header.partyId !== info.partyId) {
      throw new BackupFormatError("backup: not of the wallet and party of its record's public part");
    }
    if (header.iterations < this.#iterations) {
      throw new BackupFormatError(`backup: ${header.iterations} PBKDF2 iterations; this storage writes at least ${this.#iterations}`);
    }
    checkEpoch(info.epoch);
    // A recovery's new share may be the browser's first of the wallet.
    const current = meta.recovery && (await this.#db.get(STORE, info.walletId)) === undefined ? null : (await this.#load(info.walletId)).record;
    if (current && current.publicKey !== info.publicKey) {
      throw new BackupFormatError(`pending share: of another key than wallet ${JSON.stringify(info.walletId)}'s`);
    }
    if (current?.epoch !== undefined && info.epoch <= current.epoch) throw new OlderBackupError(info.walletId, info.epoch, current.epoch);
    const record = makeRecord(header, {
      name: current ? current.name : checkName(meta.recovery?.name),
      createdAt: Date.now(),
      threshold: info.threshold,
      parties: info.parties,
      publicKey: info.publicKey,
      address: info.address,
      chainCode: info.chainCode || undefined,
      epoch: info.epoch,
      sessionId: meta.sessionId,
    });
    // The run is marked stored in the transaction that stores its share:
    // never a stored share whose run could still be said abandoned, and
    // never the share of a run that was.
    const tx = this.#db.transaction([PENDING, RUNS], "readwrite");
    const done = settled(tx.done);
    try {
      const runs = tx.objectStore(RUNS);
      const key: [string, number, string] = [info.walletId, info.epoch, meta.sessionId];
      const run = await runs.get(key);
      if (run?.state === "abandoned") {
        throw new TsskitError("run_abandoned", `session ${meta.sessionId} was abandoned by this browser (a later run of epoch ${info.epoch} was joined): its share is not stored`);
      }
      if (run?.state === "activated") throw new TsskitError("invalid_argument", `session ${meta.sessionId} made this browser's share already: its share is not stored again`);
      // While a run of the epoch is settled here, no share of the epoch is
      // stored: the pending slot keeps the held run's share.
      const held = ((await runs.getAll()) as StoredRun[]).find((r) => r.walletId === info.walletId && r.epoch === info.epoch && runHeld(r));
      if (held) {
        throw new TsskitError("run_frozen", `run ${held.sessionId} of epoch ${info.epoch} is ${held.state} here while it is settled: no share of that epoch is stored`);
      }
      await runs.put({ walletId: info.walletId, epoch: info.epoch, sessionId: meta.sessionId, state: "stored", ...(run?.pinned ? { pinned: true } : {}) });
      await tx.objectStore(PENDING).put(record);
    } catch (e) {
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
    return pendingPart(record);
  }

  /**
   * Records, before this browser computes anything in it, that it joins
   * reshare session sessionId as a new holder of the wallet's epoch
   * (docs/lifecycle.md, one acknowledged run per epoch). Every earlier run
   * of the epoch it joined and never stored a share of is marked
   * abandoned, in the same transaction, for good: putPending refuses its
   * share from then on. Returns every abandoned run of the epoch, for
   * which the seat signs a statement that this browser never stored that
   * run's share (prepareReshare's abandon). Refuses (run_abandoned) a
   * session marked abandoned, (too_many_runs) more than MAX_RUNS runs of
   * one epoch, and (invalid_argument) an epoch not above the stored
   * share's: a run of an epoch this browser already has can never store
   * a share, and its records were dropped when that epoch was activated.
   */
  async joinRun(walletId: string, epoch: number, sessionId: string): Promise<string[]> {
    checkWalletIdArg(walletId);
    checkEpoch(epoch);
    if (typeof sessionId !== "string" || sessionId === "") throw new TypeError("sessionId: want a non-empty string");
    const tx = this.#db.transaction([STORE, RUNS], "readwrite");
    const done = settled(tx.done);
    const out: string[] = [];
    try {
      const rawCurrent = await tx.objectStore(STORE).get(walletId);
      const current = rawCurrent === undefined ? undefined : readRecord(rawCurrent, walletId).record.epoch;
      if (current !== undefined && epoch <= current) {
        throw new TsskitError("invalid_argument", `a reshare run of epoch ${epoch}; this browser's share of wallet ${JSON.stringify(walletId)} is of epoch ${current}`);
      }
      const store = tx.objectStore(RUNS);
      const runs = ((await store.getAll()) as StoredRun[]).filter((r) => r.walletId === walletId && r.epoch === epoch);
      const self = runs.find((r) => r.sessionId === sessionId);
      if (self?.state === "abandoned") {
        throw new TsskitError("run_abandoned", `session ${sessionId} was abandoned by this browser: it never stores that session's share`);
      }
      const held = runs.find(runHeld);
      if (held) {
        throw new TsskitError(
          "run_frozen",
          `run ${held.sessionId} of epoch ${epoch} of wallet ${JSON.stringify(walletId)} is ${held.state} here while it is settled: no run of that epoch is joined until it is thawed or dropped`,
        );
      }
      if (!self && runs.length >= MAX_RUNS) {
        throw new TsskitError("too_many_runs", `${runs.length} runs of epoch ${epoch} of wallet ${JSON.stringify(walletId)} recorded already; at most ${MAX_RUNS}`);
      }
      for (const r of runs) {
        if (r.sessionId === sessionId) continue;
        if (r.state === "joined") await store.put({ ...r, state: "abandoned" });
        if (r.state !== "stored") out.push(r.sessionId);
      }
      if (!self) await store.put({ walletId, epoch, sessionId, state: "joined" });
    } catch (e) {
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
    return out.sort();
  }

  /**
   * Refuses (run_frozen) while a run of walletId's epoch is frozen or
   * pinned here (TssClient.settleRun): what a refresh, change of policy or
   * recovery of that epoch asks before the coordinator opens a run
   * (joinRun would refuse it after).
   */
  async refuseHeld(walletId: string, epoch: number): Promise<void> {
    const held = (await this.runs(walletId)).find((r) => r.epoch === epoch && runHeld(r));
    if (held) {
      throw new TsskitError("run_frozen", `run ${held.sessionId} of epoch ${held.epoch} is ${held.state} here while it is settled: thaw it or drop it first (settleRun)`);
    }
  }

  /** The reshare runs of a wallet this browser recorded (joinRun), by epoch then session. */
  async runs(walletId: string): Promise<StoredRun[]> {
    checkWalletIdArg(walletId);
    return ((await this.#db.getAll(RUNS)) as StoredRun[]).filter((r) => r.walletId === walletId);
  }

  /**
   * One settle step's record (TssClient.settleRun): run sessionId of the
   * wallet's epoch moves from the state it was read in (from, with its
   * pinned flag) to next, in one transaction, and with dropShare its
   * pending share (if it is that run's) is deleted in the same one. A run
   * changed meanwhile (another tab) is refused (settle_refused) and
   * nothing is written.
   */
  async settleRunState(from: StoredRun, next: Pick<StoredRun, "state" | "pinned">, opts: { dropShare?: boolean } = {}): Promise<void> {
    checkWalletIdArg(from.walletId);
    checkEpoch(from.epoch);
    const tx = this.#db.transaction([PENDING, RUNS], "readwrite");
    const done = settled(tx.done);
    try {
      const key: [string, number, string] = [from.walletId, from.epoch, from.sessionId];
      const run = await tx.objectStore(RUNS).get(key);
      if (!run || run.state !== from.state || !!run.pinned !== !!from.pinned) {
        throw new TsskitError("settle_refused", `run ${from.sessionId} changed here while it was settled (${from.state} -> ${run?.state ?? "gone"}): try again`);
      }
      await tx.objectStore(RUNS).put({ walletId: from.walletId, epoch: from.epoch, sessionId: from.sessionId, state: next.state, ...(next.pinned ? { pinned: true } : {}) });
      if (opts.dropShare) {
        const raw = await tx.objectStore(PENDING).get([from.walletId, from.epoch]);
        if (raw !== undefined && (raw as { sessionId?: unknown }).sessionId === from.sessionId) await tx.objectStore(PENDING).delete([from.walletId, from.epoch]);
      }
    } catch (e) {
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
  }

  /** The pending shares of a wallet (of unfinished refreshes), oldest epoch first; unreadable ones are left out. */
  async pendingShares(walletId: string): Promise<PendingShare[]> {
    checkWalletIdArg(walletId);
    const tx = this.#db.transaction(PENDING, "readonly");
    const [raws] = await Promise.all([walletPending(tx.store, walletId), tx.done]);
    const out: PendingShare[] = [];
    for (const { epoch, raw } of raws) {
      try {
        out.push(pendingPart(readPending(raw, walletId, epoch)));
      } catch {
        // a damaged pending share is never activated
      }
    }
    return out;
  }

  /**
   * Decrypts the pending share of epoch with password (as unlock does the
   * current share): its handle, and its public fields. What a client that
   * missed its reshare's end opens to check the holders' stored
   * acknowledgements before activatePending.
   */
  async unlockPending(walletId: string, epoch: number, password: string): Promise<{ handle: H; pending: PendingShare }> {
    checkWalletIdArg(walletId);
    checkEpoch(epoch);
    const raw = await this.#db.get(PENDING, [walletId, epoch]);
    if (raw === undefined) throw new ShareNotFoundError(walletId, `no pending share of wallet ${JSON.stringify(walletId)} of epoch ${epoch} is stored`);
    const record = readPending(raw, walletId, epoch);
    let opened: { handle: H; info: ShareRecordInfo };
    try {
      opened = await this.#crypto.open(serializeBackup(backupHeader(record.backup)), password);
    } catch (e) {
      throw this.#damaged(record, e);
    }
    try {
      this.#same(record, opened.info);
      if (opened.info.epoch !== epoch) throw new CorruptRecordError(`the pending share of wallet ${JSON.stringify(walletId)} of epoch ${epoch} holds epoch ${opened.info.epoch}`, walletId);
    } catch (e) {
      await this.#crypto.close(opened.handle);
      throw e;
    }
    return { handle: opened.handle, pending: pendingPart(record) };
  }

  /**
   * Makes the pending share of epoch the wallet's share, in one
   * transaction: the current share is replaced (and so deleted) and the
   * pending shares up to this epoch are deleted. Call it only once every
   * holder's stored acknowledgement verified (TssClient does). The
   * current share must still be of the same key and an older epoch;
   * otherwise nothing is written (ShareChangedError).
   */
  async activatePending(walletId: string, epoch: number, opts: { recovery?: boolean } = {}): Promise<StoredWallet> {
    checkWalletIdArg(walletId);
    checkEpoch(epoch);
    const tx = this.#db.transaction([STORE, PENDING, RECOVERY, RUNS], "readwrite");
    const done = settled(tx.done);
    let record: StoredRecordV1;
    try {
      const [rawPending, rawCurrent] = await Promise.all([tx.objectStore(PENDING).get([walletId, epoch]), tx.objectStore(STORE).get(walletId)]);
      if (rawPending === undefined) throw new ShareNotFoundError(walletId, `no pending share of wallet ${JSON.stringify(walletId)} of epoch ${epoch} is stored`);
      // A recovery's share may be the browser's first of the wallet.
      if (rawCurrent === undefined && !opts.recovery) throw new ShareNotFoundError(walletId);
      const p = readPending(rawPending, walletId, epoch);
      // A run frozen, pinned or dropped here is never activated here.
      const run = p.sessionId ? await tx.objectStore(RUNS).get([walletId, epoch, p.sessionId]) : undefined;
      if (run?.state === "abandoned") throw new TsskitError("run_abandoned", `run ${p.sessionId} of epoch ${epoch} was dropped or abandoned here: its share is not activated`);
      if (runHeld(run)) throw new TsskitError("run_frozen", `run ${p.sessionId} of epoch ${epoch} is ${run!.state} here (settled): its share is not activated`);
      const cur = rawCurrent === undefined ? null : readRecord(rawCurrent, walletId).record;
      if (cur && (cur.publicKey !== p.publicKey || (cur.epoch !== undefined && cur.epoch >= epoch))) throw new ShareChangedError(walletId);
      record = makeRecord(backupHeader(p.backup), {
        name: cur ? cur.name : p.name,
        createdAt: cur ? cur.createdAt : p.createdAt,
        threshold: p.threshold,
        parties: p.parties,
        publicKey: p.publicKey,
        address: p.address,
        chainCode: p.chainCode,
        epoch,
      });
      await tx.objectStore(STORE).put(record);
      await deletePending(tx.objectStore(PENDING), walletId, epoch);
      // Runs of this epoch and before can no longer store a share; the
      // activated one stays recorded, to answer a freeze.
      await deleteRuns(tx.objectStore(RUNS), walletId, epoch);
      if (p.sessionId) await tx.objectStore(RUNS).put({ walletId, epoch, sessionId: p.sessionId, state: "activated" });
      // A recovery's request is answered.
      if (opts.recovery) await tx.objectStore(RECOVERY).delete(walletId);
    } catch (e) {
      // Whatever failed, nothing of this transaction is written: the
      // current share stays, and so does the pending one.
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
    return publicPart(record);
  }

  /**
   * Deletes a wallet's pending share of epoch, or all of them; the current
   * share is not touched. The share of a run frozen, pinned or thawed
   * here is refused (run_frozen), and nothing is deleted: settling the run
   * needs it, and a pinned run's share is one this browser said it keeps.
   */
  async discardPending(walletId: string, epoch?: number): Promise<void> {
    checkWalletIdArg(walletId);
    if (epoch !== undefined) checkEpoch(epoch);
    const tx = this.#db.transaction([PENDING, RUNS], "readwrite");
    const done = settled(tx.done);
    try {
      const kept = ((await tx.objectStore(RUNS).getAll()) as StoredRun[]).find(
        (r) => r.walletId === walletId && (epoch === undefined || r.epoch === epoch) && (runHeld(r) || (r.state === "stored" && pinnedForGood(r))),
      );
      if (kept) {
        throw new TsskitError("run_frozen", `run ${kept.sessionId} of epoch ${kept.epoch} is settled here (${kept.state}${kept.pinned ? ", pinned" : ""}): its share is kept`);
      }
      if (epoch === undefined) await deletePending(tx.objectStore(PENDING), walletId, MAX_EPOCH);
      else await tx.objectStore(PENDING).delete([walletId, epoch]);
    } catch (e) {
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
  }

  /**
   * Keeps a new device's recovery request and its sealed device key until
   * the approval comes (one per wallet; an earlier one is replaced).
   */
  async putRecoveryRequest(req: StoredRecoveryRequest): Promise<void> {
    const record = recoveryRecord(req);
    await this.#db.put(RECOVERY, { ...record, checksum: recoveryChecksum(record) });
  }

  /** The pending recovery request of a wallet, or null; a damaged one is CorruptRecordError. */
  async recoveryRequest(walletId: string): Promise<StoredRecoveryRequest | null> {
    checkWalletIdArg(walletId);
    const raw = await this.#db.get(RECOVERY, walletId);
    if (raw === undefined) return null;
    return readRecoveryRecord(raw, walletId);
  }

  /** Every pending recovery request (public fields only), oldest first; damaged ones are left out. */
  async recoveryRequests(): Promise<RecoveryRequest[]> {
    const out: RecoveryRequest[] = [];
    for (const raw of await this.#db.getAll(RECOVERY)) {
      try {
        const { device: _, ...pub } = readRecoveryRecord(raw, (raw as { walletId?: string })?.walletId ?? "");
        out.push(pub);
      } catch {
        // a damaged request is never used
      }
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Deletes a wallet's pending recovery request (its device key with it). */
  async removeRecoveryRequest(walletId: string): Promise<void> {
    checkWalletIdArg(walletId);
    await this.#db.delete(RECOVERY, walletId);
  }

  /**
   * Re-encrypts a stored share under a new password, with a fresh salt and
   * nonce, and the wallet's pending shares (of refreshes not yet
   * activated) that open with the old password too, so that a resume, an
   * activation or a settle step after the change takes the new one; a
   * pending share that does not open with it (kept under another) keeps
   * its own, and so do those of a wallet with a recovery request stored
   * (the recovery ends under the password its device key is sealed with).
   * Every record is replaced in one transaction, and only if none
   * changed and none was added since they were decrypted (else
   * ShareChangedError: nothing is written). This takes no lock: a refresh
   * running meanwhile stores its new share under the password it was
   * given; TssClient.changePassword holds the wallet's lock.
   */
  async changePassword(walletId: string, oldPassword: string, newPassword: string): Promise<void> {
    checkPassword(newPassword); // before the old password costs a key derivation
    checkNewPassword(newPassword); // the password rule (WeakPasswordError)
    const loaded = await this.#load(walletId);
    const rewrapped = await this.#crypto
      .rewrap(serializeBackup(backupHeader(loaded.record.backup)), oldPassword, newPassword, this.#iterations)
      .catch((e) => {
        throw this.#damaged(loaded.record, e);
      });
    this.#same(loaded.record, rewrapped.info);
    const record = rewrappedRecord(loaded.record, rewrapped);
    const pending = await this.#rewrapPending(walletId, oldPassword, newPassword);
    // One transaction: read, compare, write.
    const tx = this.#db.transaction([STORE, PENDING], "readwrite");
    const done = settled(tx.done);
    let current: unknown;
    let same = false;
    try {
      current = await tx.objectStore(STORE).get(walletId);
      same = current !== undefined && sameValue(current, loaded.raw);
      const now = same ? await walletPending(tx.objectStore(PENDING), walletId) : [];
      same &&= sameValue(now.map((p) => p.raw), pending.map((p) => p.raw));
      if (same) {
        await tx.objectStore(STORE).put(record);
        for (const p of pending) if (p.record) await tx.objectStore(PENDING).put(p.record);
      }
    } catch (e) {
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
    if (current === undefined) throw new ShareNotFoundError(walletId);
    if (!same) throw new ShareChangedError(walletId);
  }

  /**
   * The wallet's stored pending values, oldest epoch first, each with its
   * record re-encrypted under newPassword where it opens with oldPassword.
   */
  async #rewrapPending(walletId: string, oldPassword: string, newPassword: string): Promise<{ raw: unknown; record?: StoredRecordV1 }[]> {
    const tx = this.#db.transaction([PENDING, RECOVERY], "readonly");
    const done = settled(tx.done);
    const [raws, request] = await Promise.all([walletPending(tx.objectStore(PENDING), walletId), tx.objectStore(RECOVERY).getKey(walletId)]);
    await done;
    // A recovery in progress keeps its pending share under the password
    // its sealed device key is under: the recovery ends with that one.
    if (request !== undefined) return raws.map(({ raw }) => ({ raw }));
    const out: { raw: unknown; record?: StoredRecordV1 }[] = [];
    for (const { epoch, raw } of raws) {
      let r: StoredRecordV1;
      try {
        r = readPending(raw, walletId, epoch);
      } catch {
        out.push({ raw }); // damaged (never activated): left as it is
        continue;
      }
      try {
        const rewrapped = await this.#crypto.rewrap(serializeBackup(backupHeader(r.backup)), oldPassword, newPassword, this.#iterations);
        this.#same(r, rewrapped.info);
        out.push({ raw, record: rewrappedRecord(r, rewrapped, r.sessionId) });
      } catch (e) {
        // Kept under another password, or damaged: left as it is.
        // Anything else (a worker gone) fails the change rather than
        // leave a share that would bring the old password back.
        const told = this.#damaged(r, e);
        if (!(told instanceof WrongPasswordError || told instanceof CorruptRecordError)) throw e;
        out.push({ raw });
      }
    }
    return out;
  }

  /**
   * The password backup of a stored share, for the user to keep; the Go CLI
   * reads it. The password is checked first (WrongPasswordError).
   */
  async exportBackup(walletId: string, password: string): Promise<string> {
    const loaded = await this.#load(walletId);
    await this.#crypto.close((await this.#open(loaded, password)).handle);
    return serializeBackup(backupHeader(loaded.record.backup));
  }

  /**
   * Stores the share of a password backup (made by exportBackup or the Go
   * CLI) as it is, after checking that it decrypts with password. When a
   * share of the same wallet is stored, the epochs decide (the backup's is
   * inside its ciphertext, so it is decrypted first):
   *
   * - an older backup is refused (OlderBackupError, code "older_backup"):
   *   the wallet was refreshed since, and an old epoch's share must not
   *   come back;
   * - the same epoch is refused (ShareExistsError), as before epochs;
   * - a newer backup (the wallet was refreshed or recovered elsewhere)
   *   replaces the stored share, in one transaction, if it did not change
   *   meanwhile (ShareChangedError), with the stored name unless meta
   *   names one.
   *
   * A stored share whose epoch is not recorded yet (stored by an older
   * SDK) is opened with the same password to learn it; if that fails the
   * import is refused with ShareExistsError.
   */
  async importBackup(text: string, password: string, meta: { name?: string } = {}): Promise<StoredWallet> {
    const name = checkName(meta.name);
    const header = parseBackup(text);
    const raw = await this.#db.get(STORE, header.walletId);
    if (raw === undefined) return this.#add(header, name, await this.#crypto.check(text, password));
    let loaded: Loaded;
    try {
      loaded = readRecord(raw, header.walletId);
    } catch {
      throw new ShareExistsError(header.walletId); // damaged: the user removes it first, as before
    }
    const info = await this.#crypto.check(text, password);
    const cur = loaded.record;
    let stored = cur.epoch;
    if (stored === undefined) {
      stored = await this.#crypto
        .check(serializeBackup(backupHeader(cur.backup)), password)
        .then((i) => (i.publicKey === cur.publicKey ? i.epoch : undefined))
        .catch(() => undefined);
    }
    if (stored === undefined || info.publicKey !== cur.publicKey) throw new ShareExistsError(header.walletId);
    if (info.epoch < stored) throw new OlderBackupError(header.walletId, info.epoch, stored);
    if (info.epoch === stored) throw new ShareExistsError(header.walletId);
    const record = makeRecord(header, {
      name: meta.name === undefined ? cur.name : name,
      createdAt: cur.createdAt,
      threshold: info.threshold,
      parties: info.parties,
      publicKey: info.publicKey,
      address: info.address,
      chainCode: info.chainCode || undefined,
      epoch: info.epoch,
    });
    const tx = this.#db.transaction([STORE, PENDING, RUNS], "readwrite");
    const done = settled(tx.done);
    let same: boolean;
    try {
      const current = await tx.objectStore(STORE).get(header.walletId);
      same = current !== undefined && sameValue(current, raw);
      if (same) {
        await tx.objectStore(STORE).put(record);
        // Pending shares of this epoch or older are of no use any more, nor
        // are the records of their runs (none of that epoch is joined again).
        await deletePending(tx.objectStore(PENDING), header.walletId, info.epoch);
        await deleteRuns(tx.objectStore(RUNS), header.walletId, info.epoch);
      }
    } catch (e) {
      abort(tx);
      await done.catch(() => {});
      throw e;
    }
    await done;
    if (!same) throw new ShareChangedError(header.walletId);
    return publicPart(record);
  }

  /** The stored IndexedDB value as it is, or undefined. For tests and diagnostics. */
  async raw(walletId: string): Promise<unknown> {
    checkWalletIdArg(walletId);
    return this.#db.get(STORE, walletId);
  }

  /** Closes the database connection. */
  close(): void {
    this.#db.close();
  }

  // -------------------------------------------------------------------------

  /** Adds the record of a checked backup header; ShareExistsError if its wallet has one. */
  async #add(header: BackupHeader, name: string, info: ShareRecordInfo): Promise<StoredWallet> {
    const record = makeRecord(header, {
      name,
      createdAt: Date.now(),
      threshold: info.threshold,
      parties: info.parties,
      publicKey: info.publicKey,
      address: info.address,
      chainCode: info.chainCode || undefined,
      epoch: info.epoch,
    });
    const tx = this.#db.transaction(STORE, "readwrite");
    try {
      await Promise.all([tx.store.add(record), tx.done]);
    } catch (e) {
      if (e instanceof DOMException && e.name === "ConstraintError") throw new ShareExistsError(header.walletId);
      throw e;
    }
    return publicPart(record);
  }

  async #load(walletId: string): Promise<Loaded> {
    checkWalletIdArg(walletId);
    const raw = await this.#db.get(STORE, walletId);
    if (raw === undefined) throw new ShareNotFoundError(walletId);
    return readRecord(raw, walletId);
  }

  /**
   * Opens a loaded record with the ShareCrypto and checks it against the
   * clear-text fields. Writes an upgraded record back.
   */
  async #open(loaded: Loaded, password: string): Promise<{ handle: H; info: ShareRecordInfo }> {
    const r = loaded.record;
    let opened: { handle: H; info: ShareRecordInfo };
    try {
      opened = await this.#crypto.open(serializeBackup(backupHeader(r.backup)), password);
    } catch (e) {
      throw this.#damaged(r, e);
    }
    try {
      this.#same(r, opened.info);
    } catch (e) {
      await this.#crypto.close(opened.handle);
      throw e;
    }
    // An upgraded record, or one stored before epochs: written back, with its epoch.
    if (loaded.migrated || r.epoch === undefined) await this.#writeBack(loaded, opened.info.epoch);
    return opened;
  }

  /** A decryption failure, told apart: a malformed backup is a damaged record. */
  #damaged(r: StoredRecordV1, e: unknown): unknown {
    if (e instanceof BackupFormatError || (e as { code?: string })?.code === "invalid_backup" || (e as { code?: string })?.code === "share_invalid") {
      return new CorruptRecordError(`the share of wallet ${JSON.stringify(r.walletId)} is damaged: ${(e as Error).message}`, r.walletId, {
        cause: e,
      });
    }
    return e; // WrongPasswordError, EmptyPasswordError
  }

  /**
   * Checks a decrypted record's public part against the clear-text fields,
   * the chain code among them: the clear-text one is what addresses are
   * derived with (hd.ts walletChainCode), so one written behind the
   * storage's back would move every derived address. A record of version 1
   * or 2 has none ("" in its info), and its stored record must have none.
   * The check runs whenever the record is opened (signing, backup,
   * password change): a signing at a path never uses a chain code the
   * record does not hold. Reading an address without the password
   * (getAddress, getExtendedPublicKey) trusts the clear-text field, as it
   * trusts the clear-text public key: whoever can write this origin's
   * IndexedDB can change what the page shows (docs/security.md).
   */
  #same(r: StoredRecordV1, info: ShareRecordInfo): void {
    if (
      info.walletId !== r.walletId ||
      info.partyId !== r.partyId ||
      info.publicKey !== r.publicKey ||
      info.threshold !== r.threshold ||
      !sameValue(info.parties, r.parties) ||
      chainCodeOf(info) !== (r.chainCode ?? "").toLowerCase() ||
      (r.epoch !== undefined && info.epoch !== r.epoch)
    ) {
      throw new CorruptRecordError(
        `the share of wallet ${JSON.stringify(r.walletId)} is damaged: its clear-text fields do not match the encrypted record`,
        r.walletId,
      );
    }
  }

  /** Replaces an old record by its upgrade (with its epoch), if it is still stored unchanged. Best effort. */
  async #writeBack(loaded: Loaded, epoch: number): Promise<void> {
    try {
      const r = loaded.record;
      const { checksum: _, ...rest } = r;
      const upgraded = r.epoch === undefined ? { ...rest, epoch } : rest;
      const record = { ...upgraded, checksum: checksum(upgraded) };
      const tx = this.#db.transaction(STORE, "readwrite");
      const done = settled(tx.done);
      const current = await tx.store.get(r.walletId);
      if (current !== undefined && sameValue(current, loaded.raw)) await tx.store.put(record);
      await done;
    } catch {
      // The upgrade is made again at the next read.
    }
  }
}

// ---------------------------------------------------------------------------

/**
 * A transaction's done promise, marked handled: if a request fails first,
 * the caller's await of that request throws and the transaction's own
 * rejection must not surface as unhandled.
 */
function settled(done: Promise<void>): Promise<void> {
  done.catch(() => {});
  return done;
}

/** A record's chain code in lowercase hex; "" when it has none (version 1 or 2), or when a ShareCrypto left it out. */
function chainCodeOf(info: ShareRecordInfo): string {
  return typeof info.chainCode === "string" ? info.chainCode.toLowerCase() : "";
}

function checkWalletIdArg(walletId: string): void {
  if (typeof walletId !== "string" || walletId === "") throw new TypeError("walletId: want a non-empty string");
}

function checkName(name: string | undefined): string {
  if (name === undefined) return "";
  if (typeof name !== "string") throw new TypeError("name: want a string");
  if (name.length > MAX_NAME_LENGTH) throw new RangeError(`name: ${name.length} characters; want at most ${MAX_NAME_LENGTH}`);
  return name;
}

/** Aborts a transaction unless it already ended (then there is nothing to undo: its requests failed). */
function abort(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // already finished or aborted
  }
}

/** Deletes the pending shares of walletId of epoch up to `upTo`, in the store's transaction. */
async function deletePending(store: { getAllKeys(): Promise<[string, number][]>; delete(key: [string, number]): Promise<void> }, walletId: string, upTo: number): Promise<void> {
  for (const key of await store.getAllKeys()) {
    if (Array.isArray(key) && key[0] === walletId && key[1] <= upTo) await store.delete(key);
  }
}

/**
 * old's record with its backup replaced by a re-encryption of it (checked
 * against it with #same), as changePassword writes it; sessionId for a
 * pending share's.
 */
function rewrappedRecord(old: StoredRecordV1, rewrapped: { backup: string; info: ShareRecordInfo }, sessionId?: string): StoredRecordV1 {
  return makeRecord(parseBackup(rewrapped.backup), {
    name: old.name,
    createdAt: old.createdAt,
    threshold: old.threshold,
    parties: old.parties,
    publicKey: old.publicKey,
    address: old.address,
    // The encrypted record's, as #add stores it ("" for a record of version 1 or 2: none).
    chainCode: chainCodeOf(rewrapped.info) || undefined,
    epoch: rewrapped.info.epoch,
    sessionId,
  });
}

/** The stored pending values of walletId, oldest epoch first. */
async function walletPending(store: { getAllKeys(): Promise<IDBValidKey[]>; getAll(): Promise<unknown[]> }, walletId: string): Promise<{ epoch: number; raw: unknown }[]> {
  const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()]);
  const out: { epoch: number; raw: unknown }[] = [];
  keys.forEach((key, i) => {
    if (Array.isArray(key) && key[0] === walletId && typeof key[1] === "number") out.push({ epoch: key[1], raw: values[i] });
  });
  return out.sort((a, b) => a.epoch - b.epoch);
}

/** Deletes the recorded runs of walletId up to epoch upTo. */
async function deleteRuns(
  store: { getAllKeys(): Promise<[string, number, string][]>; delete(key: [string, number, string]): Promise<void> },
  walletId: string, upTo: number,
): Promise<void> {
  for (const key of await store.getAllKeys()) {
    if (Array.isArray(key) && key[0] === walletId && key[1] <= upTo) await store.delete(key);
  }
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`epoch: ${epoch}; want an integer in 0..${MAX_EPOCH}`);
}

function makeRecord(
  h: BackupHeader,
  m: Pick<StoredWallet, "name" | "createdAt" | "threshold" | "parties" | "publicKey" | "address" | "chainCode" | "epoch"> & { sessionId?: string },
): StoredRecordV1 {
  const text = serializeBackup(h);
  const backup = JSON.parse(text) as BackupFields;
  const record: Omit<StoredRecordV1, "checksum"> = {
    version: STORED_RECORD_VERSION,
    walletId: h.walletId,
    partyId: h.partyId,
    name: m.name,
    publicKey: m.publicKey,
    address: m.address,
    threshold: m.threshold,
    parties: [...m.parties],
    createdAt: m.createdAt,
    ...(m.chainCode ? { chainCode: m.chainCode } : {}),
    ...(m.epoch !== undefined ? { epoch: m.epoch } : {}),
    ...(m.sessionId !== undefined ? { sessionId: m.sessionId } : {}),
    backup,
  };
  return { ...record, checksum: checksum(record) };
}

/** The hex SHA-256 of a record's fields other than its checksum, in a fixed order. */
function checksum(r: Omit<StoredRecordV1, "checksum">): string {
  const b = r.backup;
  const fields = [
    r.version,
    r.walletId,
    r.partyId,
    r.name,
    r.publicKey,
    r.address,
    r.threshold,
    r.parties,
    r.createdAt,
    b && typeof b === "object"
      ? [b.format, b.version, b.wallet_id, b.party_id, b.kdf, b.iterations, b.salt, b.cipher, b.nonce, b.ciphertext]
      : b,
    // Only when present: records stored before chain codes keep their checksum.
    ...(r.chainCode !== undefined ? [r.chainCode] : []),
    // Likewise epochs, and the session of a pending record (tagged, so no field reads as another).
    ...(r.epoch !== undefined ? [["epoch", r.epoch]] : []),
    ...(r.sessionId !== undefined ? [["sessionId", r.sessionId]] : []),
  ];
  return bytesToHex(sha256(new TextEncoder().encode(JSON.stringify(fields))));
}

function backupHeader(b: BackupFields): BackupHeader {
  // Stored fields were checked by readRecord; parse them again as a backup
  // text so the header is the one openBackup reads.
  return parseBackup(JSON.stringify(b));
}

function publicPart(r: StoredRecordV1): StoredWallet {
  return {
    walletId: r.walletId,
    partyId: r.partyId,
    name: r.name,
    publicKey: r.publicKey,
    address: r.address,
    threshold: r.threshold,
    parties: [...r.parties],
    createdAt: r.createdAt,
    ...(r.chainCode ? { chainCode: r.chainCode } : {}),
    ...(r.epoch !== undefined ? { epoch: r.epoch } : {}),
  };
}

function pendingPart(r: StoredRecordV1): PendingShare {
  return { ...publicPart(r), epoch: r.epoch!, sessionId: r.sessionId! };
}

/** Checks a stored pending value: a record of the current version with its epoch (the key's) and session id. */
function readPending(raw: unknown, walletId: string, epoch: number): StoredRecordV1 {
  const { record } = readRecord(raw, walletId);
  if (record.epoch !== epoch || typeof record.sessionId !== "string" || record.sessionId === "" || (raw as { version?: unknown }).version !== STORED_RECORD_VERSION) {
    throw new CorruptRecordError(`the pending share of wallet ${JSON.stringify(walletId)} of epoch ${epoch} is damaged`, walletId);
  }
  return record;
}

/** Structural equality of values read from IndexedDB (JSON-like data). */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Checks a stored value and upgrades it to the current version; throws
 * CorruptRecordError for anything else.
 */
function readRecord(raw: unknown, walletId: string): Loaded {
  const corrupt = (msg: string, cause?: unknown) =>
    new CorruptRecordError(
      `the share of wallet ${JSON.stringify(walletId)} is damaged: ${msg}`,
      walletId,
      cause === undefined ? undefined : { cause },
    );
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw corrupt("not an object");
  let value = raw as Record<string, unknown>;
  const stored = value.version;
  if (typeof stored !== "number" || !Number.isSafeInteger(stored) || stored < 0) {
    throw corrupt("no record version");
  }
  let version: number = stored;
  if (version > STORED_RECORD_VERSION) {
    throw new CorruptRecordError(
      `the share of wallet ${JSON.stringify(walletId)} has record version ${version}, written by a newer SDK ` +
        `(this one reads up to version ${STORED_RECORD_VERSION}); update the app to open it`,
      walletId,
    );
  }
  const migrated = version < STORED_RECORD_VERSION;
  while (version < STORED_RECORD_VERSION) {
    const up = migrations[version];
    if (!up) throw corrupt(`record version ${version} cannot be upgraded`);
    try {
      value = up(value);
    } catch (e) {
      throw corrupt(`cannot upgrade it from record version ${version}: ${(e as Error).message}`, e);
    }
    const next: unknown = value.version;
    if (typeof next !== "number" || next <= version) throw corrupt(`the upgrade from version ${version} failed`);
    version = next;
  }

  const v = value;
  const str = (k: string) => {
    if (typeof v[k] !== "string") throw corrupt(`${k}: want a string`);
    return v[k] as string;
  };
  if (str("walletId") !== walletId) throw corrupt("walletId: not the record's key");
  str("partyId");
  str("name");
  if (!/^0[23][0-9a-f]{64}$/.test(str("publicKey"))) throw corrupt("publicKey: want 33 bytes in lowercase hex");
  if (addressOf(v.publicKey as string) !== str("address")) throw corrupt("address: not the address of publicKey");
  if (typeof v.threshold !== "number" || !Number.isSafeInteger(v.threshold)) throw corrupt("threshold: want an integer");
  if (!Array.isArray(v.parties) || !v.parties.every((p) => typeof p === "string")) {
    throw corrupt("parties: want an array of strings");
  }
  if (typeof v.createdAt !== "number" || !Number.isFinite(v.createdAt)) throw corrupt("createdAt: want a number");
  if (v.chainCode !== undefined && (typeof v.chainCode !== "string" || !/^[0-9a-f]{64}$/.test(v.chainCode))) {
    throw corrupt("chainCode: want 32 bytes in lowercase hex");
  }
  if (v.epoch !== undefined && (typeof v.epoch !== "number" || !Number.isSafeInteger(v.epoch) || v.epoch < 0 || v.epoch > MAX_EPOCH)) {
    throw corrupt("epoch: want an integer 0.." + MAX_EPOCH);
  }
  if (v.sessionId !== undefined && typeof v.sessionId !== "string") throw corrupt("sessionId: want a string");
  if (v.backup === null || typeof v.backup !== "object" || Array.isArray(v.backup)) throw corrupt("backup: want an object");
  let header: BackupHeader;
  try {
    header = parseBackup(JSON.stringify(v.backup));
  } catch (e) {
    throw corrupt(`backup: ${(e as Error).message}`, e);
  }
  if (header.walletId !== walletId || header.partyId !== v.partyId) {
    throw corrupt("backup: not of the wallet and party of the record");
  }
  const record = {
    version: STORED_RECORD_VERSION,
    walletId,
    partyId: v.partyId as string,
    name: v.name as string,
    publicKey: v.publicKey as string,
    address: v.address as string,
    threshold: v.threshold,
    parties: [...(v.parties as string[])],
    createdAt: v.createdAt,
    ...(v.chainCode !== undefined ? { chainCode: v.chainCode as string } : {}),
    ...(v.epoch !== undefined ? { epoch: v.epoch as number } : {}),
    ...(v.sessionId !== undefined ? { sessionId: v.sessionId as string } : {}),
    backup: JSON.parse(serializeBackup(header)) as BackupFields,
  } satisfies Omit<StoredRecordV1, "checksum">;
  if (v.checksum !== checksum(record)) throw corrupt("checksum mismatch");
  return { record: { ...record, checksum: v.checksum }, raw, migrated };
}

/** A recovery request's stored fields, checked, without its checksum. */
function recoveryRecord(r: StoredRecoveryRequest) {
  const bad = (what: string) => new TypeError(`recovery request: ${what}`);
  if (typeof r.walletId !== "string" || r.walletId === "") throw bad("walletId");
  if (typeof r.partyId !== "string" || r.partyId === "") throw bad("partyId");
  checkEpoch(r.epoch);
  if (typeof r.identity !== "string" || !/^[0-9a-f]{64}$/.test(r.identity)) throw bad("identity: want 64 lowercase hex");
  if (!r.recovery || typeof r.recovery.kit !== "boolean" || typeof r.recovery.backend !== "boolean") throw bad("recovery: want {kit, backend} booleans");
  if (typeof r.createdAt !== "number" || !Number.isFinite(r.createdAt)) throw bad("createdAt");
  if (typeof r.device !== "string" || r.device === "") throw bad("device");
  return {
    version: 1 as const, walletId: r.walletId, epoch: r.epoch, partyId: r.partyId, identity: r.identity,
    recovery: { kit: r.recovery.kit, backend: r.recovery.backend }, createdAt: r.createdAt, device: r.device,
  };
}

function recoveryChecksum(r: ReturnType<typeof recoveryRecord>): string {
  const fields = [r.version, r.walletId, r.epoch, r.partyId, r.identity, r.recovery.kit, r.recovery.backend, r.createdAt, r.device];
  return bytesToHex(sha256(new TextEncoder().encode(JSON.stringify(fields))));
}

function readRecoveryRecord(raw: unknown, walletId: string): StoredRecoveryRequest {
  const corrupt = () => new CorruptRecordError(`the recovery request of wallet ${JSON.stringify(walletId)} is damaged`, walletId);
  if (raw === null || typeof raw !== "object" || (raw as { version?: unknown }).version !== 1) throw corrupt();
  let r: ReturnType<typeof recoveryRecord>;
  try {
    r = recoveryRecord(raw as StoredRecoveryRequest);
  } catch {
    throw corrupt();
  }
  if (r.walletId !== walletId || (raw as { checksum?: unknown }).checksum !== recoveryChecksum(r)) throw corrupt();
  const { version: _, ...out } = r;
  return out;
}
