// tss-worker.js: runs tss.wasm in a Web Worker and speaks a small message
// protocol with the page, so that protocol code and every secret stay off
// the UI thread. Built with esbuild into one classic worker script
// (make wasm); each worker is its own wasm instance.
//
// What never leaves the worker: the password-derived key, a decrypted
// share record, the device identity key, session keys. The page sends
// passwords and backups (ciphertext) in and gets public data and
// ciphertext back.
//
// Page -> worker: {id, op, ...args}
//   version
//   prepareKeygen {params}                    seat for a keygen: session keys + a new device identity
//   openShare {backup, password}              decrypt a backup; the record stays here under a handle
//   checkShare {backup, password}             decrypt, check, forget: the record's public part
//   rewrapShare {backup, oldPassword, newPassword, iterations}
//   closeShare {handle}
//   prepareSign {params: {handle, sessionId, parties, digest}}
//   releaseSessionKeys {keysId}
//   keygen {params: {keysId, roster, trust, preParams, protect: {password, iterations}}}   (a run)
//   sign {params: {keysId, roster, trust}}                                               (a run)
//   deliver {runId, envelope} | cancel {runId}
//   safePrime | abort {target} | safePrimeNaive | assemblePreParams {primes} | validatePreParams {preParams}
// Worker -> page:
//   {event: "ready", version} once the wasm runs; {event: "fatal", error} if it cannot start
//   {id, ok: true, result} | {id, ok: false, error: {name, code, message, culprits}}
//   {id, event: "envelope", envelope} | {id, event: "progress", progress}   (runs)
// The wasm's location: ?wasm=<url> on the worker's URL, else tss.wasm beside
// this script; wasm_exec.js is loaded from beside this script.
import { inspectRecord, openBackup, protect, MIN_ITERATIONS, type ShareRecordInfo } from "../backup.js";

declare const self: DedicatedWorkerGlobalScope & { tsskit: any; Go: any };
declare function importScripts(...urls: string[]): void;

const here = new URL(self.location.href);
const wasmURL = new URL(here.searchParams.get("wasm") || "tss.wasm", here);
importScripts(new URL("wasm_exec.js", here).href);

const runs = new Map<number, { deliver(e: Uint8Array): unknown; cancel(): void }>();
const aborts = new Map<number, AbortController>();
// Decrypted share records, by handle, between openShare and prepareSign
// (or closeShare). Zeroed when they leave.
const opened = new Map<string, Uint8Array>();

/** Synchronous wasm methods return {error} instead of throwing. */
function unwrap<T>(v: T): T {
  const e = v && typeof v === "object" ? (v as unknown as { error?: unknown }).error : undefined;
  if (e instanceof Error) throw e;
  return v;
}

const codes: Record<string, string> = {
  WrongPasswordError: "wrong_password",
  BackupFormatError: "invalid_backup",
  EmptyPasswordError: "invalid_argument",
  CorruptRecordError: "corrupt_record",
  RangeError: "invalid_argument",
  TypeError: "invalid_argument",
};

function errorJSON(e: any) {
  const name = (e && e.name) || "Error";
  return {
    name,
    code: (e && e.code) || codes[name] || "internal",
    message: String((e && e.message) || e),
    culprits: (e && e.culprits) || [],
  };
}

function reply(id: number, p: unknown, transfer?: (r: any) => Transferable[]) {
  Promise.resolve(p).then(
    (result) => self.postMessage({ id, ok: true, result }, transfer ? transfer(result) : []),
    (e) => self.postMessage({ id, ok: false, error: errorJSON(e) }),
  );
}

function randomHandle(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The public part of a share record, after the wasm checked all of it. */
function inspect(share: Uint8Array): ShareRecordInfo {
  unwrap(self.tsskit.inspectShare(share));
  return inspectRecord(share);
}

/** Decrypts a backup and checks the record with the wasm; the caller zeroes it. */
async function decrypt(backup: string, password: string): Promise<Uint8Array> {
  const { plaintext } = await openBackup(backup, password);
  try {
    inspect(plaintext);
  } catch (e) {
    plaintext.fill(0);
    throw e;
  }
  return plaintext;
}

function startRun(id: number, kind: "keygen" | "sign", params: any, finish?: (r: any) => Promise<unknown>) {
  const run = unwrap(
    self.tsskit[kind](params, {
      onEnvelope: (envelope: Uint8Array) => self.postMessage({ id, event: "envelope", envelope }, [envelope.buffer]),
      onProgress: (progress: unknown) => self.postMessage({ id, event: "progress", progress }),
    }),
  );
  runs.set(id, run);
  const result = (run.result as Promise<unknown>).finally(() => runs.delete(id));
  reply(id, finish ? result.then(finish) : result);
}

/**
 * A finished keygen: the share is encrypted under the password here, and
 * only the backup and the record's public part go back to the page.
 */
async function sealKeygen(r: { share: Uint8Array; publicKey: Uint8Array; address: string }, p: { password: string; iterations?: number }) {
  try {
    const info = inspect(r.share);
    const backup = await protect(r.share, p.password, { iterations: p.iterations ?? MIN_ITERATIONS });
    return { backup, info, publicKey: r.publicKey, address: r.address };
  } finally {
    r.share.fill(0);
  }
}

function handle(m: any) {
  const { id, op } = m;
  switch (op) {
    case "version":
      return reply(id, unwrap(self.tsskit.version()));
    case "prepareKeygen":
      return reply(id, unwrap(self.tsskit.prepareKeygen(m.params)));
    case "openShare":
      return reply(
        id,
        decrypt(m.backup, m.password).then((plain) => {
          const h = randomHandle();
          opened.set(h, plain);
          return { handle: h, info: inspect(plain) };
        }),
      );
    case "checkShare":
      return reply(
        id,
        decrypt(m.backup, m.password).then((plain) => {
          try {
            return inspect(plain);
          } finally {
            plain.fill(0);
          }
        }),
      );
    case "rewrapShare":
      return reply(
        id,
        decrypt(m.backup, m.oldPassword).then(async (plain) => {
          try {
            const info = inspect(plain);
            return { backup: await protect(plain, m.newPassword, { iterations: m.iterations ?? MIN_ITERATIONS }), info };
          } finally {
            plain.fill(0);
          }
        }),
      );
    case "closeShare": {
      opened.get(m.handle)?.fill(0);
      opened.delete(m.handle);
      return reply(id, undefined);
    }
    case "prepareSign": {
      const { handle: h, ...rest } = m.params ?? {};
      const plain = opened.get(h);
      if (!plain) throw Object.assign(new Error(`no open share ${JSON.stringify(h)} in this worker`), { code: "invalid_argument" });
      opened.delete(h);
      try {
        return reply(id, unwrap(self.tsskit.prepareSign({ ...rest, share: plain })));
      } finally {
        plain.fill(0);
      }
    }
    case "releaseSessionKeys":
      return reply(id, unwrap(self.tsskit.releaseSessionKeys(m.keysId)));
    case "keygen": {
      const { protect: p, ...params } = m.params ?? {};
      if (!p || typeof p.password !== "string") {
        throw Object.assign(new Error("keygen: protect.password is required: the share leaves the worker only encrypted"), { code: "invalid_argument" });
      }
      return startRun(id, "keygen", params, (r) => sealKeygen(r, p));
    }
    case "sign":
      return startRun(id, "sign", m.params);
    case "deliver": {
      const run = runs.get(m.runId);
      if (run) unwrap(run.deliver(m.envelope));
      return;
    }
    case "cancel": {
      runs.get(m.runId)?.cancel();
      return;
    }
    case "safePrime": {
      const ac = new AbortController();
      aborts.set(id, ac);
      return reply(id, (self.tsskit.safePrime({ signal: ac.signal }) as Promise<unknown>).finally(() => aborts.delete(id)));
    }
    case "safePrimeNaive":
      return reply(id, self.tsskit.safePrimeNaive());
    case "abort": {
      aborts.get(m.target)?.abort();
      return;
    }
    case "assemblePreParams":
      return reply(id, self.tsskit.assemblePreParams(m.primes));
    case "validatePreParams":
      return reply(id, self.tsskit.validatePreParams(m.preParams));
    default:
      throw Object.assign(new Error(`unknown op ${op}`), { code: "invalid_argument" });
  }
}

// Messages that arrive before the wasm runs wait for it.
const pending: unknown[] = [];
let ready = false;
self.onmessage = (ev: MessageEvent) => {
  if (!ready) {
    pending.push(ev.data);
    return;
  }
  dispatch(ev.data);
};

function dispatch(m: any) {
  try {
    handle(m);
  } catch (e) {
    if (m.id !== undefined) self.postMessage({ id: m.id, ok: false, error: errorJSON(e) });
    else if (m.runId !== undefined) self.postMessage({ id: m.runId, event: "error", error: errorJSON(e) });
  }
}

(async () => {
  try {
    const go = new self.Go();
    const { instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
    go.run(instance); // returns when the Go program exits; it never does
    ready = true;
    self.postMessage({ event: "ready", version: self.tsskit.version() });
    for (const m of pending.splice(0)) dispatch(m);
  } catch (e) {
    self.postMessage({ event: "fatal", error: errorJSON(e) });
  }
})();
