// The SDK's browser test page: TssClient as an app uses it. The Node side
// (sdk.test.mjs) drives it step by step, reloading the page in between so
// nothing survives but IndexedDB.
import { secp256k1 } from "@noble/curves/secp256k1.js";

import { createWalletClient, custom } from "viem";

import { TssClient, type ClientProgress, type ReshareProgress, type SettleRunOptions, type TssClientConfig } from "../../src/index.js";
import { toViemAccount } from "../../src/viem.js";

const unhex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));

let client: TssClient | null = null;
const progress: ClientProgress[] = [];

async function open(cfg: TssClientConfig) {
  const t0 = performance.now();
  client = await TssClient.create({ ...cfg, onLoadProgress: (p) => progress.push(p) });
  return { loadMs: performance.now() - t0, persisted: client.storage.persisted ?? null, version: client.version };
}

/** createWallet; with attempts > 1 a refusal for overload is retried (counted in busy). */
async function createWallet(name: string, password: string, attempts = 1) {
  const t0 = performance.now();
  const mine: ClientProgress[] = [];
  let busy = 0;
  const w = await client!.createWallet({
    name, password, onProgress: (p) => (progress.push(p), mine.push(p)),
    retry: { attempts, maxDelayMs: 10_000, onRetry: () => busy++ },
  });
  // Safe primes found on the way (cold pre-parameters) move the bar inside
  // the preparams phase; a pooled set jumps over it.
  const primesFound = mine.filter((p) => p.phase === "preparams" && p.fraction > 0.05 && p.fraction < 0.45).length;
  return { ...w, ms: performance.now() - t0, primesFound, busy, last: mine.at(-1) };
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

/** refreshWallet (threshold and parties absent) or reshareWallet, timed, with the phases it went through. */
async function reshare(walletId: string, password: string, threshold?: number, parties?: number) {
  const t0 = performance.now();
  const phases: string[] = [];
  // When each phase began, in ms from the call.
  const phaseMs: Record<string, number> = {};
  // The reshare runs this profile records, as the new share is being saved.
  let runsAtSaving: Promise<unknown> = Promise.resolve(null);
  const onProgress = (p: ReshareProgress) => {
    if (phases.at(-1) !== p.phase) phases.push(p.phase);
    if (p.phase === "saving" && phaseMs.saving === undefined) runsAtSaving = client!.storage.runs(walletId);
    phaseMs[p.phase] ??= Math.round(performance.now() - t0);
  };
  const w =
    threshold === undefined && parties === undefined
      ? await client!.refreshWallet({ walletId, password, onProgress })
      : await client!.reshareWallet({ walletId, password, threshold, parties, onProgress });
  return { ...w, ms: performance.now() - t0, phases, phaseMs, pending: await client!.storage.pendingShares(walletId), runsAtSaving: await runsAtSaving };
}

/**
 * A refresh canceled once its rounds are under way (before any holder
 * stores): the error it ends with, the runs this profile records after
 * it, and what it keeps.
 */
async function refreshCanceled(walletId: string, password: string) {
  const abort = new AbortController();
  const error = await client!
    .refreshWallet({
      walletId, password, signal: abort.signal,
      onProgress: (p) => {
        if (p.phase === "resharing") abort.abort();
      },
    })
    .then(
      () => null,
      (e) => ({ name: e.name, code: e.code, message: e.message }),
    );
  return { error, runs: await client!.storage.runs(walletId), ...(await stored(walletId)) };
}

/**
 * A refresh whose report the coordinator never hears: this browser
 * stores its new share and reports it, but what reaches the coordinator
 * (after the server parties, a few seconds later) is a failure, as a
 * lost connection would leave it: every holder stored the run, and it is
 * not activated. The error the call ends with, and what the profile keeps.
 */
async function refreshLosingReport(walletId: string, password: string) {
  const coord = (client as any).clients.coordinator;
  const report = coord.reportResult;
  coord.reportResult = async (req: any, opts: any) => {
    if (req.result?.case !== "reshared") return report.call(coord, req, opts);
    await new Promise((r) => setTimeout(r, 5000));
    return report.call(coord, { ...req, result: { case: "failure", value: { code: "transport", reason: "the report was lost", culprits: [] } } }, opts);
  };
  try {
    const error = await client!.refreshWallet({ walletId, password }).then(
      () => null,
      (e) => ({ name: e.name, code: e.code, message: e.message }),
    );
    return { error, ...(await stored(walletId)) };
  } finally {
    coord.reportResult = report;
  }
}

/**
 * A refresh that breaks right after its Completed event, before this
 * browser activates its new share (as a page closed at that moment
 * would): the error it ends with, and what the profile keeps.
 */
async function refreshCutAtActivation(walletId: string, password: string) {
  const error = await client!
    .refreshWallet({
      walletId, password,
      onProgress: (p) => {
        if (p.phase === "activating") throw new Error("the page went away");
      },
    })
    .then(
      () => null,
      (e) => ({ name: e.name, code: e.code, message: e.message }),
    );
  return { error, ...(await stored(walletId)) };
}

/** createWallet with a recovery policy: the wallet, and with a kit its recovery code (for the test to hand to another profile). */
async function createRecoverable(name: string, password: string, recovery: { kit?: boolean; backend?: boolean }) {
  const t0 = performance.now();
  const w = await client!.createWallet({ name, password, recovery });
  return { ...w, ms: performance.now() - t0 };
}

/** recoverWallet, timed, with the phases it went through and what is left pending. */
async function recover(opts: { walletId?: string; address: string; password: string; code?: string; approval?: string }) {
  const t0 = performance.now();
  const phases: string[] = [];
  const phaseMs: Record<string, number> = {};
  let runsAtSaving: Promise<unknown> = Promise.resolve(null);
  const w = await client!.recoverWallet({
    ...opts,
    onProgress: (p) => {
      if (phases.at(-1) !== p.phase) phases.push(p.phase);
      if (p.phase === "saving" && phaseMs.saving === undefined && opts.walletId) runsAtSaving = client!.storage.runs(opts.walletId);
      phaseMs[p.phase] ??= Math.round(performance.now() - t0);
    },
  });
  return {
    ...w, ms: performance.now() - t0, phases, phaseMs, pending: await client!.storage.pendingShares(w.walletId), requests: await client!.recoveryRequests(),
    runsAtSaving: await runsAtSaving, runs: await client!.storage.runs(w.walletId),
  };
}

/**
 * A recovery canceled once its rounds are under way (before any holder
 * stores): the error it ends with, the runs this profile records after
 * it, and what it keeps.
 */
async function recoverCanceled(opts: { walletId: string; address: string; password: string; code: string }) {
  const abort = new AbortController();
  const error = await client!
    .recoverWallet({
      ...opts, signal: abort.signal,
      onProgress: (p) => {
        if (p.phase === "resharing") abort.abort();
      },
    })
    .then(
      () => null,
      (e) => ({ name: e.name, code: e.code, message: e.message }),
    );
  return { error, runs: await client!.storage.runs(opts.walletId), ...(await stored(opts.walletId)) };
}

/** What this profile stores of a wallet: its share (public part or null), pending shares and recovery requests. */
async function stored(walletId: string) {
  const share = await client!.storage.info(walletId).catch(() => null);
  return { share, pending: await client!.storage.pendingShares(walletId), requests: await client!.recoveryRequests() };
}

const typedData = {
  domain: { name: "tsskit test", version: "1", chainId: 11155111, verifyingContract: "0x00000000000000000000000000000000000000cc" },
  types: { Mail: [{ name: "from", type: "address" }, { name: "contents", type: "string" }, { name: "amount", type: "uint256" }] },
  primaryType: "Mail",
  message: { from: "0x00000000000000000000000000000000000000dd", contents: "hello", amount: "12345" },
} as const;

/**
 * Ethereum through the SDK, in the page: addresses and the xpub, an
 * EIP-191 message and an EIP-1559 transaction signed at a path, EIP-712
 * typed data signed with the wallet key, and a transaction signed through
 * toViemAccount + viem's wallet client. Everything is returned as strings
 * for the Node side to check with viem and @scure/bip32.
 */
async function eth(walletId: string, password: string) {
  const c = client!;
  const path = "m/0/7";
  const xpub = await c.getExtendedPublicKey({ walletId });
  const own = await c.getAddress({ walletId });
  const derived = await c.getAddress({ walletId, path });
  const message = "hello from a tsskit wallet";
  const messageSig = await c.signMessage({ walletId, password, message, path });
  const typedSig = await c.signTypedData({ walletId, password, typedData });
  const tx = { type: "eip1559" as const, chainId: 11155111, nonce: 5, to: "0x00000000000000000000000000000000000000aa" as const,
    value: 10n ** 15n, gas: 21000n, maxFeePerGas: 30n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n };
  const signedTx = await c.signTransaction({ walletId, password, transaction: tx, path });
  const account = await toViemAccount({ client: c, walletId, password });
  const wallet = createWalletClient({
    account,
    transport: custom({ request: async ({ method }) => { if (method === "eth_chainId") return "0xaa36a7"; throw new Error(`no network in this test: ${method}`); } }),
  });
  const viemTx = await wallet.signTransaction({ chain: null, type: "eip1559", chainId: 11155111, nonce: 9, to: "0x00000000000000000000000000000000000000bb",
    value: 42n, gas: 30000n, maxFeePerGas: 20n * 10n ** 9n, maxPriorityFeePerGas: 2n * 10n ** 9n, data: "0x1234" });
  const bad = await tryError(() => c.signMessage({ walletId, password, message, path: "m/0'/1" }));
  return { path, xpub, own, derived, message, messageSig, typedData, typedSig, signedTx, viemTx, accountAddress: account.address, bad };
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
    open, createWallet, sign, eth, rawRecord, clearStorage, poolPlaintexts,
    openError: (cfg: TssClientConfig) => tryError(() => TssClient.create(cfg).then((c) => c.close())),
    close: () => {
      client?.close();
      client = null;
    },
    changePassword: (walletId: string, oldPassword: string, newPassword: string) => client!.changePassword(walletId, oldPassword, newPassword),
    wrongPassword: (walletId: string, digestHex: string) => tryError(() => client!.sign({ walletId, password: "not the password", message: unhex(digestHex) })),
    createWalletError: (name: string, password: string, threshold?: number) => tryError(() => client!.createWallet({ name, password, threshold })),
    exportBackup: async (walletId: string, password: string) => (await client!.exportBackup(walletId, password)).text(),
    importBackup: (text: string, password: string) => client!.importBackup(text, password),
    importBackupError: (text: string, password: string) => tryError(() => client!.importBackup(text, password)),
    signError: (walletId: string, password: string, digestHex: string) => tryError(() => client!.sign({ walletId, password, message: unhex(digestHex) })),
    reshare,
    createRecoverable,
    recover,
    recoverCanceled,
    recoverError: (opts: { walletId?: string; address: string; password: string; code?: string; approval?: string }) => tryError(() => recover(opts)),
    requestRecovery: (walletId: string, password: string) => client!.requestRecovery({ walletId, password }),
    requestRecoveryError: (walletId: string, password: string) => tryError(() => client!.requestRecovery({ walletId, password })),
    stored,
    reshareError: (walletId: string, password: string, threshold?: number, parties?: number) => tryError(() => reshare(walletId, password, threshold, parties)),
    info: (walletId: string) => client!.storage.info(walletId),
    runs: (walletId: string) => client!.storage.runs(walletId),
    settle: (opts: SettleRunOptions) => client!.settleRun(opts),
    settleError: (opts: SettleRunOptions) => tryError(() => client!.settleRun(opts)),
    list: () => client!.listWallets(),
    accountWallets: () => client!.accountWallets(),
    refreshCutAtActivation,
    refreshLosingReport,
    refreshCanceled,
    resume: (walletId: string, password: string) => client!.resumeReshare({ walletId, password }),
    resumeError: (walletId: string, password: string) => tryError(() => client!.resumeReshare({ walletId, password })),
    address: (walletId: string, path: string) => client!.getAddress({ walletId, path }),
    poolCount: async () => (client?.preParams ? client.preParams.count() : -1),
    progress: () => progress,
  },
});
document.getElementById("status")!.textContent = "ready";
