// The loader: fetches tss-worker.js and checks it against its pinned hash,
// starts workers from a Blob of exactly those bytes (each its own tss.wasm
// instance, which the worker fetches pinned as well), reports load
// progress, and shares one pool per page, URLs and pins among every client
// that asks, terminating it when the last one releases it.
import { BUILD_INTEGRITY } from "./build-integrity";
import { TsskitError } from "./errors.js";
import { checkBytes, fetchPinned, isPin, type Integrity } from "./integrity.js";
import { TssWorker } from "./worker-client.js";

export interface LoaderOptions {
  /** URL of tss.wasm; tss-worker.js is expected beside it unless workerUrl says otherwise. */
  wasmUrl: string | URL;
  workerUrl?: string | URL;
  /**
   * The hashes tss.wasm and tss-worker.js must have. Default: the ones
   * this SDK was built with (make wasm writes them); false turns pinning
   * off, for development setups that rebuild the wasm often.
   */
  integrity?: Integrity | false;
  /** Workers to start (parallel safe-prime search); default: min(4, hardwareConcurrency), at least 2. */
  workers?: number;
  /** Called as workers become ready: loaded of total. */
  onProgress?(loaded: number, total: number): void;
}

export interface TssPool {
  workers: TssWorker[];
  version: { version: string; go: string; tssLib: string };
  /**
   * Terminates workers[i] and puts a fresh one in its place: the way to stop
   * a keygen at once, since a worker reads a cancel message only between
   * protocol rounds. Whatever else ran in that worker fails with "canceled",
   * and what it held (a set of pre-parameters, an open share) is gone.
   */
  replace(i: number): Promise<void>;
  /** Give the pool back; the last release terminates the workers. */
  release(): void;
}

interface Shared {
  refs: number;
  pool: Promise<{ workers: TssWorker[]; version: TssPool["version"]; spawn(): TssWorker; dispose(): void }>;
}

const shared = new Map<string, Shared>();

function defaultWorkers(): number {
  const n = typeof navigator !== "undefined" && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 2;
  return Math.max(2, Math.min(4, n));
}

function base(): string {
  return typeof location !== "undefined" ? location.href : "http://localhost/";
}

/** workerScriptUrl resolves the worker script's URL: workerUrl, or tss-worker.js beside the wasm. */
export function workerScriptUrl(wasmUrl: string | URL, workerUrl?: string | URL): URL {
  const wasm = new URL(wasmUrl, base());
  return new URL(workerUrl ?? "tss-worker.js", workerUrl ? base() : wasm);
}

/**
 * The pins to load with: the option's, else the build's own; null when
 * pinning is turned off. A build without pins (made before `make wasm`)
 * refuses to guess.
 */
export function resolveIntegrity(opt: Integrity | false | undefined): Integrity | null {
  if (opt === false) return null;
  const pins = opt ?? BUILD_INTEGRITY;
  if (!pins) {
    throw new TsskitError(
      "integrity",
      "this build of @tsskit/sdk has no pinned hashes for tss.wasm and tss-worker.js (it was built before `make wasm`): pass integrity: {wasm, worker} (public/tsskit-integrity.json), or integrity: false to load unpinned",
    );
  }
  if (typeof pins !== "object") throw new TsskitError("invalid_argument", "integrity: want {wasm, worker} or false");
  for (const k of ["wasm", "worker"] as const) {
    if (!isPin(pins[k])) throw new TsskitError("invalid_argument", `integrity.${k}: want a Subresource Integrity hash such as "sha384-<base64 of 48 bytes>"`);
  }
  return { wasm: pins.wasm, worker: pins.worker };
}

/**
 * Fetches tss-worker.js (checked against its pin), and returns a Blob URL
 * of those bytes that new workers start from, so a worker always runs the
 * script that was checked, never whatever the URL serves later.
 */
async function workerBlobUrl(url: URL, pin: string | null): Promise<string> {
  try {
    const res = await fetchPinned(url.href, pin, "worker");
    const bytes = await res.arrayBuffer();
    if (pin) await checkBytes(bytes, pin, "worker", url.href);
    return URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));
  } catch (e) {
    throw TsskitError.from(e);
  }
}

/**
 * Starts n workers, not shared with anyone: the caller terminates them
 * (dispose). loadTss is the shared way; tests and benchmarks use this.
 */
export async function startTssWorkers(opts: LoaderOptions): Promise<{
  workers: TssWorker[];
  version: TssPool["version"];
  /** A new worker from the same checked script and pinned wasm. */
  spawn(): TssWorker;
  /** Terminates every worker in workers and forgets the script. */
  dispose(): void;
}> {
  const pins = resolveIntegrity(opts.integrity);
  const wasm = { url: new URL(opts.wasmUrl, base()).href, integrity: pins?.wasm ?? null };
  const script = await workerBlobUrl(workerScriptUrl(opts.wasmUrl, opts.workerUrl), pins?.worker ?? null);
  const n = opts.workers ?? defaultWorkers();
  let disposed = false;
  const spawn = () => {
    // After dispose the script's URL is revoked, and nobody would terminate it.
    if (disposed) throw new TsskitError("closed", "the workers were disposed");
    return new TssWorker(script, wasm);
  };
  const workers = Array.from({ length: n }, spawn);
  const dispose = () => {
    disposed = true;
    workers.forEach((w) => w.terminate());
    URL.revokeObjectURL(script);
  };
  let loaded = 0;
  opts.onProgress?.(0, n);
  try {
    const versions = await Promise.all(
      workers.map((w) =>
        w.ready.then((v) => {
          opts.onProgress?.(++loaded, n);
          return v;
        }),
      ),
    );
    return { workers, version: versions[0]!, spawn, dispose };
  } catch (e) {
    dispose();
    throw TsskitError.from(e);
  }
}

/** loadTss returns the page's shared pool for these URLs and pins, starting it if needed. */
export async function loadTss(opts: LoaderOptions): Promise<TssPool> {
  const pins = resolveIntegrity(opts.integrity);
  const key = JSON.stringify([workerScriptUrl(opts.wasmUrl, opts.workerUrl).href, new URL(opts.wasmUrl, base()).href, pins]);
  let s = shared.get(key);
  if (!s) {
    const pool = startTssWorkers({ ...opts, integrity: pins ?? false });
    pool.catch(() => shared.delete(key));
    s = { refs: 0, pool };
    shared.set(key, s);
  } else {
    opts.onProgress?.(0, 1);
  }
  s.refs++;
  const entry = s;
  let p;
  try {
    p = await entry.pool;
  } catch (e) {
    entry.refs--;
    throw e;
  }
  if (opts.onProgress && shared.get(key) === entry) opts.onProgress(p.workers.length, p.workers.length);
  let released = false;
  return {
    workers: p.workers,
    version: p.version,
    async replace(i: number) {
      // A cancel that comes after close(): nothing to replace.
      if (released) throw new TsskitError("closed", "the client is closed");
      const old = p.workers[i];
      if (!old) return;
      const fresh = p.spawn();
      p.workers[i] = fresh;
      old.terminate();
      await fresh.ready;
    },
    release() {
      if (released) return;
      released = true;
      if (--entry.refs === 0 && shared.get(key) === entry) {
        shared.delete(key);
        p.dispose();
      }
    },
  };
}
