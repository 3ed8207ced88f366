// TssWorker drives one tss-worker.js (one tss.wasm instance) through its
// message protocol (see src/worker/tss-worker.ts): requests by id, and for
// keygen and sign "runs" a stream of envelope and progress events until
// the result. No secret crosses it from the worker to the page.
import { BackupFormatError, CorruptRecordError, EmptyPasswordError, WrongPasswordError } from "./backup.js";
import { TsskitError } from "./errors.js";

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
}
export interface PreparedSeat {
  /** Handle of the seat (session keys, identity, share) inside the worker. */
  keysId: string;
  join: Join;
  /** The seat's identity public key, hex. */
  identityKey: string;
}
/** The deployment root(s) this client pins, and revoked identity keys, hex. */
export interface TrustConfig {
  roots: string[];
  revoked?: string[];
}
export interface Progress {
  phase: "keygen" | "sign";
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
}
export interface SignJoinParams {
  /** From openShare: the decrypted share, consumed by this call. */
  handle: string;
  sessionId: string;
  parties: string[];
  digest: Uint8Array;
}
export interface RunParams {
  keysId: string;
  /** Every party's signed join, by party id, as the coordinator's ready event carries them. */
  roster: Record<string, SignedJoin>;
  trust: TrustConfig;
}
export interface KeygenParams extends RunParams {
  preParams: Uint8Array;
  /** The share leaves the worker only as a backup under this password. */
  protect: { password: string; iterations?: number };
}
export type SignParams = RunParams;
export interface KeygenResult {
  /** The share as a password backup (ciphertext): safe to store and to show. */
  backup: string;
  info: ShareRecordInfo;
  publicKey: Uint8Array;
  address: string;
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
  /** Resolves with tss.wasm's version once the worker runs it. */
  readonly ready: Promise<{ version: string; go: string; tssLib: string }>;

  /** url: tss-worker.js (tss.wasm and wasm_exec.js beside it, or ?wasm=). */
  constructor(url: string | URL) {
    this.worker = new Worker(url);
    this.ready = new Promise((resolve, reject) => {
      this.worker.onmessage = (ev: MessageEvent) => {
        const m = ev.data;
        if (m.event === "ready") {
          this.worker.onmessage = (e: MessageEvent) => this.onMessage(e.data);
          resolve(m.version);
        } else if (m.event === "fatal") {
          reject(TsskitError.from(m.error));
        }
      };
      this.worker.onerror = (e: ErrorEvent) => reject(new TsskitError("worker", e.message || "worker failed to load"));
    });
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
    const promise = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, handlers });
    });
    this.worker.postMessage({ id, op, ...args }, transfer);
    return { id, promise };
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
  /** A seat for a signing with an open share (the handle is consumed). */
  prepareSign(params: SignJoinParams): Promise<PreparedSeat> {
    return this.request<PreparedSeat>("prepareSign", { params }).promise;
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
  private run<T>(op: string, params: RunParams, handlers: RunHandlers): WorkerRun<T> {
    const { id, promise } = this.request<T>(op, { params }, [], handlers);
    return {
      result: promise,
      deliver: (envelope) => this.worker.postMessage({ op: "deliver", runId: id, envelope }),
      cancel: () => this.worker.postMessage({ op: "cancel", runId: id }),
    };
  }
  /** One 1024-bit safe prime; abort with the signal. */
  safePrime(signal?: AbortSignal): Promise<Uint8Array> {
    const { id, promise } = this.request<Uint8Array>("safePrime");
    signal?.addEventListener("abort", () => this.worker.postMessage({ op: "abort", target: id }), { once: true });
    return promise;
  }
  /** Benchmarks only: one safe prime the plain way (math/big, tss-lib style). */
  safePrimeNaive(): Promise<Uint8Array> {
    return this.request<Uint8Array>("safePrimeNaive").promise;
  }
  assemblePreParams(primes: Uint8Array[]): Promise<Uint8Array> {
    return this.request<Uint8Array>("assemblePreParams", { primes }).promise;
  }
  validatePreParams(preParams: Uint8Array): Promise<void> {
    return this.request<void>("validatePreParams", { preParams }).promise;
  }
  terminate(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new TsskitError("canceled", "worker terminated"));
    this.pending.clear();
  }
}

/**
 * Pre-parameters made in parallel: each worker searches safe primes until
 * four (sometimes five) are found, then one worker assembles them.
 */
export async function generatePreParams(workers: TssWorker[], opts: { signal?: AbortSignal; onPrime?(found: number): void } = {}): Promise<Uint8Array> {
  if (workers.length === 0) throw new TsskitError("invalid_argument", "no workers");
  const primes: Uint8Array[] = [];
  const stop = new AbortController();
  opts.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  let need = 4;
  try {
    for (;;) {
      while (primes.length < need) {
        const missing = need - primes.length;
        const found = await Promise.all(workers.slice(0, Math.max(1, Math.min(workers.length, missing))).map((w) => w.safePrime(stop.signal)));
        for (const p of found) {
          primes.push(p);
          opts.onPrime?.(primes.length);
        }
      }
      try {
        return await workers[0]!.assemblePreParams(primes);
      } catch (e) {
        if (TsskitError.from(e).code !== "need_more_primes") throw e;
        need = primes.length + 1;
      }
    }
  } finally {
    stop.abort();
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
