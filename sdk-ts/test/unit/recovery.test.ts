// Lost-device recovery, the page's side: the sealed device key (its
// format, password and binding to its request), recovery requests and a
// recovered share in IndexedDB (pending, then made the wallet's with the
// request answered in the same transaction, with or without a stale share
// there before), the recovery seat's steps against a fake coordinator,
// router and worker, and the typed errors of a refusal.
import "fake-indexeddb/auto";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { IDBFactory } from "fake-indexeddb";
import { type IDBPDatabase, wrap } from "idb";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

import { WrongPasswordError, inspectRecord, protect } from "../../src/backup.js";
import { RecoveryError, TsskitError } from "../../src/errors.js";
import { ReshareSpecSchema, SessionKind } from "../../src/gen/tsskit/v1/common_pb.js";
import { SessionEventSchema, type SessionEvent } from "../../src/gen/tsskit/v1/coordinator_pb.js";
import { openSealedDevice, parseSealedDevice, sealDevice } from "../../src/recovery.js";
import { recoverySeat, type Clients } from "../../src/session.js";
import { ShareNotFoundError, ShareStorage, type StoredRecoveryRequest } from "../../src/share-storage.js";
import { recoveryRefusal } from "../../src/tss-client.js";
import type { ReshareResult, ReshareSpecInput, TssWorker } from "../../src/worker-client.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => bytesToHex(b);
const PASSWORD = "a new device, a violet lantern";
const DB = "tsskit-recovery-test";

describe("sealed device key", () => {
  const info = { walletId: "w-1", partyId: "browser-new", epoch: 3, identity: "ab".repeat(32) };
  test("opens with its password to the same seed, and with nothing else", async () => {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const sealed = await sealDevice(seed, PASSWORD, info);
    // No secret in clear: the seed is not in the text.
    expect(sealed).not.toContain(hex(seed));
    expect(parseSealedDevice(sealed)).toMatchObject(info);
    const opened = await openSealedDevice(sealed, PASSWORD);
    expect(hex(opened.seed)).toBe(hex(seed));
    expect(opened.info).toEqual(info);
    await expect(openSealedDevice(sealed, "not the password")).rejects.toBeInstanceOf(WrongPasswordError);
    // The clear-text fields are bound to the ciphertext: moved to another party or epoch, it does not open.
    const o = JSON.parse(sealed);
    for (const [k, v] of [["party_id", "browser-other"], ["epoch", 4], ["identity", "cd".repeat(32)], ["wallet_id", "w-2"]] as const) {
      await expect(openSealedDevice(JSON.stringify({ ...o, [k]: v }), PASSWORD)).rejects.toBeInstanceOf(WrongPasswordError);
    }
  });

  test("refuses damaged texts as corrupt records, and bad arguments", async () => {
    const sealed = JSON.parse(await sealDevice(new Uint8Array(32).fill(1), PASSWORD, info));
    for (const bad of ["", "[]", "{", JSON.stringify({ ...sealed, format: "x" }), JSON.stringify({ ...sealed, iterations: 1000 }),
      JSON.stringify({ ...sealed, nonce: "AAAA" }), JSON.stringify({ ...sealed, identity: "AB".repeat(32) }), JSON.stringify({ ...sealed, epoch: -1 })]) {
      expect(() => parseSealedDevice(bad)).toThrow(expect.objectContaining({ name: "CorruptRecordError" }));
    }
    await expect(sealDevice(new Uint8Array(31), PASSWORD, info)).rejects.toBeInstanceOf(RangeError);
    await expect(sealDevice(new Uint8Array(32), PASSWORD, { ...info, partyId: "a|b" })).rejects.toBeInstanceOf(TypeError);
  });
});

/** A version 2 share record of epoch for party, as Go's share.Encode writes it, with a made-up save_data. */
function record(walletId: string, publicKey: string, epoch: number, party: string): Uint8Array {
  const keyAt = (id: string) => {
    if (epoch === 0) return hex(sha256(utf8(id)));
    const b = utf8(id);
    const m = new Uint8Array(b.length + 5);
    m.set(b);
    new DataView(m.buffer).setUint32(b.length + 1, epoch);
    return hex(sha256(m));
  };
  const parties = [party, "server-1", "server-2"].sort((a, b) => (keyAt(a) < keyAt(b) ? -1 : 1));
  const secret = BigInt("0x" + hex(crypto.getRandomValues(new Uint8Array(64)))).toString();
  const holders = parties.map((p) => ({ party_id: p, kind: p.startsWith("browser") ? "client" : "server", identity_key: hex(crypto.getRandomValues(new Uint8Array(32))) }));
  return utf8(
    `{"format":"tsskit.share","version":2,"wallet_id":"${walletId}","party_id":"${party}","threshold":2,` +
      `"parties":${JSON.stringify(parties)},"public_key":"${publicKey}","epoch":${epoch},"holders":${JSON.stringify(holders)},` +
      `"policy":{"client_required":true},"identity":"${hex(crypto.getRandomValues(new Uint8Array(32)))}",` +
      `"save_data":{"Xi":${secret},"ShareID":${secret}7}}`,
  );
}

describe("recovery in the share storage", () => {
  let factory: IDBFactory;
  let storage: ShareStorage;
  const opened: Array<{ close(): void }> = [];
  beforeEach(async () => {
    factory = new IDBFactory();
    storage = (await ShareStorage.open({ indexedDB: factory, dbName: DB })) as ShareStorage;
    opened.push(storage);
  });
  afterEach(() => {
    for (const c of opened.splice(0)) c.close();
  });
  const request = (walletId: string): StoredRecoveryRequest => ({
    walletId, epoch: 1, partyId: "browser-new", identity: "ab".repeat(32), recovery: { kit: true, backend: true }, createdAt: 1000, device: '{"sealed":1}',
  });

  test("a request is kept, listed without its device key, checked when read, and removed", async () => {
    await storage.putRecoveryRequest(request("w-1"));
    await storage.putRecoveryRequest({ ...request("w-2"), createdAt: 500 });
    expect(await storage.recoveryRequest("w-1")).toEqual(request("w-1"));
    expect(await storage.recoveryRequest("w-3")).toBeNull();
    const listed = await storage.recoveryRequests();
    expect(listed.map((r) => r.walletId)).toEqual(["w-2", "w-1"]);
    expect(listed[0]).not.toHaveProperty("device");
    // Damaged behind the storage's back: refused, and not listed.
    const db = (await wrap(factory.open(DB))) as unknown as IDBPDatabase;
    opened.push(db);
    await db.put("recovery", { ...(await db.get("recovery", "w-2")), partyId: "browser-evil" });
    await expect(storage.recoveryRequest("w-2")).rejects.toMatchObject({ name: "CorruptRecordError" });
    expect((await storage.recoveryRequests()).map((r) => r.walletId)).toEqual(["w-1"]);
    await storage.removeRecoveryRequest("w-1");
    expect(await storage.recoveryRequest("w-1")).toBeNull();
    await expect(storage.putRecoveryRequest({ ...request("w-4"), identity: "xyz" })).rejects.toBeInstanceOf(TypeError);
  });

  test("a recovered share is pending first, then the wallet's, with its request answered in the same transaction", async () => {
    const walletId = crypto.randomUUID();
    const publicKey = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const share = record(walletId, publicKey, 2, "browser-new");
    const backup = await protect(share, PASSWORD, { iterations: storage.iterations });
    await storage.putRecoveryRequest(request(walletId));
    // Without `recovery`, a pending share needs a current one.
    await expect(storage.putPending(backup, inspectRecord(share), { sessionId: "s1" })).rejects.toBeInstanceOf(ShareNotFoundError);
    const p = await storage.putPending(backup, inspectRecord(share), { sessionId: "s1", recovery: { name: "Savings" } });
    expect(p).toMatchObject({ walletId, epoch: 2, sessionId: "s1", name: "Savings" });
    // Nothing reads it as the wallet's yet.
    expect((await storage.list()).wallets).toEqual([]);
    await expect(storage.activatePending(walletId, 2)).rejects.toBeInstanceOf(ShareNotFoundError);
    const w = await storage.activatePending(walletId, 2, { recovery: true });
    expect(w).toMatchObject({ walletId, partyId: "browser-new", epoch: 2, name: "Savings", publicKey });
    expect(await storage.pendingShares(walletId)).toEqual([]);
    expect(await storage.recoveryRequest(walletId)).toBeNull();
    const { handle } = await storage.unlock(walletId, PASSWORD);
    expect(hex(handle as Uint8Array)).toBe(hex(share));
  });

  test("a recovered share replaces a stale share of the wallet, and keeps its name", async () => {
    const walletId = crypto.randomUUID();
    const publicKey = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const old = record(walletId, publicKey, 0, "browser-old");
    await storage.putBackup(await protect(old, PASSWORD, { iterations: storage.iterations }), inspectRecord(old), { name: "Old" });
    const share = record(walletId, publicKey, 3, "browser-new");
    await storage.putPending(await protect(share, PASSWORD, { iterations: storage.iterations }), inspectRecord(share), { sessionId: "s1", recovery: {} });
    const w = await storage.activatePending(walletId, 3, { recovery: true });
    expect(w).toMatchObject({ partyId: "browser-new", epoch: 3, name: "Old" });
    // Another key's share is never put pending over a wallet's.
    const other = record(walletId, hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)), 4, "browser-x");
    await expect(
      storage.putPending(await protect(other, PASSWORD, { iterations: storage.iterations }), inspectRecord(other), { sessionId: "s2", recovery: {} }),
    ).rejects.toMatchObject({ name: "BackupFormatError" });
  });
});

describe("recoverySeat", () => {
  const parties = ["browser-new", "server-1", "server-2"];
  const spec: ReshareSpecInput = {
    epoch: 2, oldThreshold: 2, oldParties: ["server-1", "server-2"], newParties: parties,
    publicKey: new Uint8Array(33).fill(2), chainCode: new Uint8Array(32).fill(7), clientRequired: true, recoveryKit: new Uint8Array(32).fill(5), recoveryBackend: true,
  };
  function session(verdict?: SessionEvent["event"]) {
    const log: string[] = [];
    const prepared: unknown[] = [];
    let reported!: () => void;
    const gotReport = new Promise<void>((r) => (reported = r));
    const ev = (seq: number, event: SessionEvent["event"]) => create(SessionEventSchema, { sessionId: "s1", seq: BigInt(seq), event });
    const clients = {
      coordinator: {
        async *watchSession() {
          yield ev(1, {
            case: "ready",
            value: {
              kind: SessionKind.RESHARE, walletId: "w1", signersNeeded: 2, reshare: create(ReshareSpecSchema, spec),
              roster: parties.map((partyId) => ({ partyId, statement: new Uint8Array(1), statementSignature: new Uint8Array(1) })),
            } as never,
          });
          await gotReport;
          yield ev(2, verdict ?? { case: "completed", value: { walletId: "w1", epoch: 2, storedAcks: Object.fromEntries(parties.map((p) => [p, new Uint8Array([1])])) } as never });
        },
        join: async () => (log.push("join"), {}),
        reportResult: async (r: { result: { case: string } }) => {
          log.push("report:" + r.result.case);
          reported();
          return {};
        },
        reportProgress: async () => ({}),
      },
      router: {
        async *subscribe(_: unknown, o: { signal: AbortSignal }) {
          await new Promise((r) => o.signal.addEventListener("abort", r, { once: true }));
        },
        publish: async () => ({}),
      },
    } as unknown as Clients;
    const result: ReshareResult = { backup: "{}", info: {} as never, publicKey: spec.publicKey, address: "0x00", epoch: 2, storedAck: new Uint8Array([9]), handle: "h-new" };
    const worker = {
      prepareRecovery: async (p: unknown) => {
        prepared.push(p);
        log.push("prepare");
        return { keysId: "k", identityKey: "", join: { x25519: new Uint8Array(32), ed25519: new Uint8Array(32), statement: new Uint8Array(1), signature: new Uint8Array(1) } };
      },
      prepareReshare: async () => {
        throw new Error("a recovery has no share to reshare with");
      },
      reshare: () => (log.push("engine"), { result: Promise.resolve(result), deliver() {}, cancel() {} }),
      releaseSessionKeys: async () => {},
    } as unknown as TssWorker;
    const seat = { sessionId: "s1", partyId: "browser-new", token: "t", trust: { roots: [] }, parties, walletId: "w1" };
    const authorization = new Uint8Array([1, 2, 3]);
    const run = () =>
      recoverySeat(clients, worker, seat, { deviceId: "d1", authorization }, { reshare: spec, signersNeeded: 2 }, { handle: "pp" }, { password: "pw" }, async (r) => {
        log.push("save:" + r.epoch);
      });
    return { run, log, prepared, authorization };
  }

  test("checks the offer against the authorization and device in the worker, stores before reporting, returns the Completed event", async () => {
    const s = session();
    const out = await s.run();
    expect(s.log).toEqual(["prepare", "join", "engine", "save:2", "report:reshared"]);
    expect(s.prepared[0]).toMatchObject({ sessionId: "s1", parties, reshare: spec, signersNeeded: 2, deviceId: "d1", authorization: s.authorization });
    expect(out.completed.epoch).toBe(2);
  });

  test("a session the server holders refused fails with a RecoveryError", async () => {
    const s = session({ case: "failed", value: { code: "recovery_refused", reason: "the approval is not signed by a recovery key this party is configured with", culprits: ["browser-new"] } as never });
    const err = await s.run().catch((e) => e);
    expect(err).toBeInstanceOf(RecoveryError);
    expect(err).toMatchObject({ code: "recovery_refused", culprits: ["browser-new"] });
  });
});

describe("recovery errors", () => {
  test("recovery_* codes from the worker or a session become RecoveryError", () => {
    for (const code of ["recovery_forged", "recovery_expired", "recovery_other_device", "recovery_code", "recovery_wrong_code"]) {
      const e = TsskitError.from({ code, message: "m" });
      expect(e).toBeInstanceOf(RecoveryError);
      expect(e.name).toBe("RecoveryError");
      expect(e.code).toBe(code);
    }
    expect(TsskitError.from({ code: "recovery", message: "m" })).not.toBeInstanceOf(RecoveryError);
  });

  test("the coordinator's refusals of CreateRecoverySession are typed", () => {
    const cases: Array<[ConnectError, string]> = [
      [new ConnectError("authorization: recovery: recovery_forged: the authorization is not signed by its signer ab12", Code.PermissionDenied), "recovery_forged"],
      [new ConnectError("authorization: recovery: recovery_expired: the authorization expired at 2026-01-01T00:00:00Z", Code.FailedPrecondition), "recovery_expired"],
      [new ConnectError("authorization: recovery: recovery_stale: the authorization recovers from epoch 1; the shares are of epoch 2", Code.FailedPrecondition), "recovery_stale"],
      [new ConnectError("the wallet's policy does not accept a backend authorization from this key", Code.PermissionDenied), "recovery_refused"],
      [new ConnectError("the wallet's policy allows no recovery", Code.FailedPrecondition), "recovery_refused"],
      [new ConnectError("authorization: recovery: recovery_malformed: truncated", Code.InvalidArgument), "invalid_argument"],
      [new ConnectError("wallet not found", Code.NotFound), "not_found"],
    ];
    for (const [e, code] of cases) {
      const got = recoveryRefusal(e);
      expect(got.code).toBe(code);
      expect(got instanceof RecoveryError).toBe(code.startsWith("recovery_"));
    }
  });
});
