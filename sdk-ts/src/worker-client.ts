// TssWorker drives one tss-worker.js (one tss.wasm instance) through its
// message protocol (see src/worker/tss-worker.ts): requests by id, and for
// keygen and sign "runs" a stream of envelope and progress events until
// the result. No secret crosses it from the worker to the page: shares,
// safe primes and pre-parameters stay in the workers, and the page holds
// handles and counts.
import { BackupFormatError, CorruptRecordError, EmptyPasswordError, WrongPasswordError } from "./backup.js";
import { TsskitError } from "./errors.js";
import type { DroppedEntry, PoolTarget } from "./worker/preparams.js";

export type { DroppedEntry, PoolTarget } from "./worker/preparams.js";

/**
 * An error from the worker, as its class: the storage errors keep theirs
 * (a wrong password is a WrongPasswordError wherever it was found), the
 * rest are TsskitError with the worker's code.
 */
function rebuild(e: { name?: string; message?: string; code?: string }): Error {
  const msg = e?.message ?? "";
  switch (e?.name) {
    case "WrongPasswordError":
      return new WrongPasswordError(msg);
    case "BackupFormatError":
      return new BackupFormatError(msg);
    case "CorruptRecordError":
      return new CorruptRecordError(msg);
    case "EmptyPasswordError":
      return new EmptyPasswordError();
  }
  return TsskitError.from(e);
}

import type { ShareRecordInfo } from "./backup.js";

function baseUrl(): string {
  return typeof location !== "undefined" ? location.href : "http://localhost/";
}

/** A party's signed join, as the coordinator's roster carries it. */
export interface SignedJoin {
  statement: Uint8Array;
  signature: Uint8Array;
  /** A server's certificate chain from the deployment root, its own first. */
  certificates?: Uint8Array[];
}
/** What a prepared seat publishes at join. */
export interface Join extends SignedJoin {
  x25519: Uint8Array;
  ed25519: Uint8Array;
  /** prepareReshare with abandon: the seat's abandoned-run statements (PartyKeys.abandoned). */
  abandoned?: Uint8Array[];
  /** prepareReshare with earlier: the seat's stored acknowledgement of that run, by session id (PartyKeys.stored). */
  stored?: Record<string, Uint8Array>;
}
export interface PreparedSeat {
  /** Handle of the seat (session keys, identity, share) inside the worker. */
  keysId: string;
  join: Join;
  /** The seat's identity public key, hex. */
  identityKey: string;
  /**
   * prepareKeygen with recovery.kit only: the wallet's recovery code, 12
   * words. SECRET: show it to the user once; never store, log or send it.
   */
  recoveryCode?: string;
}
/** The deployment root(s) this client pins, and revoked identity keys, hex. */
export interface TrustConfig {
  roots: string[];
  revoked?: string[];
}
export interface Progress {
  phase: "keygen" | "sign" | "reshare";
  round: number;
  rounds: number;
  done: boolean;
  messagesSent: number;
  messagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}
export interface KeygenJoinParams {
  sessionId: string;
  self: string;
  walletId: string;
  signersNeeded: number;
  parties: string[];
  /** The wallet's recovery policy: a recovery kit (its code comes back in PreparedSeat.recoveryCode) and/or backend approvals. */
  recovery?: { kit?: boolean; backend?: boolean };
}
export interface SignJoinParams {
  /** From openShare: the decrypted share, consumed by this call. */
  handle: string;
  sessionId: string;
  parties: string[];
  digest: Uint8Array;
  /** BIP32 path of the signing key, "m/0/5"; absent: the wallet key. */
  path?: string;
}
/** What a reshare hands over and to whom, as the coordinator offered it (tsskit.v1.ReshareSpec). */
export interface ReshareSpecInput {
  epoch: number;
  oldThreshold: number;
  oldParties: string[];
  newParties: string[];
  publicKey: Uint8Array;
  chainCode: Uint8Array;
  clientRequired: boolean;
  /** The wallet's recovery policy: its recovery kit's public key (empty: none)... */
  recoveryKit?: Uint8Array;
  /** ...and whether the app backend may approve a recovery. */
  recoveryBackend?: boolean;
}
export interface ReshareJoinParams {
  /** From openShare: the current share, consumed by this call. */
  handle: string;
  sessionId: string;
  /** Every party of the session: both committees. */
  parties: string[];
  /** The coordinator's offer. */
  reshare: ReshareSpecInput;
  /** The offer's signers needed after the reshare. */
  signersNeeded: number;
  /** What this client asked for (0 or absent: unchanged); the offer must match. */
  asked?: { signersNeeded?: number; parties?: number };
  /** Earlier runs of the epoch this browser recorded abandoned (ShareStorage.joinRun): the seat signs a statement for each. */
  abandon?: string[];
  /** This browser's pending share of an earlier run of the epoch, if any (EarlierRun). */
  earlier?: EarlierRun;
}
/**
 * A pending share of an earlier run of a reshare's epoch, opened in the
 * worker (unlockPending's handle, consumed by the call): the seat's join
 * carries its stored acknowledgement of that run, and the run starts only
 * if another new holder of that run abandoned it (one acknowledged run per
 * epoch, docs/lifecycle.md).
 */
export interface EarlierRun {
  handle: string;
  sessionId: string;
}
/** A recovery's offer as the coordinator made it, and the authorization and device it was asked for with. */
export interface RecoveryJoinParams {
  sessionId: string;
  /** Every party of the session: both committees. */
  parties: string[];
  reshare: ReshareSpecInput;
  signersNeeded: number;
  /** The authorization's wire form, as sent to CreateRecoverySession. */
  authorization: Uint8Array;
  /** The device the authorization names; the seat takes it. */
  deviceId: string;
  /** Earlier runs of the epoch this device recorded abandoned (ShareStorage.joinRun): the seat signs a statement for each with the device key. */
  abandon?: string[];
  /** This device's pending share of an earlier attempt's run of the epoch, if any (EarlierRun). */
  earlier?: EarlierRun;
}
/** One settle step of a run in limbo, in the worker (TssWorker.settle). */
export interface SettleStepParams {
  step: "frozen" | "pinned" | "activated" | "abandoned" | "drop" | "thaw";
  sessionId: string;
  epoch: number;
  /** Handle of the client's open active share, if it has one. */
  active?: string;
  /** Handle of the client's open share of the run, if it keeps one. */
  pending?: string;
  silent?: string[];
  frozen?: Uint8Array[];
  dropped?: Uint8Array[];
  words?: Uint8Array[];
}

/** A device identity key held in the worker. */
export interface RecoveryDevice {
  deviceId: string;
  /** Its public key, 64 hex. */
  identityKey: string;
}
/** A recovery authorization's fields, wire form and file form. */
export interface RecoveryAuthorization {
  kind: "kit" | "backend";
  walletId: string;
  epoch: number;
  partyId: string;
  identityKey: string;
  expiresAtMs: number;
  signer: string;
  authorization: Uint8Array;
  file: string;
}
export interface RunParams {
  keysId: string;
  /** Every party's signed join, by party id, as the coordinator's ready event carries them. */
  roster: Record<string, SignedJoin>;
  trust: TrustConfig;
}
/**
 * Pre-parameters held by a worker (assembled there, or taken from the pool
 * there): a handle, valid in that worker only. A keygen consumes it.
 */
export interface PreParamsRef {
  handle: string;
}
export interface KeygenParams extends RunParams {
  /** In the worker that runs the keygen. */
  preParams: PreParamsRef;
  /** The share leaves the worker only as a backup under this password. */
  protect: { password: string; iterations?: number };
}
export type SignParams = RunParams;
export interface ReshareParams extends RunParams {
  /** In the worker that runs the reshare (this party is a new member). */
  preParams: PreParamsRef;
  /** The new share leaves the worker only as a backup under this password. */
  protect: { password: string; iterations?: number };
  /** What every party's join says of earlier runs of the epoch (PartyKeys.abandoned and stored), by party id. */
  words?: Record<string, { abandoned: Uint8Array[]; stored: Record<string, Uint8Array> }>;
}
export interface ReshareResult {
  /** The new share as a password backup: store it as pending before reporting. */
  backup: string;
  info: ShareRecordInfo;
  publicKey: Uint8Array;
  address: string;
  epoch: number;
  /** The stored acknowledgement to report once the share is stored. */
  storedAck: Uint8Array;
  /**
   * The new share, kept open in the worker for verifyStoredAcks; close it
   * (closeShare) when done.
   */
  handle: string;
}
export interface KeygenResult {
  /** The share as a password backup (ciphertext): safe to store and to show. */
  backup: string;
  info: ShareRecordInfo;
  publicKey: Uint8Array;
  address: string;
  /** The wallet's BIP32 chain code, reported to the coordinator. */
  chainCode: Uint8Array;
}
export interface SignResult {
  r: Uint8Array;
  s: Uint8Array;
  v: number;
  signature: Uint8Array;
  der: Uint8Array;
}
export interface RunHandlers {
  onEnvelope(envelope: Uint8Array): void;
  onProgress?(p: Progress): void;
}
export interface WorkerRun<T> {
  result: Promise<T>;
  deliver(envelope: Uint8Array): void;
  cancel(): void;
}

type Pending = {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  handlers?: RunHandlers;
};

export class TssWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set by terminate(): a request after it would wait forever on a dead worker. */
  private terminated = false;
  /** Rejects ready (a no-op once it has settled): terminate() before the worker is ready. */
  private rejectReady: (e: unknown) => void = () => {};
  /** Resolves with tss.wasm's version once the worker runs it. */
  readonly ready: Promise<{ version: string; go: string; tssLib: string }>;

  /**
   * script: tss-worker.js, usually a Blob URL of its checked bytes (see
   * tss-wasm-loader.ts). wasm: where the worker fetches tss.wasm from, and
   * the hash it must match (null: not pinned).
   */
  constructor(script: string | URL, wasm: { url: string | URL; integrity: string | null }) {
    this.worker = new Worker(script);
    this.ready = new Promise((resolve, reject) => {
      this.rejectReady = reject;
      this.worker.onmessage = (ev: MessageEvent) => {
        const m = ev.data;
        if (m.event === "ready") {
          this.worker.onmessage = (e: MessageEvent) => this.onMessage(e.data);
          resolve(m.version);
        } else if (m.event === "fatal") {
          reject(rebuild(m.error));
        }
      };
      this.worker.onerror = (e: ErrorEvent) => reject(new TsskitError("worker", e.message || "worker failed to load"));
    });
    this.ready.catch(() => {}); // the caller awaits it; a failed load is not also an unhandled rejection
    this.worker.postMessage({ op: "init", wasmUrl: new URL(wasm.url, baseUrl()).href, integrity: wasm.integrity });
  }

  private onMessage(m: any): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.event === "envelope") return p.handlers?.onEnvelope(m.envelope);
    if (m.event === "progress") return p.handlers?.onProgress?.(m.progress);
    if (m.event === "error") return; // a bad delivery; the run goes on and the engine decides
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(rebuild(m.error));
  }

  private request<T>(op: string, args: Record<string, unknown> = {}, transfer: Transferable[] = [], handlers?: RunHandlers): { id: number; promise: Promise<T> } {
    const id = this.nextId++;
    if (this.terminated) return { id, promise: Promise.reject(new TsskitError("closed", "the worker was terminated: the client is closed")) };
    const promise = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, handlers });
    });
    this.worker.postMessage({ id, op, ...args }, transfer);
    return { id, promise };
  }

  /** A request the signal stops ({op: "abort", target}); used for the prime searches. */
  private abortable<T>(op: string, args: Record<string, unknown>, transfer: Transferable[], signal?: AbortSignal): Promise<T> {
    const { id, promise } = this.request<T>(op, args, transfer);
    if (!signal) return promise;
    const onAbort = () => this.worker.postMessage({ op: "abort", target: id });
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return promise.finally(() => signal.removeEventListener("abort", onAbort));
  }

  async version() {
    return this.request<{ version: string; go: string; tssLib: string }>("version").promise;
  }
  /** A seat for a keygen: session keys and a new device identity, kept in the worker. */
  prepareKeygen(params: KeygenJoinParams): Promise<PreparedSeat> {
    return this.request<PreparedSeat>("prepareKeygen", { params }).promise;
  }
  /** Decrypts a backup in the worker; the record stays there under the handle. */
  openShare(backup: string, password: string): Promise<{ handle: string; info: ShareRecordInfo }> {
    return this.request<{ handle: string; info: ShareRecordInfo }>("openShare", { backup, password }).promise;
  }
  /** Decrypts and checks a backup in the worker and forgets it: its public part. */
  checkShare(backup: string, password: string): Promise<ShareRecordInfo> {
    return this.request<ShareRecordInfo>("checkShare", { backup, password }).promise;
  }
  /** Re-encrypts a backup under a new password, in the worker. */
  rewrapShare(backup: string, oldPassword: string, newPassword: string, iterations?: number): Promise<{ backup: string; info: ShareRecordInfo }> {
    return this.request<{ backup: string; info: ShareRecordInfo }>("rewrapShare", { backup, oldPassword, newPassword, iterations }).promise;
  }
  closeShare(handle: string): Promise<void> {
    return this.request<void>("closeShare", { handle }).promise;
  }
  /**
   * A new device identity key in this worker. With seal, it is also
   * encrypted under seal.password (recovery.ts sealDevice) for the page
   * to store: the seed itself never leaves the worker.
   */
  newRecoveryDevice(seal?: { password: string; iterations?: number; walletId: string; partyId: string; epoch: number }): Promise<RecoveryDevice & { sealed?: string }> {
    return this.request<RecoveryDevice & { sealed?: string }>("newRecoveryDevice", { seal }).promise;
  }
  /** Opens a sealed device key (newRecoveryDevice's) into this worker. WrongPasswordError when it does not open. */
  openRecoveryDevice(sealed: string, password: string): Promise<RecoveryDevice> {
    return this.request<RecoveryDevice>("openRecoveryDevice", { sealed, password }).promise;
  }
  releaseRecoveryDevice(deviceId: string): Promise<void> {
    return this.request<void>("releaseRecoveryDevice", { deviceId }).promise;
  }
  /** Signs the device's authorization with the kit key derived from the recovery code (in the wasm; the key is destroyed after). */
  kitAuthorization(params: { code: string; deviceId: string; walletId: string; epoch: number; partyId: string; expiresAtMs: number; kit?: string }): Promise<RecoveryAuthorization> {
    return this.request<RecoveryAuthorization>("kitAuthorization", { params }).promise;
  }
  /** Reads an approval's file form (recovery_malformed otherwise). */
  parseAuthorization(file: string): Promise<RecoveryAuthorization> {
    return this.request<RecoveryAuthorization>("parseAuthorization", { file }).promise;
  }
  /** The device's own checks of an authorization (signature, wallet, epoch, expiry, device). */
  checkAuthorization(params: { authorization: Uint8Array; walletId: string; epoch: number; deviceId: string; partyId: string }): Promise<void> {
    return this.request<void>("checkAuthorization", { params }).promise;
  }
  /** A new client's seat in a recovery (the device is consumed); the offer is checked in the wasm first. */
  prepareRecovery(params: RecoveryJoinParams): Promise<PreparedSeat> {
    return this.request<PreparedSeat>("prepareRecovery", { params }).promise;
  }
  /** A seat for a signing with an open share (the handle is consumed). */
  prepareSign(params: SignJoinParams): Promise<PreparedSeat> {
    return this.request<PreparedSeat>("prepareSign", { params }).promise;
  }
  /** A seat for a reshare of an open share's wallet (the handle is consumed); the coordinator's offer is checked in the wasm first. */
  prepareReshare(params: ReshareJoinParams): Promise<PreparedSeat> {
    return this.request<PreparedSeat>("prepareReshare", { params }).promise;
  }
  /**
   * One settle step of a run in limbo (docs/lifecycle.md): the statement
   * step names, signed with the key the run's record names for this
   * party, or a drop's or thaw's check first. active and pending are open
   * share handles in this worker, left open.
   */
  settle(params: SettleStepParams): Promise<{ statement?: Uint8Array; held: boolean }> {
    return this.request<{ statement?: Uint8Array; held: boolean }>("settle", { params }).promise;
  }
  /**
   * Checks a reshare's Completed event (its epoch and every holder's
   * stored acknowledgement) against the new share open under handle.
   * Rejects with code "verify", naming the holders without a valid one.
   */
  verifyStoredAcks(handle: string, sessionId: string, epoch: number, acks: Record<string, Uint8Array>): Promise<void> {
    return this.request<void>("verifyStoredAcks", { handle, sessionId, epoch, acks }).promise;
  }
  releaseSessionKeys(keysId: string): Promise<void> {
    return this.request<void>("releaseSessionKeys", { keysId }).promise;
  }
  keygen(params: KeygenParams, handlers: RunHandlers): WorkerRun<KeygenResult> {
    return this.run<KeygenResult>("keygen", params, handlers);
  }
  sign(params: SignParams, handlers: RunHandlers): WorkerRun<SignResult> {
    return this.run<SignResult>("sign", params, handlers);
  }
  reshare(params: ReshareParams, handlers: RunHandlers): WorkerRun<ReshareResult> {
    return this.run<ReshareResult>("reshare", params, handlers);
  }
  private run<T>(op: string, params: RunParams, handlers: RunHandlers): WorkerRun<T> {
    const { id, promise } = this.request<T>(op, { params }, [], handlers);
    return {
      result: promise,
      deliver: (envelope) => this.worker.postMessage({ op: "deliver", runId: id, envelope }),
      cancel: () => this.worker.postMessage({ op: "cancel", runId: id }),
    };
  }
  /** A new collection of safe primes in this worker, which will assemble them. */
  async openPrimes(): Promise<string> {
    return (await this.request<{ collection: string }>("openPrimes").promise).collection;
  }
  /** Zeroes and forgets a collection (after assembly, or when giving up). */
  closePrimes(collection: string): Promise<void> {
    return this.request<void>("closePrimes", { collection }).promise;
  }
  /** Finds one 1024-bit safe prime in this worker for its own collection: how many it holds now. */
  async findPrime(collection: string, signal?: AbortSignal): Promise<number> {
    return (await this.abortable<{ primes: number }>("safePrime", { collection }, [], signal)).primes;
  }
  /**
   * Finds one safe prime in this worker for collector's collection. The
   * prime goes over a MessageChannel made for it: this worker gets one
   * port and the collector the other, both transferred, so the page keeps
   * neither end and never sees the prime. Resolves with the collection's
   * size once the collector has it.
   */
  async findPrimeFor(collector: TssWorker, collection: string, signal?: AbortSignal): Promise<number> {
    if (collector === this) return this.findPrime(collection, signal);
    const { port1, port2 } = new MessageChannel();
    // signal stops the search only. A prime posted before the search saw
    // it still reaches the collector, which counts it (or zeroes it, the
    // collection closed); the receive is stopped only once the search
    // ended without a prime. So this settles after the search has ended,
    // and no prime is dropped in flight.
    const stopSearch = new AbortController();
    const stopReceive = new AbortController();
    const onAbort = () => stopSearch.abort();
    if (signal?.aborted) stopSearch.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const received = collector.abortable<{ primes: number }>("receivePrime", { collection, from: port2 }, [port2], stopReceive.signal);
      const sent = this.abortable<null>("safePrime", { to: port1 }, [port1], stopSearch.signal);
      // The first failure is the cause; the other end's is its echo.
      const first: { failure?: { cause: unknown } } = {};
      received.catch((e) => {
        first.failure ??= { cause: e };
        stopSearch.abort(); // the collector takes no prime: stop searching
      });
      sent.catch((e) => {
        first.failure ??= { cause: e };
        stopReceive.abort(); // no prime will come
      });
      const [got] = await Promise.allSettled([received, sent]);
      if (first.failure) throw first.failure.cause;
      if (got.status === "rejected") throw got.reason;
      return got.value.primes;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
  /** Benchmarks: finds one safe prime and forgets it (the worker keeps it to itself). */
  async safePrime(signal?: AbortSignal): Promise<void> {
    await this.abortable<null>("safePrime", {}, [], signal);
  }
  /**
   * Benchmarks: one safe prime searched on the public candidate stream of
   * seed (0..65535; the same work for the same seed on every run), with
   * naive the plain way (math/big, tss-lib style). Returns what the search
   * did; the prime is dropped.
   */
  async safePrimeSeeded(seed: number, naive = false): Promise<{ candidates: number; tested: number }> {
    return this.request<{ candidates: number; tested: number }>("safePrimeSeeded", { seed, naive }).promise;
  }
  /**
   * Assembles pre-parameters from a collection; they stay in this worker.
   * Rejects with code need_more_primes when the collection needs one more
   * prime (it stays open).
   */
  async assemblePreParams(collection: string): Promise<PreParamsRef> {
    const r = await this.request<{ handle: string }>("assemblePreParams", { collection }).promise;
    return { handle: r.handle };
  }
  /** As assemblePreParams, but the set goes (encrypted) into the pool's database: the pool's new count. */
  async assemblePreParamsIntoPool(collection: string, pool: PoolTarget = {}): Promise<number> {
    return (await this.request<{ stored: number }>("assemblePreParams", { collection, pool }).promise).stored;
  }
  /** Takes a stored set from the pool into this worker (never the same set twice, whatever the tabs): its handle, or null. */
  async takePreParams(pool: PoolTarget = {}): Promise<{ preParams: PreParamsRef | null; dropped: DroppedEntry[] }> {
    const r = await this.request<{ handle: string | null; dropped: DroppedEntry[] }>("takePreParams", { pool }).promise;
    return { preParams: r.handle ? { handle: r.handle } : null, dropped: r.dropped ?? [] };
  }
  /** The number of sets in the pool. */
  countPreParams(pool: PoolTarget = {}): Promise<number> {
    return this.request<number>("countPreParams", { pool }).promise;
  }
  /** Checks a set this worker holds; it stays held. */
  validatePreParams(preParams: PreParamsRef): Promise<void> {
    return this.request<void>("validatePreParams", { handle: preParams.handle }).promise;
  }
  /** Zeroes a set this worker holds (harmless when a keygen consumed it already). */
  releasePreParams(preParams: PreParamsRef): Promise<void> {
    return this.request<void>("releasePreParams", { handle: preParams.handle }).promise;
  }
  terminate(): void {
    this.terminated = true;
    this.worker.terminate();
    this.rejectReady(new TsskitError("closed", "the worker was terminated before it was ready"));
    for (const p of this.pending.values()) p.reject(new TsskitError("canceled", "worker terminated"));
    this.pending.clear();
  }
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Called with the number of safe primes found so far (4, sometimes 5, make a set): for a progress bar. */
  onPrime?(found: number): void;
}

/**
 * Pre-parameters made in parallel: every worker searches safe primes, one
 * after another, until four (sometimes five) are found, and workers[0]
 * collects and assembles them. A worker that finds a prime starts on the
 * next one at once, and the searches still under way are stopped when the
 * set has enough: no worker waits for a slower one while a prime is still
 * wanted (a search's length varies ten-fold). The set stays in
 * workers[0]; run the keygen there.
 */
export function generatePreParams(workers: TssWorker[], opts: GenerateOptions = {}): Promise<PreParamsRef> {
  return makeSet(workers, opts, (w, c) => w.assemblePreParams(c));
}

/** As generatePreParams, but the set goes into the pool's database (encrypted, in workers[0]): the pool's new count. */
export function generatePreParamsIntoPool(workers: TssWorker[], opts: GenerateOptions & { pool?: PoolTarget } = {}): Promise<number> {
  return makeSet(workers, opts, (w, c) => w.assemblePreParamsIntoPool(c, opts.pool));
}

async function makeSet<T>(workers: TssWorker[], opts: GenerateOptions, assemble: (collector: TssWorker, collection: string) => Promise<T>): Promise<T> {
  if (workers.length === 0) throw new TsskitError("invalid_argument", "no workers");
  if (opts.signal?.aborted) throw new TsskitError("canceled", "canceled");
  const collector = workers[0]!;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let collection: string;
  try {
    collection = await collector.openPrimes();
  } catch (e) {
    opts.signal?.removeEventListener("abort", onAbort);
    throw e;
  }
  let found = 0;
  let need = 4;
  try {
    for (;;) {
      if (stop.signal.aborted) throw new TsskitError("canceled", "canceled");
      if (found < need) {
        // This round's searches end once need primes are in, or with the
        // caller's cancel; the collection may get a prime more than need
        // when two searches end at once (assembly takes any number).
        const round = new AbortController();
        const endRound = () => round.abort();
        stop.signal.addEventListener("abort", endRound, { once: true });
        try {
          await Promise.all(
            workers.map(async (w) => {
              while (found < need && !round.signal.aborted) {
                let n: number;
                try {
                  n = await w.findPrimeFor(collector, collection, round.signal);
                } catch (e) {
                  if (round.signal.aborted && !stop.signal.aborted) return; // enough primes: this search was stopped
                  throw e;
                }
                if (n > found) {
                  found = n;
                  opts.onPrime?.(found);
                }
                if (found >= need) round.abort();
              }
            }),
          );
        } catch (e) {
          round.abort();
          throw e;
        } finally {
          stop.signal.removeEventListener("abort", endRound);
        }
      }
      // Canceled between two searches, which then ended without an error.
      if (stop.signal.aborted) throw new TsskitError("canceled", "canceled");
      try {
        return await assemble(collector, collection);
      } catch (e) {
        if (TsskitError.from(e).code !== "need_more_primes") throw e;
        need = found + 1;
      }
    }
  } finally {
    stop.abort();
    opts.signal?.removeEventListener("abort", onAbort);
    void collector.closePrimes(collection).catch(() => {});
  }
}

/**
 * ShareCrypto in a worker (see ShareStorage): the password-derived key and
 * the decrypted record stay in the worker; an open share is a handle into
 * it, which prepareSign consumes. worker() is the worker to use: the one
 * that will sign.
 */
export class WorkerShareCrypto {
  constructor(private readonly worker: () => TssWorker) {}
  async open(backup: string, password: string): Promise<{ handle: string; info: ShareRecordInfo }> {
    return this.worker().openShare(backup, password);
  }
  async close(handle: string): Promise<void> {
    await this.worker().closeShare(handle).catch(() => {});
  }
  async check(backup: string, password: string): Promise<ShareRecordInfo> {
    return this.worker().checkShare(backup, password);
  }
  async rewrap(backup: string, oldPassword: string, newPassword: string, iterations: number): Promise<{ backup: string; info: ShareRecordInfo }> {
    return this.worker().rewrapShare(backup, oldPassword, newPassword, iterations);
  }
}
