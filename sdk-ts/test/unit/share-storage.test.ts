import { WeakPasswordError } from "../../src/password.js";
import "fake-indexeddb/auto"; // the IDB classes idb's wrappers test against

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { IDBFactory } from "fake-indexeddb";
import { type IDBPDatabase, wrap } from "idb";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";

import {
  BackupFormatError,
  CorruptRecordError,
  EmptyPasswordError,
  MIN_ITERATIONS,
  WrongPasswordError,
  inspectRecord,
  parseBackup,
  protect,
  unprotect,
} from "../../src/backup.js";
import {
  LocalShareCrypto,
  ShareChangedError,
  ShareExistsError,
  ShareNotFoundError,
  ShareStorage,
  type StoredWallet,
} from "../../src/share-storage.js";

// This workspace has no @types/node: node:fs is loaded untyped.
const { readFileSync } = (await import(/* @vite-ignore */ "node:fs" as string)) as {
  readFileSync(path: URL, encoding?: "utf8"): Uint8Array & string;
};
const testdata = new URL("../../../party/share/testdata/", import.meta.url);
const GOLDEN_RECORD = new Uint8Array(readFileSync(new URL("v1.json", testdata)));
const GOLDEN_BACKUP = readFileSync(new URL("backup_v1.json", testdata), "utf8");
/** A version 3 share record (Go's golden file): it carries the wallet's chain code, "c3" × 32. */
const V3_RECORD = new Uint8Array(readFileSync(new URL("v3.json", testdata)));
const V3_CHAIN_CODE = "c3".repeat(32);
const GOLDEN_PASSWORD = "correct horse battery staple";
const GOLDEN_WALLET = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const GOLDEN_ADDRESS = "0xe9592e530063bcffa8d989733f9e99de5c66d010";
const DB = "tsskit-test";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => bytesToHex(b);
const same = (a: Uint8Array, b: Uint8Array) => hex(a) === hex(b);

/** A share record as Go's share.Encode writes it, with a made-up save_data. */
function record(walletId: string = crypto.randomUUID()): Uint8Array {
  // Roster key order: by SHA-256 of the id.
  const parties = ["server-1", "server-2", "browser-1"].sort((a, b) => (hex(sha256(utf8(a))) < hex(sha256(utf8(b))) ? -1 : 1));
  const pub = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
  const secret = BigInt("0x" + hex(crypto.getRandomValues(new Uint8Array(64)))).toString();
  return utf8(
    `{"format":"tsskit.share","version":1,"wallet_id":"${walletId}","party_id":"browser-1","threshold":2,` +
      `"parties":${JSON.stringify(parties)},"public_key":"${pub}","save_data":{"Xi":${secret},"ShareID":${secret}7}}`,
  );
}

let factory: IDBFactory;
let storage: ShareStorage;
const opened: Array<{ close(): void }> = [];

async function open(opts: Parameters<typeof ShareStorage.open>[0] = {}): Promise<ShareStorage> {
  const s = (await ShareStorage.open({ indexedDB: factory, dbName: DB, ...opts })) as ShareStorage;
  opened.push(s);
  return s;
}

// ShareStorage stores backups, never plaintext: a share is encrypted
// first (in the browser the worker does it at keygen), and opened into a
// handle, here the record's bytes (LocalShareCrypto).
async function put(st: ShareStorage, share: Uint8Array, password: string, meta?: { name?: string }): Promise<StoredWallet> {
  const info = inspectRecord(share); // the record's own checks, before any key derivation
  if ((await st.list()).wallets.some((w) => w.walletId === info.walletId)) throw new ShareExistsError(info.walletId);
  return st.putBackup(await protect(share, password, { iterations: st.iterations }), info, meta);
}

async function get(st: ShareStorage, walletId: string, password: string): Promise<Uint8Array> {
  return (await st.unlock(walletId, password)).handle;
}

/** A second connection to the database, to read and damage records behind the storage's back. */
async function rawDb(): Promise<IDBPDatabase> {
  const db = (await wrap(factory.open(DB))) as unknown as IDBPDatabase;
  opened.push(db);
  return db;
}

async function rewrite(walletId: string, f: (v: Record<string, unknown>) => unknown): Promise<void> {
  const db = await rawDb();
  const v = (await db.get("shares", walletId)) as Record<string, unknown>;
  await db.put("shares", f(structuredClone(v)));
}

/**
 * v with its checksum computed again, as share-storage.ts computes it: the
 * checksum is no MAC, so whoever can write the database can do this, and
 * only the comparison with the decrypted record catches what was changed.
 */
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

function spyDerivations() {
  return vi.spyOn(crypto.subtle, "deriveKey");
}

beforeEach(async () => {
  factory = new IDBFactory();
  storage = await open();
});

afterEach(() => {
  for (const c of opened.splice(0)) c.close();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe("ShareStorage", () => {
  test("put, get, info, list and remove", async () => {
    const other = record();
    const otherId = inspectRecord(other).walletId;
    const [golden, second] = await Promise.all([
      put(storage, GOLDEN_RECORD, GOLDEN_PASSWORD, { name: "Golden" }),
      put(storage, other, "another password"),
    ]);
    expect(golden).toEqual<StoredWallet>({
      walletId: GOLDEN_WALLET,
      partyId: "server-2",
      name: "Golden",
      publicKey: "0310d55b4891a67b48f597ad1d0f0f0ef5205c1fce2e7d0f480009df0114b6f89b",
      address: GOLDEN_ADDRESS,
      threshold: 2,
      parties: ["server-2", "browser-0b8e5f3a-7c21-4d9e-a6f0-3e2d1c4b5a69", "server-1"],
      createdAt: golden.createdAt,
      epoch: 0,
    });
    expect(Math.abs(golden.createdAt - Date.now())).toBeLessThan(60_000);
    expect(second.name).toBe("");
    expect(second.walletId).toBe(otherId);

    const [a, b] = await Promise.all([get(storage, GOLDEN_WALLET, GOLDEN_PASSWORD), get(storage, otherId, "another password")]);
    expect(same(a, GOLDEN_RECORD)).toBe(true);
    expect(same(b, other)).toBe(true);

    expect(await storage.info(GOLDEN_WALLET)).toEqual(golden);
    const { wallets, corrupt } = await storage.list();
    expect(corrupt).toEqual([]);
    expect(wallets.map((w) => w.walletId).sort()).toEqual([GOLDEN_WALLET, otherId].sort());

    // The stored backup is the format, with the salt, iterations and nonce beside the ciphertext.
    const raw = (await storage.raw(GOLDEN_WALLET)) as { version: number; backup: Record<string, unknown> };
    expect(raw.version).toBe(1);
    expect(raw.backup).toMatchObject({ format: "tsskit.share.backup", version: 1, iterations: MIN_ITERATIONS });
    expect(parseBackup(JSON.stringify(raw.backup)).walletId).toBe(GOLDEN_WALLET);

    await storage.remove(GOLDEN_WALLET);
    expect((await storage.list()).wallets.map((w) => w.walletId)).toEqual([otherId]);
    await expect(get(storage, GOLDEN_WALLET, GOLDEN_PASSWORD)).rejects.toThrow(ShareNotFoundError);
    await expect(storage.info(GOLDEN_WALLET)).rejects.toThrow(ShareNotFoundError);
    await expect(storage.remove(GOLDEN_WALLET)).rejects.toThrow(ShareNotFoundError);
    expect(await storage.raw(GOLDEN_WALLET)).toBeUndefined();

    // Still there after reopening.
    storage.close();
    const again = await open();
    expect((await again.info(otherId)).walletId).toBe(otherId);
  });

  test("refuses to overwrite a stored wallet", async () => {
    const share = record();
    const id = inspectRecord(share).walletId;
    // Two puts racing for one wallet: exactly one wins.
    const results = await Promise.allSettled([put(storage, share, "one"), put(storage, share, "two")]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const loser = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(loser.reason).toBeInstanceOf(ShareExistsError);
    expect((loser.reason as ShareExistsError).walletId).toBe(id);
    const before = await storage.raw(id);

    // Once stored, refused before any key derivation.
    const derive = spyDerivations();
    await expect(put(storage, share, "three")).rejects.toThrow(ShareExistsError);
    await expect(put(storage, record(id), "four")).rejects.toThrow(ShareExistsError);
    expect(derive).not.toHaveBeenCalled();
    // A backup over a stored share is decrypted first: its epoch, inside,
    // decides (see pending-share.test.ts). This one does not decrypt.
    await expect(storage.importBackup(GOLDEN_BACKUP.replaceAll(GOLDEN_WALLET, id), "x")).rejects.toThrow(WrongPasswordError);
    await expect(storage.importBackup(await protect(share, "five", { iterations: storage.iterations }), "five")).rejects.toThrow(ShareExistsError);
    expect(await storage.raw(id)).toEqual(before);
  });

  test("a wrong password leaves the record as it was", async () => {
    await put(storage, GOLDEN_RECORD, GOLDEN_PASSWORD);
    const before = structuredClone(await storage.raw(GOLDEN_WALLET));
    const err = await get(storage, GOLDEN_WALLET, "Correct horse battery staple").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongPasswordError);
    expect((err as Error).message).not.toContain("orse");
    await expect(get(storage, GOLDEN_WALLET, "")).rejects.toThrow(EmptyPasswordError);
    expect(await storage.raw(GOLDEN_WALLET)).toEqual(before);
  });

  test("a corrupt record is reported and does not hide the others", async () => {
    const shares = [record(), record(), record()];
    const [a, b, c] = shares.map((s) => inspectRecord(s).walletId) as [string, string, string];
    await Promise.all(shares.map((s) => put(storage, s, "pw")));

    // Damage a's ciphertext: still canonical base64 of the right length, so
    // only the checksum tells it from a wrong password.
    await rewrite(a, (v) => {
      const backup = v.backup as { ciphertext: string };
      backup.ciphertext = (backup.ciphertext[0] === "A" ? "B" : "A") + backup.ciphertext.slice(1);
      return v;
    });
    // b loses a field.
    await rewrite(b, (v) => {
      delete v.parties;
      return v;
    });

    const derive = spyDerivations();
    const err = await get(storage, a, "pw").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptRecordError);
    expect((err as CorruptRecordError).walletId).toBe(a);
    expect((err as Error).message).toMatch(/damaged: checksum mismatch/);
    await expect(storage.info(a)).rejects.toThrow(CorruptRecordError);
    await expect(get(storage, b, "pw")).rejects.toThrow(/parties: want an array of strings/);
    await expect(storage.exportBackup(a, "pw")).rejects.toThrow(CorruptRecordError);
    expect(derive).not.toHaveBeenCalled();

    const { wallets, corrupt } = await storage.list();
    expect(wallets.map((w) => w.walletId)).toEqual([c]);
    expect(corrupt.sort()).toEqual([a, b].sort());
    expect(same(await get(storage, c, "pw"), shares[2]!)).toBe(true);

    // A corrupt record can still be removed.
    await storage.remove(a);
    expect((await storage.list()).corrupt).toEqual([b]);
  });

  test("a record whose clear-text fields do not match its ciphertext is corrupt", async () => {
    const share = record();
    const id = inspectRecord(share).walletId;
    await put(storage, share, "pw");
    // The ciphertext of another share of the same wallet (another public
    // key), in a version 0 record: it has no checksum, so only the
    // comparison after decrypting catches it.
    const text = await protect(record(id), "pw");
    await rewrite(id, (v) => {
      delete v.address;
      delete v.checksum;
      return { ...v, version: 0, backup: JSON.parse(text) };
    });
    const err = await get(storage, id, "pw").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptRecordError);
    expect((err as Error).message).toMatch(/clear-text fields do not match the encrypted record/);
    expect(((await storage.raw(id)) as { version: number }).version).toBe(0); // not upgraded
  });

  test("a clear-text chain code that is not the encrypted record's is corrupt", async () => {
    const v3 = await put(storage, V3_RECORD, "pw");
    expect(v3.chainCode).toBe(V3_CHAIN_CODE);
    const v1 = await put(storage, record(), "pw");
    expect(v1.chainCode).toBeUndefined();
    const original = structuredClone((await storage.raw(GOLDEN_WALLET)) as Record<string, unknown>);
    expect(reseal(original)).toEqual(original); // the test's checksum is the storage's

    // Each change moves every derived address (hd.ts walletChainCode reads the clear-text one).
    const tampered: [string, string, (v: Record<string, unknown>) => Record<string, unknown>][] = [
      [GOLDEN_WALLET, "another chain code", (v) => ({ ...v, chainCode: "ab".repeat(32) })],
      [GOLDEN_WALLET, "none: the legacy one would be used", ({ chainCode: _, ...v }) => v],
      [v1.walletId, "one on a record of version 1, which has none", (v) => ({ ...v, chainCode: V3_CHAIN_CODE })],
    ];
    for (const [id, what, change] of tampered) {
      const before = structuredClone(await storage.raw(id));
      await rewrite(id, (v) => reseal(change(v)));
      const raw = structuredClone(await storage.raw(id));
      // Readable without the password (the checksum holds)...
      expect((await storage.info(id)).chainCode, what).toBe(change(before as Record<string, unknown>).chainCode);
      // ...but refused as soon as the record is decrypted, and left as it is.
      const err = await get(storage, id, "pw").catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(CorruptRecordError);
      expect((err as CorruptRecordError).walletId).toBe(id);
      expect((err as Error).message).toMatch(/clear-text fields do not match the encrypted record/);
      await expect(storage.exportBackup(id, "pw"), what).rejects.toThrow(CorruptRecordError);
      await expect(storage.changePassword(id, "pw", "a new password, violet orbit"), what).rejects.toThrow(CorruptRecordError);
      expect(await storage.raw(id)).toEqual(raw);
      // Put back, it opens: the chain code was all that differed.
      await rewrite(id, () => before);
      await expect(get(storage, id, "pw")).resolves.toBeInstanceOf(Uint8Array);
    }
  });

  test("the chain code is compared in lowercase", async () => {
    // A ShareCrypto that reports the chain code in capitals: the same chain code.
    class Shouting extends LocalShareCrypto {
      override async open(backup: string, password: string) {
        const opened = await super.open(backup, password);
        return { ...opened, info: { ...opened.info, chainCode: opened.info.chainCode.toUpperCase() } };
      }
      override async rewrap(backup: string, oldPassword: string, newPassword: string, iterations: number) {
        const out = await super.rewrap(backup, oldPassword, newPassword, iterations);
        return { ...out, info: { ...out.info, chainCode: out.info.chainCode.toUpperCase() } };
      }
    }
    const st = await open({ dbName: "shouting", crypto: new Shouting() });
    await put(st, V3_RECORD, "pw");
    expect((await st.unlock(GOLDEN_WALLET, "pw")).wallet.chainCode).toBe(V3_CHAIN_CODE);
    await st.changePassword(GOLDEN_WALLET, "pw", "a new password, violet orbit");
    expect(((await st.raw(GOLDEN_WALLET)) as { chainCode: string }).chainCode).toBe(V3_CHAIN_CODE); // stored as readRecord wants it
    expect((await st.unlock(GOLDEN_WALLET, "a new password, violet orbit")).wallet.chainCode).toBe(V3_CHAIN_CODE);
  });

  test("change password keeps the encrypted record's chain code", async () => {
    const stored = await put(storage, V3_RECORD, "old password");
    await storage.changePassword(GOLDEN_WALLET, "old password", "a new password, violet orbit");
    expect(((await storage.raw(GOLDEN_WALLET)) as { chainCode?: string }).chainCode).toBe(V3_CHAIN_CODE);
    expect(await storage.info(GOLDEN_WALLET)).toEqual(stored);
    const { handle, wallet } = await storage.unlock(GOLDEN_WALLET, "a new password, violet orbit");
    expect(wallet.chainCode).toBe(V3_CHAIN_CODE);
    expect(same(handle, V3_RECORD)).toBe(true);
    // A record of version 1 gets none.
    const v1 = await put(storage, record(), "old password");
    await storage.changePassword(v1.walletId, "old password", "a new password, violet orbit");
    expect((await storage.raw(v1.walletId)) as object).not.toHaveProperty("chainCode");
  });

  test("change password", async () => {
    const share = record();
    const id = inspectRecord(share).walletId;
    const stored = await put(storage, share, "old password", { name: "mine" });
    const before = structuredClone((await storage.raw(id)) as { backup: Record<string, unknown> });

    await expect(storage.changePassword(id, "wrong", "a new password, violet orbit")).rejects.toThrow(WrongPasswordError);
    expect(await storage.raw(id)).toEqual(before);
    await expect(storage.changePassword(id, "old password", "")).rejects.toThrow(EmptyPasswordError);
    await expect(storage.changePassword("nope", "old password", "a new password, violet orbit")).rejects.toThrow(ShareNotFoundError);

    // The new password must meet the rule; the old one is not checked again.
    await expect(storage.changePassword(id, "old password", "new password")).rejects.toThrow(WeakPasswordError);
    expect(await storage.raw(id)).toEqual(before);
    await storage.changePassword(id, "old password", "a new password, violet orbit");
    const after = (await storage.raw(id)) as { backup: Record<string, unknown> };
    expect(after.backup.salt).not.toBe(before.backup.salt);
    expect(after.backup.nonce).not.toBe(before.backup.nonce);
    expect(after.backup.ciphertext).not.toBe(before.backup.ciphertext);
    expect(await storage.info(id)).toEqual(stored); // name and createdAt kept

    const [withOld, withNew] = await Promise.allSettled([get(storage, id, "old password"), get(storage, id, "a new password, violet orbit")]);
    expect((withOld as PromiseRejectedResult).reason).toBeInstanceOf(WrongPasswordError);
    expect(same((withNew as PromiseFulfilledResult<Uint8Array>).value, share)).toBe(true);
  });

  test("change password does not write over a record changed meanwhile", async () => {
    const share = record();
    const id = inspectRecord(share).walletId;
    await put(storage, share, "pw");
    // Another tab changes the record while the old password is being checked.
    const deriveKey = crypto.subtle.deriveKey.bind(crypto.subtle);
    vi.spyOn(crypto.subtle, "deriveKey").mockImplementationOnce(async (...args: Parameters<SubtleCrypto["deriveKey"]>) => {
      await rewrite(id, (v) => ({ ...v, name: "renamed elsewhere" }));
      return deriveKey(...args);
    });
    await expect(storage.changePassword(id, "pw", "a new password, violet orbit")).rejects.toThrow(ShareChangedError);
    expect(((await storage.raw(id)) as { name: string }).name).toBe("renamed elsewhere"); // not overwritten

    // Removed meanwhile: not written back either.
    vi.spyOn(crypto.subtle, "deriveKey").mockImplementationOnce(async (...args: Parameters<SubtleCrypto["deriveKey"]>) => {
      await storage.remove(id);
      return deriveKey(...args);
    });
    await rewrite(id, (v) => ({ ...v, name: "" })); // its name again, so its checksum holds
    await expect(storage.changePassword(id, "pw", "a new password, violet orbit")).rejects.toThrow(ShareNotFoundError);
    expect(await storage.raw(id)).toBeUndefined();
  });

  test("export, remove, import, get", async () => {
    const share = record();
    const id = inspectRecord(share).walletId;
    const stored = await put(storage, share, "pw", { name: "w" });

    const derive = spyDerivations();
    await expect(storage.exportBackup(id, "wrong")).rejects.toThrow(WrongPasswordError);
    const text = await storage.exportBackup(id, "pw");
    expect(derive).toHaveBeenCalledTimes(2); // the password is checked before anything is returned
    expect(text.endsWith("}\n")).toBe(true);
    const h = parseBackup(text);
    expect(h.walletId).toBe(id);
    expect(h.iterations).toBe(MIN_ITERATIONS);

    await storage.remove(id);
    await expect(storage.importBackup(text, "wrong")).rejects.toThrow(WrongPasswordError);
    expect(await storage.raw(id)).toBeUndefined();
    const imported = await storage.importBackup(text, "pw", { name: "restored" });
    expect({ ...imported, createdAt: 0 }).toEqual({ ...stored, name: "restored", createdAt: 0 });
    const [plain, textAgain] = await Promise.all([get(storage, id, "pw"), storage.exportBackup(id, "pw")]);
    expect(same(plain, share)).toBe(true);
    expect(textAgain).toBe(text); // stored as it came
    await expect(storage.importBackup("not a backup", "pw")).rejects.toThrow(BackupFormatError);
  });

  test("imports the Go golden backup", async () => {
    const w = await storage.importBackup(GOLDEN_BACKUP, GOLDEN_PASSWORD);
    expect(w.address).toBe(GOLDEN_ADDRESS);
    expect(w.partyId).toBe("server-2");
    const [plain, exported] = await Promise.all([
      get(storage, GOLDEN_WALLET, GOLDEN_PASSWORD),
      storage.exportBackup(GOLDEN_WALLET, GOLDEN_PASSWORD),
    ]);
    expect(same(plain, GOLDEN_RECORD)).toBe(true);
    expect(exported).toBe(GOLDEN_BACKUP);
  });

  test("the stored value holds no plaintext", async () => {
    const password = "a distinctive password 4711";
    await put(storage, GOLDEN_RECORD, password);
    const raw = JSON.stringify(await storage.raw(GOLDEN_WALLET));
    const plain = new TextDecoder().decode(GOLDEN_RECORD);
    // (Quoted keys: a short bare name could turn up in random base64.)
    for (const s of ["save_data", '"PaillierSK"', '"LambdaN"', '"Xi"', '"ShareID"', password]) expect(raw).not.toContain(s);
    const numbers = plain.match(/\d{20,}/g) ?? [];
    expect(numbers.length).toBeGreaterThan(10);
    for (const n of numbers) expect(raw).not.toContain(n.slice(0, 20));
  });

  test("migrates a version 0 record when read", async () => {
    const share = record();
    const id = inspectRecord(share).walletId;
    const stored = await put(storage, share, "pw", { name: "old" });
    // Version 0: no address, no checksum (and no epoch).
    await rewrite(id, (v) => {
      delete v.address;
      delete v.checksum;
      delete v.epoch;
      v.version = 0;
      return v;
    });
    const v0 = structuredClone(await storage.raw(id));
    const { epoch: _, ...noEpoch } = stored;

    expect(await storage.info(id)).toEqual(noEpoch); // upgraded in memory; the epoch is learnt when it is opened
    expect((await storage.list()).wallets).toEqual([noEpoch]);
    expect(await storage.raw(id)).toEqual(v0); // not written without the password

    await expect(get(storage, id, "wrong")).rejects.toThrow(WrongPasswordError);
    expect(await storage.raw(id)).toEqual(v0);

    expect(same(await get(storage, id, "pw"), share)).toBe(true);
    const v1 = (await storage.raw(id)) as Record<string, unknown>;
    expect(v1.version).toBe(1);
    expect(v1.address).toBe(stored.address);
    expect(typeof v1.checksum).toBe("string");
    expect(await storage.info(id)).toEqual(stored);
  });

  test("records that cannot be read: newer version, failed migration, garbage", async () => {
    const shares = [record(), record(), record(), record()];
    const [newer, badV0, garbage, good] = shares.map((s) => inspectRecord(s).walletId) as [string, string, string, string];
    await Promise.all(shares.map((s) => put(storage, s, "pw")));
    await rewrite(newer, (v) => ({ ...v, version: 2 }));
    await rewrite(badV0, (v) => ({ ...v, version: 0, publicKey: "04" + "00".repeat(32) }));
    await rewrite(garbage, () => ({ walletId: garbage, hello: "world" }));

    const err = await get(storage, newer, "pw").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptRecordError);
    expect((err as Error).message).toMatch(/record version 2, written by a newer SDK/);
    await expect(storage.info(badV0)).rejects.toThrow(/cannot upgrade it from record version 0/);
    await expect(storage.info(garbage)).rejects.toThrow(/no record version/);
    const { wallets, corrupt } = await storage.list();
    expect(wallets.map((w) => w.walletId)).toEqual([good]);
    expect(corrupt.sort()).toEqual([newer, badV0, garbage].sort());
    // A newer record is left as it is.
    expect(((await storage.raw(newer)) as { version: number }).version).toBe(2);
  });

  test("options: iterations, persistence", async () => {
    await expect(open({ iterations: MIN_ITERATIONS - 1 })).rejects.toThrow(RangeError);
    expect(storage.persisted).toBeUndefined(); // no navigator.storage in Node

    const persist = vi.fn(async () => true);
    vi.stubGlobal("navigator", { storage: { persist } });
    expect((await open({ dbName: "p1" })).persisted).toBe(true);
    expect((await open({ dbName: "p2", persist: false })).persisted).toBeUndefined();
    expect(persist).toHaveBeenCalledTimes(1);

    const slow = await open({ dbName: "slow", iterations: 600_001 });
    const share = record();
    const { walletId } = await put(slow, share, "pw");
    const raw = (await slow.raw(walletId)) as { backup: object };
    expect(parseBackup(JSON.stringify(raw.backup)).iterations).toBe(600_001);
    expect(same(await unprotect(JSON.stringify(raw.backup), "pw"), share)).toBe(true);
  });
});
