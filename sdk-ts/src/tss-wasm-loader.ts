// The loader: starts tss-worker.js workers (each its own tss.wasm instance,
// loaded with instantiateStreaming), reports load progress, and shares one
// pool per page and URL among every client that asks, terminating it when
// the last one releases it.
import { TsskitError } from "./errors.js";
import { TssWorker } from "./worker-client.js";

export interface LoaderOptions {
  /** URL of tss.wasm; tss-worker.js and wasm_exec.js are expected beside it unless workerUrl says otherwise. */
  wasmUrl: string | URL;
  workerUrl?: string | URL;
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
   * protocol rounds. Whatever else ran in that worker fails with "canceled".
   */
  replace(i: number): Promise<void>;
  /** Give the pool back; the last release terminates the workers. */
  release(): void;
}

interface Shared {
  refs: number;
  pool: Promise<{ workers: TssWorker[]; version: TssPool["version"] }>;
}

const shared = new Map<string, Shared>();

function defaultWorkers(): number {
  const n = typeof navigator !== "undefined" && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 2;
  return Math.max(2, Math.min(4, n));
}

/** workerScriptUrl resolves the worker URL and passes it the wasm's. */
export function workerScriptUrl(wasmUrl: string | URL, workerUrl?: string | URL): URL {
  const base = typeof location !== "undefined" ? location.href : "http://localhost/";
  const wasm = new URL(wasmUrl, base);
  const worker = new URL(workerUrl ?? "tss-worker.js", workerUrl ? base : wasm);
  worker.searchParams.set("wasm", wasm.href);
  return worker;
}

/** loadTss returns the page's shared pool for these URLs, starting it if needed. */
export async function loadTss(opts: LoaderOptions): Promise<TssPool> {
  const url = workerScriptUrl(opts.wasmUrl, opts.workerUrl);
  const key = url.href;
  let s = shared.get(key);
  if (!s) {
    const n = opts.workers ?? defaultWorkers();
    const pool = (async () => {
      const workers = Array.from({ length: n }, () => new TssWorker(url));
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
        return { workers, version: versions[0]! };
      } catch (e) {
        workers.forEach((w) => w.terminate());
        shared.delete(key);
        throw TsskitError.from(e);
      }
    })();
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
  if (!opts.onProgress) {
    // nothing
  } else if (shared.get(key) === entry) {
    opts.onProgress(p.workers.length, p.workers.length);
  }
  let released = false;
  return {
    workers: p.workers,
    version: p.version,
    async replace(i: number) {
      const old = p.workers[i];
      if (!old) return;
      const fresh = new TssWorker(url);
      p.workers[i] = fresh;
      old.terminate();
      await fresh.ready;
    },
    release() {
      if (released) return;
      released = true;
      if (--entry.refs === 0 && shared.get(key) === entry) {
        shared.delete(key);
        p.workers.forEach((w) => w.terminate());
      }
    },
  };
}
