// TssWorker drives one tss-worker.js (one tss.wasm instance) through its
// message protocol (see wasm/worker.js): requests by id, and for keygen and
// sign "runs" a stream of envelope and progress events until the result.
import { TsskitError } from "./errors.js";

export interface PublicKeys {
  x25519: Uint8Array;
  ed25519: Uint8Array;
}
export interface SessionKeys extends PublicKeys {
  keysId: string;
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
export interface SessionParams {
  sessionId: string;
  self: string;
  parties: string[];
  keysId: string;
  publicKeys: Record<string, PublicKeys>;
}
export interface KeygenParams extends SessionParams {
  walletId: string;
  signersNeeded: number;
  preParams: Uint8Array;
}
export interface SignParams extends SessionParams {
  share: Uint8Array;
  digest: Uint8Array;
}
export interface KeygenResult {
  share: Uint8Array;
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
    else p.reject(TsskitError.from(m.error));
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
  createSessionKeys(): Promise<SessionKeys> {
    return this.request<SessionKeys>("createSessionKeys").promise;
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
  private run<T>(op: string, params: SessionParams, handlers: RunHandlers): WorkerRun<T> {
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
