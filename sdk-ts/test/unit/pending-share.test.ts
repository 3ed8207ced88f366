// Epochs in stored shares: a refresh's new share kept pending beside the
// current one and made the wallet's in one transaction; backups of an
// older epoch refused over a newer share; records of epoch >= 1 (their
// parties in the order of their keys at that epoch) read like any other.
import "fake-indexeddb/auto";

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { IDBFactory } from "fake-indexeddb";
import { type IDBPDatabase, wrap } from "idb";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";

import { BackupFormatError, WrongPasswordError, inspectRecord, protect } from "../../src/backup.js";
import { TsskitError } from "../../src/errors.js";
import {
  OlderBackupError,
  ShareChangedError,
  ShareExistsError,
  ShareNotFoundError,
  ShareStorage,
  type StoredWallet,
} from "../../src/share-storage.js";

const DB = "tsskit-pending-test";
const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => bytesToHex(b);
const same = (a: Uint8Array, b: Uint8Array) => hex(a) === hex(b);
const PASSWORD = "a refreshing password, violet orbit";

/** Go's roster.KeyAt(id, epoch) as hex: SHA-256(id), or SHA-256(id || 0x00 || epoch as 4 big-endian bytes) from epoch 1. */
function keyAt(id: string, epoch: number): string {
  if (epoch === 0) return hex(sha256(utf8(id)));
  const b = utf8(id);
  const m = new Uint8Array(b.length + 5);
  m.set(b);
  new DataView(m.buffer).setUint32(b.length + 1, epoch);
  return hex(sha256(m));
}

/** A version 2 share record of epoch, as Go's share.Encode writes it, with a made-up save_data. */
function record(walletId: string, publicKey: string, epoch: number, ids = ["server-1", "server-2", "browser-1"], order = epoch): Uint8Array {
  const parties = [...ids].sort((a, b) => (keyAt(a, order) < keyAt(b, order) ? -1 : 1));
  const secret = BigInt("0x" + hex(crypto.getRandomValues(new Uint8Array(64)))).toString();
  const holders = parties.map((p) => ({ party_id: p, kind: p.startsWith("browser") ? "client" : "server", identity_key: hex(crypto.getRandomValues(new Uint8Array(32))) }));
  return utf8(
    `{"format":"tsskit.share","version":2,"wallet_id":"${walletId}","party_id":"browser-1","threshold":2,` +
      `"parties":${JSON.stringify(parties)},"public_key":"${publicKey}","epoch":${epoch},"holders":${JSON.stringify(holders)},` +
      `"policy":{"client_required":true},"identity":"${hex(crypto.getRandomValues(new Uint8Array(32)))}",` +
      `"save_data":{"Xi":${secret},"ShareID":${secret}7}}`,
  );
}

let factory: IDBFactory;
let storage: ShareStorage;
const opened: Array<{ close(): void }> = [];

async function open(): Promise<ShareStorage> {
  const s = (await ShareStorage.open({ indexedDB: factory, dbName: DB })) as ShareStorage;
  opened.push(s);
  return s;
}

async function rawDb(): Promise<IDBPDatabase> {
  const db = (await wrap(factory.open(DB))) as unknown as IDBPDatabase;
  opened.push(db);
  return db;
}

async function backupOf(share: Uint8Array, password = PASSWORD): Promise<string> {
  return protect(share, password, { iterations: storage.iterations });
}

/** A wallet with its current share (epoch 0) stored, and its next shares made (not stored). */
async function wallet(name = "w") {
  const walletId = crypto.randomUUID();
  const publicKey = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
  const shares = [0, 1, 2, 3].map((e) => record(walletId, publicKey, e));
  const stored = await storage.putBackup(await backupOf(shares[0]!), inspectRecord(shares[0]!), { name });
  return { walletId, publicKey, shares, stored };
}

async function pend(share: Uint8Array, sessionId = "session-" + crypto.randomUUID()) {
  return storage.putPending(await backupOf(share), inspectRecord(share), { sessionId });
}

beforeEach(async () => {
  factory = new IDBFactory();
  storage = await open();
});

afterEach(() => {
  for (const c of opened.splice(0)) c.close();
  vi.restoreAllMocks();
});

describe("records of later epochs", () => {
  test("keep their parties in the order of their keys at their epoch (Go's roster.KeyAt)", () => {
    // Vectors: the orders of these ids by roster.KeyAt at epochs 0, 1 and 2.
    const ids = ["server-1", "server-2", "server-3", "browser-1"];
    const want = [
      ["server-2", "server-3", "browser-1", "server-1"],
      ["server-2", "server-1", "browser-1", "server-3"],
      ["server-3", "server-2", "server-1", "browser-1"],
    ];
    const pub = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    for (const epoch of [0, 1, 2]) {
      const info = inspectRecord(record("w", pub, epoch, ids));
      expect(info.parties).toEqual(want[epoch]);
      expect(info.epoch).toBe(epoch);
    }
    // An epoch-1 record in epoch 0's order is not one Go writes.
    expect(() => inspectRecord(record("w", pub, 1, ids, 0))).toThrow(/roster key order/);
    expect(() => inspectRecord(utf8(new TextDecoder().decode(record("w", pub, 0, ids)).replace('"epoch":0', '"epoch":-1')))).toThrow(BackupFormatError);
  });
});

describe("pending shares", () => {
  test("unlockPending opens a pending share with its password, and nothing else", async () => {
    const w = await wallet();
    const p = await pend(w.shares[1]!, "session-u");
    const { handle, pending } = await storage.unlockPending(w.walletId, 1, PASSWORD);
    expect(same(handle, w.shares[1]!)).toBe(true);
    expect(pending).toEqual(p);
    await expect(storage.unlockPending(w.walletId, 1, "not the password at all")).rejects.toBeInstanceOf(WrongPasswordError);
    await expect(storage.unlockPending(w.walletId, 2, PASSWORD)).rejects.toBeInstanceOf(ShareNotFoundError);
    // Opening it changes nothing: the current share is still epoch 0's, the pending one is still there.
    expect((await storage.info(w.walletId)).epoch).toBe(0);
    expect(await storage.pendingShares(w.walletId)).toEqual([p]);
  });

  test("a pending share is kept beside the current one, which alone is read until it is activated", async () => {
    const w = await wallet("Savings");
    expect(w.stored.epoch).toBe(0);
    const p = await pend(w.shares[1]!, "session-1");
    expect(p).toMatchObject({ walletId: w.walletId, epoch: 1, sessionId: "session-1", name: "Savings" });

    // Listing, info, unlocking and export all see epoch 0.
    expect((await storage.list()).wallets.map((x) => [x.walletId, x.epoch])).toEqual([[w.walletId, 0]]);
    expect((await storage.info(w.walletId)).epoch).toBe(0);
    expect(same((await storage.unlock(w.walletId, PASSWORD)).handle, w.shares[0]!)).toBe(true);
    expect(await storage.pendingShares(w.walletId)).toEqual([p]);

    // Activation: the pending share is the wallet's, in its place.
    const active = await storage.activatePending(w.walletId, 1);
    expect(active).toEqual<StoredWallet>({ ...w.stored, epoch: 1, parties: inspectRecord(w.shares[1]!).parties });
    expect(active.createdAt).toBe(w.stored.createdAt); // listings keep their order
    expect(same((await storage.unlock(w.walletId, PASSWORD)).handle, w.shares[1]!)).toBe(true);
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    expect((await storage.list()).wallets.map((x) => x.epoch)).toEqual([1]);
    // Once only.
    await expect(storage.activatePending(w.walletId, 1)).rejects.toThrow(ShareNotFoundError);
  });

  test("a pending share must be newer, of the same key, and of a stored wallet", async () => {
    const w = await wallet();
    await expect(pend(w.shares[0]!)).rejects.toBeInstanceOf(OlderBackupError);
    const otherKey = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    await expect(pend(record(w.walletId, otherKey, 1))).rejects.toThrow(BackupFormatError);
    await expect(pend(record(crypto.randomUUID(), w.publicKey, 1))).rejects.toThrow(ShareNotFoundError);
    await expect(storage.putPending(await backupOf(w.shares[1]!), inspectRecord(w.shares[1]!), { sessionId: "" })).rejects.toThrow(TypeError);
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    // A second attempt at the same epoch replaces the first.
    await pend(w.shares[1]!, "first");
    await pend(w.shares[1]!, "second");
    expect((await storage.pendingShares(w.walletId)).map((p) => p.sessionId)).toEqual(["second"]);
  });

  test("activation is one transaction: a failure half-way writes nothing", async () => {
    const w = await wallet();
    await pend(w.shares[1]!);
    const before = structuredClone(await storage.raw(w.walletId));
    const pendingBefore = await storage.pendingShares(w.walletId);
    // The delete of the pending share fails after the new share was put.
    const del = vi.spyOn(IDBObjectStore.prototype, "delete").mockImplementation(() => {
      throw new DOMException("injected", "UnknownError");
    });
    await expect(storage.activatePending(w.walletId, 1)).rejects.toThrow("injected");
    del.mockRestore();
    expect(await storage.raw(w.walletId)).toEqual(before);
    expect(await storage.pendingShares(w.walletId)).toEqual(pendingBefore);
    // And the same activation then succeeds.
    expect((await storage.activatePending(w.walletId, 1)).epoch).toBe(1);
  });

  test("activation refuses a current share that changed meanwhile, and writes nothing", async () => {
    const w = await wallet();
    await pend(w.shares[1]!);
    const pendingBefore = await storage.pendingShares(w.walletId);
    // Another tab made a share of epoch 1 the wallet's meanwhile.
    const db = await rawDb();
    const changed = reseal({ ...(structuredClone(await db.get("shares", w.walletId)) as Record<string, unknown>), epoch: 1 });
    await db.put("shares", changed);
    await expect(storage.activatePending(w.walletId, 1)).rejects.toThrow(ShareChangedError);
    expect(await db.get("shares", w.walletId)).toEqual(changed);
    expect(await storage.pendingShares(w.walletId)).toEqual(pendingBefore);

    // A newer backup imported meanwhile drops the pending shares it makes useless.
    await storage.importBackup(await backupOf(w.shares[2]!), PASSWORD);
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    await expect(storage.activatePending(w.walletId, 1)).rejects.toThrow(ShareNotFoundError);
    expect((await storage.info(w.walletId)).epoch).toBe(2);
  });

  test("a failed refresh: the pending share is discarded, the current one untouched; remove takes both", async () => {
    const w = await wallet();
    const before = structuredClone(await storage.raw(w.walletId));
    await pend(w.shares[1]!);
    await storage.discardPending(w.walletId, 1);
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    expect(await storage.raw(w.walletId)).toEqual(before);
    await pend(w.shares[1]!);
    await pend(w.shares[2]!);
    expect((await storage.pendingShares(w.walletId)).map((p) => p.epoch)).toEqual([1, 2]);
    await storage.discardPending(w.walletId);
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    await pend(w.shares[1]!);
    await storage.remove(w.walletId);
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    await expect(storage.info(w.walletId)).rejects.toThrow(ShareNotFoundError);
  });

  test("changePassword re-encrypts the pending shares kept under the old password, in the same transaction", async () => {
    const NEW = "a new password, violet orbit";
    const OTHER = "a pending share's other password, amber";
    const w = await wallet();
    const p1 = await pend(w.shares[1]!, "session-1");
    const p2 = await storage.putPending(await backupOf(w.shares[2]!, OTHER), inspectRecord(w.shares[2]!), { sessionId: "session-2" });
    await storage.changePassword(w.walletId, PASSWORD, NEW);
    // The current share and epoch 1's pending share open with the new password only.
    await expect(storage.unlockPending(w.walletId, 1, PASSWORD)).rejects.toBeInstanceOf(WrongPasswordError);
    const opened = await storage.unlockPending(w.walletId, 1, NEW);
    expect(same(opened.handle, w.shares[1]!)).toBe(true);
    expect(opened.pending).toEqual({ ...p1 });
    // Epoch 2's, kept under another password, keeps it.
    expect(same((await storage.unlockPending(w.walletId, 2, OTHER)).handle, w.shares[2]!)).toBe(true);
    expect(await storage.pendingShares(w.walletId)).toEqual([p1, p2]);

    // A pending share stored while the old ones are re-encrypted: nothing is written.
    const deriveKey = crypto.subtle.deriveKey.bind(crypto.subtle);
    let calls = 0;
    vi.spyOn(crypto.subtle, "deriveKey").mockImplementation(async (...args: Parameters<SubtleCrypto["deriveKey"]>) => {
      // 1 and 2: the current share's open and seal; 3: epoch 1's open.
      if (++calls === 3) await pend(w.shares[3]!, "session-3");
      return deriveKey(...args);
    });
    await expect(storage.changePassword(w.walletId, NEW, "yet another password, quiet harbour")).rejects.toThrow(ShareChangedError);
    vi.restoreAllMocks();
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(same((await storage.unlockPending(w.walletId, 1, NEW)).handle, w.shares[1]!)).toBe(true);
    expect((await storage.pendingShares(w.walletId)).map((p) => p.epoch)).toEqual([1, 2, 3]);
    await storage.unlock(w.walletId, NEW);
  });

  test("changePassword fails, writing nothing, when a pending share cannot be re-encrypted for another reason than its password", async () => {
    const NEW = "a new password, violet orbit";
    const w = await wallet();
    await pend(w.shares[1]!, "session-1");
    const deriveKey = crypto.subtle.deriveKey.bind(crypto.subtle);
    let calls = 0;
    vi.spyOn(crypto.subtle, "deriveKey").mockImplementation(async (...args: Parameters<SubtleCrypto["deriveKey"]>) => {
      if (++calls === 3) throw new Error("the worker went away"); // epoch 1's open
      return deriveKey(...args);
    });
    await expect(storage.changePassword(w.walletId, PASSWORD, NEW)).rejects.toThrow("the worker went away");
    vi.restoreAllMocks();
    // Both still open with the old password only: no share would bring it back later.
    await storage.unlock(w.walletId, PASSWORD);
    await storage.unlockPending(w.walletId, 1, PASSWORD);
    await expect(storage.unlock(w.walletId, NEW)).rejects.toBeInstanceOf(WrongPasswordError);
  });

  test("changePassword leaves the pending share of a recovery in progress under the password of its request", async () => {
    const NEW = "a new password, violet orbit";
    const w = await wallet();
    await pend(w.shares[1]!, "session-r");
    await storage.putRecoveryRequest({
      walletId: w.walletId, epoch: 1, partyId: "browser-new", identity: "ab".repeat(32), recovery: { kit: true, backend: false }, createdAt: 1000, device: '{"sealed":1}',
    });
    await storage.changePassword(w.walletId, PASSWORD, NEW);
    await storage.unlock(w.walletId, NEW);
    await storage.unlockPending(w.walletId, 1, PASSWORD);
  });

  test("a database of version 1 (before pending shares) is upgraded and keeps its shares", async () => {
    for (const c of opened.splice(0)) c.close();
    factory = new IDBFactory();
    // What an SDK before pending shares made: version 1, the "shares" store only.
    const req = factory.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("shares", { keyPath: "walletId" });
    const old = (await wrap(req)) as unknown as IDBPDatabase;
    old.close();
    storage = await open();
    const w = await wallet();
    await pend(w.shares[1]!);
    expect((await storage.activatePending(w.walletId, 1)).epoch).toBe(1);
  });
});

describe("backups and epochs", () => {
  test("importBackup: an older epoch is refused, the same one exists, a newer one replaces", async () => {
    const w = await wallet("Named");
    await pend(w.shares[1]!);
    await storage.activatePending(w.walletId, 1);
    const before = structuredClone(await storage.raw(w.walletId));

    const older = await storage.importBackup(await backupOf(w.shares[0]!), PASSWORD).catch((e: unknown) => e);
    expect(older).toBeInstanceOf(OlderBackupError);
    expect(older).toMatchObject({ code: "older_backup", walletId: w.walletId, backupEpoch: 0, storedEpoch: 1 });
    expect((older as Error).message).toMatch(/epoch 0, older than the stored share's epoch 1/);
    expect(TsskitError.from(older).code).toBe("older_backup");
    expect(await storage.raw(w.walletId)).toEqual(before);

    await expect(storage.importBackup(await backupOf(w.shares[1]!), PASSWORD)).rejects.toThrow(ShareExistsError);
    await expect(storage.importBackup(await backupOf(w.shares[2]!), "not the password")).rejects.toThrow(WrongPasswordError);
    expect(await storage.raw(w.walletId)).toEqual(before);

    // A newer backup (the wallet was refreshed elsewhere) replaces it, in place.
    await pend(w.shares[2]!);
    const newer = await storage.importBackup(await backupOf(w.shares[3]!, "another password, for the newer one"), "another password, for the newer one");
    expect(newer).toMatchObject({ walletId: w.walletId, epoch: 3, name: "Named", createdAt: w.stored.createdAt });
    expect(same((await storage.unlock(w.walletId, "another password, for the newer one")).handle, w.shares[3]!)).toBe(true);
    expect(await storage.pendingShares(w.walletId)).toEqual([]); // epoch 2 is of no use now
    expect((await storage.importBackup(await backupOf(w.shares[2]!), PASSWORD).catch((e: unknown) => e)) instanceof OlderBackupError).toBe(true);
  });

  test("a share stored before epochs were recorded learns its epoch when opened, or from the import's password", async () => {
    const w = await wallet();
    const strip = async () => {
      const db = await rawDb();
      const v = structuredClone(await db.get("shares", w.walletId)) as Record<string, unknown>;
      delete v.epoch;
      await db.put("shares", reseal(v));
    };
    await strip();
    expect((await storage.info(w.walletId)).epoch).toBeUndefined();
    // An import over it with another password cannot tell the epochs apart: refused as before epochs.
    await expect(storage.importBackup(await backupOf(w.shares[1]!, "yet another password here"), "yet another password here")).rejects.toThrow(ShareExistsError);
    // With the same password the stored share is opened to learn its epoch: a newer backup replaces it.
    expect((await storage.importBackup(await backupOf(w.shares[1]!), PASSWORD)).epoch).toBe(1);

    // Opening writes the epoch back.
    await strip();
    await storage.unlock(w.walletId, PASSWORD);
    expect((await storage.info(w.walletId)).epoch).toBe(1);
    expect((await storage.raw(w.walletId)) as { epoch?: number }).toMatchObject({ epoch: 1 });
  });
});

/** v with its checksum computed again, as share-storage.ts computes it (see share-storage.test.ts). */
function reseal(v: Record<string, unknown>): Record<string, unknown> {
  const b = v.backup as Record<string, unknown>;
  const fields = [
    v.version, v.walletId, v.partyId, v.name, v.publicKey, v.address, v.threshold, v.parties, v.createdAt,
    [b.format, b.version, b.wallet_id, b.party_id, b.kdf, b.iterations, b.salt, b.cipher, b.nonce, b.ciphertext],
    ...(v.chainCode !== undefined ? [v.chainCode] : []),
    ...(v.epoch !== undefined ? [["epoch", v.epoch]] : []),
    ...(v.sessionId !== undefined ? [["sessionId", v.sessionId]] : []),
  ];
  return { ...v, checksum: hex(sha256(utf8(JSON.stringify(fields)))) };
}

describe("reshare runs (one acknowledged run per epoch)", () => {
  test("a run that never stored is abandoned when a later run of its epoch is joined, for good", async () => {
    const w = await wallet();
    expect(await storage.joinRun(w.walletId, 1, "rs-a")).toEqual([]);
    expect(await storage.joinRun(w.walletId, 1, "rs-a")).toEqual([]); // joined again: nothing changes
    expect(await storage.joinRun(w.walletId, 1, "rs-b")).toEqual(["rs-a"]);
    // rs-a's share is refused from now on, and rs-a is not joined again.
    await expect(pend(w.shares[1]!, "rs-a")).rejects.toMatchObject({ code: "run_abandoned" });
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    await expect(storage.joinRun(w.walletId, 1, "rs-a")).rejects.toMatchObject({ code: "run_abandoned" });
    // rs-b stores: marked stored in the same transaction, never said abandoned.
    await pend(w.shares[1]!, "rs-b");
    expect(await storage.joinRun(w.walletId, 1, "rs-c")).toEqual(["rs-a"]);
    // Durable: another open of the database reads the same runs.
    const again = await open();
    expect((await again.runs(w.walletId)).map((r) => [r.sessionId, r.state])).toEqual([
      ["rs-a", "abandoned"],
      ["rs-b", "stored"],
      ["rs-c", "joined"],
    ]);
    // Another wallet's runs are its own.
    const other = await wallet("other");
    expect(await storage.joinRun(other.walletId, 1, "rs-x")).toEqual([]);
    // Activating epoch 1 drops its other runs (the activated one stays, to
    // answer a freeze); removing the wallet drops the rest.
    await pend(w.shares[1]!, "rs-c");
    await storage.activatePending(w.walletId, 1);
    expect(await storage.runs(w.walletId)).toEqual([{ walletId: w.walletId, epoch: 1, sessionId: "rs-c", state: "activated" }]);
    await storage.joinRun(w.walletId, 2, "rs-d");
    await storage.remove(w.walletId);
    expect(await storage.runs(w.walletId)).toEqual([]);
    expect((await storage.runs(other.walletId)).map((r) => r.sessionId)).toEqual(["rs-x"]);
  });

  test("settling: a frozen or pinned run keeps its epoch's runs out and its share inactive; a drop deletes it with the record", async () => {
    const w = await wallet();
    await storage.joinRun(w.walletId, 1, "rs-s");
    await pend(w.shares[1]!, "rs-s");
    const run = (await storage.runs(w.walletId))[0]!;
    expect(run.state).toBe("stored");
    await storage.settleRunState(run, { state: "frozen" });
    const frozen = { ...run, state: "frozen" as const };
    // No run of the epoch is joined, and the share is not activated or stored again.
    await expect(storage.joinRun(w.walletId, 1, "rs-t")).rejects.toMatchObject({ code: "run_frozen" });
    await expect(storage.activatePending(w.walletId, 1)).rejects.toMatchObject({ code: "run_frozen" });
    await expect(pend(w.shares[1]!, "rs-s")).rejects.toMatchObject({ code: "run_frozen" });
    expect((await storage.info(w.walletId)).epoch).toBe(0);
    // Its share is kept: not discarded, nor replaced by another run's of the epoch.
    await expect(storage.discardPending(w.walletId)).rejects.toMatchObject({ code: "run_frozen" });
    await expect(storage.discardPending(w.walletId, 1)).rejects.toMatchObject({ code: "run_frozen" });
    await expect(pend(w.shares[1]!, "rs-other")).rejects.toMatchObject({ code: "run_frozen" });
    expect((await storage.pendingShares(w.walletId)).map((p) => p.sessionId)).toEqual(["rs-s"]);
    // A step taken on a stale read (another tab moved the run) writes nothing.
    await expect(storage.settleRunState(run, { state: "pinned", pinned: true })).rejects.toMatchObject({ code: "settle_refused" });
    // Pinned: still held; then thawed (stored, pinned for good): joined beside and activated again.
    await storage.settleRunState(frozen, { state: "pinned", pinned: true });
    await expect(storage.joinRun(w.walletId, 1, "rs-t")).rejects.toMatchObject({ code: "run_frozen" });
    await storage.settleRunState({ ...run, state: "pinned", pinned: true }, { state: "stored", pinned: true });
    expect(await storage.runs(w.walletId)).toEqual([{ walletId: w.walletId, epoch: 1, sessionId: "rs-s", state: "stored", pinned: true }]);
    // Thawed, it is pinned for good: its share is not discarded either.
    await expect(storage.discardPending(w.walletId, 1)).rejects.toMatchObject({ code: "run_frozen" });
    await storage.activatePending(w.walletId, 1);
    expect((await storage.info(w.walletId)).epoch).toBe(1);
    expect((await storage.runs(w.walletId)).map((r) => [r.sessionId, r.state])).toEqual([["rs-s", "activated"]]);

    // A drop: recorded abandoned and its share deleted in one transaction;
    // a later run of the epoch is joined, and its join says so.
    await storage.joinRun(w.walletId, 2, "rs-u");
    await pend(w.shares[2]!, "rs-u");
    const u = (await storage.runs(w.walletId)).find((r) => r.sessionId === "rs-u")!;
    await storage.settleRunState(u, { state: "frozen" });
    await storage.settleRunState({ ...u, state: "frozen" }, { state: "abandoned" }, { dropShare: true });
    expect(await storage.pendingShares(w.walletId)).toEqual([]);
    await expect(pend(w.shares[2]!, "rs-u")).rejects.toMatchObject({ code: "run_abandoned" });
    expect(await storage.joinRun(w.walletId, 2, "rs-v")).toEqual(["rs-u"]);
    // Importing a backup of epoch 2 drops the runs of that epoch with the pending shares.
    const imported = await storage.importBackup(await backupOf(w.shares[2]!), PASSWORD);
    expect(imported.epoch).toBe(2);
    expect(await storage.runs(w.walletId)).toEqual([]);
    // A database of this version is not opened by an SDK that knows nothing of frozen runs.
    const db = await rawDb();
    expect(db.version).toBe(5);
  });

  test("at most MAX_RUNS runs of one epoch", async () => {
    const w = await wallet();
    for (let i = 0; i < 64; i++) await storage.joinRun(w.walletId, 1, `rs-${i}`);
    await expect(storage.joinRun(w.walletId, 1, "rs-one-too-many")).rejects.toMatchObject({ code: "too_many_runs" });
    await expect(storage.joinRun(w.walletId, 1, "")).rejects.toThrow(TypeError);
    // A run of an epoch the stored share has (or an older one) is never recorded.
    await expect(storage.joinRun(w.walletId, 0, "rs-old")).rejects.toMatchObject({ code: "invalid_argument" });
    expect((await storage.runs(w.walletId)).some((r) => r.sessionId === "rs-old")).toBe(false);
  });
});
