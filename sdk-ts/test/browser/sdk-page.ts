// The SDK's browser test page: TssClient as an app uses it. The Node side
// (sdk.test.mjs) drives it step by step, reloading the page in between so
// nothing survives but IndexedDB.
import { secp256k1 } from "@noble/curves/secp256k1.js";

import { TssClient, type ClientProgress, type TssClientConfig } from "../../src/index.js";

const unhex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));

let client: TssClient | null = null;
const progress: ClientProgress[] = [];

async function open(cfg: TssClientConfig) {
  const t0 = performance.now();
  client = await TssClient.create({ ...cfg, onLoadProgress: (p) => progress.push(p) });
  return { loadMs: performance.now() - t0, persisted: client.storage.persisted ?? null, version: client.version };
}

async function createWallet(name: string, password: string) {
  const t0 = performance.now();
  const mine: ClientProgress[] = [];
  const w = await client!.createWallet({ name, password, onProgress: (p) => (progress.push(p), mine.push(p)) });
  // Safe primes found on the way (cold pre-parameters) move the bar inside
  // the preparams phase; a pooled set jumps over it.
  const primesFound = mine.filter((p) => p.phase === "preparams" && p.fraction > 0.05 && p.fraction < 0.45).length;
  return { ...w, ms: performance.now() - t0, primesFound };
}

async function sign(walletId: string, password: string, digestHex: string) {
  const digest = unhex(digestHex);
  const t0 = performance.now();
  const sig = await client!.sign({ walletId, password, message: digest, onProgress: (p) => progress.push(p) });
  const ms = performance.now() - t0;
  const info = await client!.storage.info(walletId);
  // Checked here too, with @noble/curves, against the stored public key.
  const ok = secp256k1.verify(unhex(sig.signature), digest, unhex(info.publicKey), { prehash: false, lowS: true, format: "compact" });
  return { ...sig, ms, verifiedInPage: ok };
}

async function tryError(f: () => Promise<unknown>) {
  try {
    await f();
    return null;
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string; resource?: string; expected?: string; actual?: string };
    return { name: err.name, code: err.code, message: err.message, resource: err.resource, expected: err.expected, actual: err.actual };
  }
}

/** The stored IndexedDB value, read without the SDK. */
function rawRecord(walletId: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("tsskit");
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const get = db.transaction("shares").objectStore("shares").get(walletId);
      get.onsuccess = () => {
        db.close();
        resolve(get.result);
      };
      get.onerror = () => reject(get.error);
    };
  });
}

function clearStorage(): Promise<void> {
  client?.close();
  client = null;
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase("tsskit");
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve();
  });
}

/**
 * The test's own look at the pre-params pool: each stored set decrypted
 * with the pool's CryptoKey, which any script of this origin may use (not
 * read). The SDK's page code never does this; the message test does, to
 * know the primes of the sets it should never see in a message.
 */
function poolPlaintexts(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("tsskit-preparams");
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction(["entries", "keys"]);
      const entries = tx.objectStore("entries").getAll();
      const key = tx.objectStore("keys").get("pool-key");
      tx.oncomplete = async () => {
        db.close();
        try {
          const out: string[] = [];
          for (const e of entries.result as Array<{ id: string; nonce: Uint8Array<ArrayBuffer>; ciphertext: Uint8Array<ArrayBuffer> }>) {
            const aad = new TextEncoder().encode("tsskit.preparams|" + e.id);
            const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: e.nonce, additionalData: aad }, key.result.key, e.ciphertext);
            out.push(new TextDecoder().decode(plain));
          }
          resolve(out);
        } catch (err) {
          reject(err);
        }
      };
    };
  });
}

Object.assign(window, {
  sdk: {
    open, createWallet, sign, rawRecord, clearStorage, poolPlaintexts,
    openError: (cfg: TssClientConfig) => tryError(() => TssClient.create(cfg).then((c) => c.close())),
    close: () => {
      client?.close();
      client = null;
    },
    changePassword: (walletId: string, oldPassword: string, newPassword: string) => client!.storage.changePassword(walletId, oldPassword, newPassword),
    wrongPassword: (walletId: string, digestHex: string) => tryError(() => client!.sign({ walletId, password: "not the password", message: unhex(digestHex) })),
    createWalletError: (name: string, password: string, threshold?: number) => tryError(() => client!.createWallet({ name, password, threshold })),
    exportBackup: async (walletId: string, password: string) => (await client!.exportBackup(walletId, password)).text(),
    importBackup: (text: string, password: string) => client!.importBackup(text, password),
    list: () => client!.listWallets(),
    poolCount: async () => (client?.preParams ? client.preParams.count() : -1),
    progress: () => progress,
  },
});
document.getElementById("status")!.textContent = "ready";
