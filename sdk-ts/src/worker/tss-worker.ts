// tss-worker.js: runs tss.wasm in a Web Worker and speaks a small message
// protocol with the page, so that protocol code and every secret stay off
// the UI thread. Built with esbuild into one classic worker script, with
// Go's wasm_exec.js bundled in (make wasm); each worker is its own wasm
// instance. The page starts it from a Blob of the script's pinned bytes.
//
// What never leaves the worker: the password-derived key, a decrypted
// share record, the device identity key, session keys, safe primes and
// pre-parameters. The page sends passwords and backups (ciphertext) in and
// gets public data, ciphertext, handles and counts back.
//
// Page -> worker: {id, op, ...args}
//   init {wasmUrl, integrity}                  first: fetch tss.wasm (pinned unless integrity is null) and run it
//   version
//   prepareKeygen {params}                    seat for a keygen: session keys + a new device identity
//   openShare {backup, password}              decrypt a backup; the record stays here under a handle
//   checkShare {backup, password}             decrypt, check, forget: the record's public part
//   rewrapShare {backup, oldPassword, newPassword, iterations}
//   closeShare {handle}
//   prepareSign {params: {handle, sessionId, parties, digest, path?}}
//   prepareReshare {params: {handle, sessionId, parties, reshare, signersNeeded, asked?, abandon?, earlier?: {handle, sessionId}}}   (the handles are consumed)
//   releaseSessionKeys {keysId}
//   keygen {params: {keysId, roster, trust, preParams: {handle}, protect: {password, iterations}}}   (a run)
//   sign {params: {keysId, roster, trust}}                                                         (a run)
//   reshare {params: {keysId, roster, trust, preParams: {handle}, protect: {password, iterations}}}  (a run: the new
//           share comes back as a backup, and stays open here under a handle for verifyStoredAcks)
//   verifyStoredAcks {handle, sessionId, epoch, acks}   a reshare's Completed event against the new share
//   settle {params: {step, sessionId, epoch, active?: handle, pending?: handle, silent?, frozen?, dropped?, words?}}
//           a settle step of a run in limbo: -> {statement?, held} (the handles stay open)
// Recovery (the device identity key stays here, or leaves sealed under the password):
//   newRecoveryDevice {seal?: {password, iterations, walletId, partyId, epoch}} -> {deviceId, identityKey, sealed?}
//   openRecoveryDevice {sealed, password} -> {deviceId, identityKey}   | releaseRecoveryDevice {deviceId}
//   kitAuthorization {params: {code, deviceId, walletId, epoch, partyId, expiresAtMs, kit?}}
//   parseAuthorization {file} | checkAuthorization {params}
//   prepareRecovery {params: {sessionId, parties, reshare, signersNeeded, authorization, deviceId}}   (the device is consumed)
//   deliver {runId, envelope} | cancel {runId}
// Pre-parameters (src/worker/preparams.ts), by handle and count only:
//   openPrimes -> {collection} | closePrimes {collection}
//   safePrime {collection}      find one here, add it: {primes: n}
//   safePrime {to: MessagePort} find one here, post it on the port to the collecting worker: null
//   safePrime {}                find one and forget it (benchmarks): null
//   receivePrime {collection, from: MessagePort}   one prime from another worker: {primes: n}
//   abort {target}              stops a safePrime or receivePrime
//   assemblePreParams {collection, pool?: {db}}   -> {handle} | {stored: n}   (need_more_primes: find one more)
//   takePreParams {pool: {db}}  -> {handle | null, dropped}   countPreParams {pool: {db}} -> n
//   validatePreParams {handle} | releasePreParams {handle}
//   safePrimeSeeded {seed, naive?} (benchmarks) -> {candidates, tested}
// Worker -> page:
//   {event: "ready", version} once the wasm runs; {event: "fatal", error} if it cannot start
//   {id, ok: true, result} | {id, ok: false, error: {name, code, message, culprits}}
//   {id, event: "envelope", envelope} | {id, event: "progress", progress}   (runs)
// Worker -> worker, on a port the page made for it: {prime} (its buffer transferred).
import { inspectRecord, openBackup, protect, MIN_ITERATIONS, type ShareRecordInfo } from "../backup.js";
import { fetchPinned } from "../integrity.js";
import { WorkerPreParams } from "./preparams.js";
import { openSealedDevice, sealDevice } from "../recovery.js";

// Go is wasm_exec.js's, which esbuild puts before this code (--inject).
declare const self: DedicatedWorkerGlobalScope & { tsskit: any; Go: any };

const runs = new Map<number, { deliver(e: Uint8Array): unknown; cancel(): void }>();
const aborts = new Map<number, AbortController>();
const preParams = new WorkerPreParams({
  safePrime: (signal) => self.tsskit.safePrime({ signal }) as Promise<Uint8Array>,
  assemble: (primes) => self.tsskit.assemblePreParams(primes) as Promise<Uint8Array>,
  validate: (pre) => self.tsskit.validatePreParams(pre) as Promise<void>,
});
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
  const out: Record<string, unknown> = {
    name,
    code: (e && e.code) || codes[name] || "internal",
    message: String((e && e.message) || e),
    culprits: (e && e.culprits) || [],
  };
  // An IntegrityError's details (public hashes and a URL) let the page rebuild it.
  if (name === "IntegrityError") for (const k of ["resource", "url", "expected", "actual"]) out[k] = e[k];
  return out;
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

/** An abortable request: its controller is found by id (the page's {op: "abort", target}). */
function abortable<T>(id: number, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  aborts.set(id, ac);
  let p: Promise<T>;
  try {
    p = f(ac.signal);
  } catch (e) {
    p = Promise.reject(e);
  }
  return p.finally(() => aborts.delete(id));
}

function startRun(id: number, kind: "keygen" | "sign" | "reshare", params: any, finish?: (r: any) => Promise<unknown>) {
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
async function sealKeygen(
  r: { share: Uint8Array; publicKey: Uint8Array; address: string; chainCode: Uint8Array }, p: { password: string; iterations?: number },
) {
  try {
    const info = inspect(r.share);
    const backup = await protect(r.share, p.password, { iterations: p.iterations ?? MIN_ITERATIONS });
    return { backup, info, publicKey: r.publicKey, address: r.address, chainCode: r.chainCode };
  } finally {
    r.share.fill(0);
  }
}

/**
 * A finished reshare: the new share is encrypted under the password, and
 * kept open here (zeroed on closeShare) so that the Completed event's
 * acknowledgements can be checked against it without a second key
 * derivation; the page gets the backup, the public part and a handle.
 */
async function sealReshare(
  r: { share: Uint8Array; publicKey: Uint8Array; address: string; epoch: number; storedAck: Uint8Array }, p: { password: string; iterations?: number },
) {
  try {
    const info = inspect(r.share);
    const backup = await protect(r.share, p.password, { iterations: p.iterations ?? MIN_ITERATIONS });
    const h = randomHandle();
    opened.set(h, r.share);
    return { backup, info, publicKey: r.publicKey, address: r.address, epoch: r.epoch, storedAck: r.storedAck, handle: h };
  } catch (e) {
    r.share.fill(0);
    throw e;
  }
}

function takeOpened(h: unknown): Uint8Array {
  const plain = typeof h === "string" ? opened.get(h) : undefined;
  if (!plain) throw Object.assign(new Error(`no open share ${JSON.stringify(h)} in this worker`), { code: "invalid_argument" });
  opened.delete(h as string);
  return plain;
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
    case "prepareReshare": {
      const { handle: h, earlier, ...rest } = m.params ?? {};
      const plain = takeOpened(h);
      const pending = earlier ? takeOpened(earlier.handle) : undefined;
      try {
        return reply(id, unwrap(self.tsskit.prepareReshare({ ...rest, share: plain, ...(pending ? { pending, pendingSession: earlier.sessionId } : {}) })));
      } finally {
        plain.fill(0);
        pending?.fill(0);
      }
    }
    case "verifyStoredAcks": {
      const plain = opened.get(m.handle);
      if (!plain) throw Object.assign(new Error(`no open share ${JSON.stringify(m.handle)} in this worker`), { code: "invalid_argument" });
      return reply(id, unwrap(self.tsskit.verifyStoredAcks({ sessionId: m.sessionId, share: plain, epoch: m.epoch, acks: m.acks ?? {} })));
    }
    case "settle": {
      const { active, pending, ...rest } = m.params ?? {};
      const open = (h: unknown) => {
        if (h === undefined || h === null) return undefined;
        const plain = opened.get(h as string);
        if (!plain) throw Object.assign(new Error(`no open share ${JSON.stringify(h)} in this worker`), { code: "invalid_argument" });
        return plain;
      };
      const r = unwrap(self.tsskit.settle({ ...rest, active: open(active), pending: open(pending) }));
      return reply(id, { statement: r.statement, held: r.held });
    }
    case "newRecoveryDevice": {
      const d = unwrap(self.tsskit.newRecoveryDevice({ withSeed: !!m.seal }));
      const seed: Uint8Array | undefined = d.seed;
      if (!m.seal) return reply(id, { deviceId: d.deviceId, identityKey: d.identityKey });
      const s = m.seal;
      return reply(
        id,
        sealDevice(seed!, s.password, { walletId: s.walletId, partyId: s.partyId, epoch: s.epoch, identity: d.identityKey }, s.iterations ?? MIN_ITERATIONS)
          .then((sealed) => ({ deviceId: d.deviceId, identityKey: d.identityKey, sealed }))
          .catch((e) => {
            self.tsskit.releaseRecoveryDevice(d.deviceId);
            throw e;
          })
          .finally(() => seed!.fill(0)),
      );
    }
    case "openRecoveryDevice":
      return reply(
        id,
        openSealedDevice(m.sealed, m.password).then(({ seed, info }) => {
          try {
            return unwrap(self.tsskit.openRecoveryDevice(seed, info.identity));
          } finally {
            seed.fill(0);
          }
        }),
      );
    case "releaseRecoveryDevice":
      return reply(id, unwrap(self.tsskit.releaseRecoveryDevice(m.deviceId)));
    case "kitAuthorization":
      return reply(id, unwrap(self.tsskit.kitAuthorization(m.params)));
    case "parseAuthorization":
      return reply(id, unwrap(self.tsskit.parseAuthorization(m.file)));
    case "checkAuthorization":
      return reply(id, unwrap(self.tsskit.checkAuthorization(m.params)));
    case "prepareRecovery": {
      const { earlier, ...rest } = m.params ?? {};
      const pending = earlier ? takeOpened(earlier.handle) : undefined;
      try {
        return reply(id, unwrap(self.tsskit.prepareRecovery({ ...rest, ...(pending ? { pending, pendingSession: earlier.sessionId } : {}) })));
      } finally {
        pending?.fill(0);
      }
    }
    case "releaseSessionKeys":
      return reply(id, unwrap(self.tsskit.releaseSessionKeys(m.keysId)));
    case "keygen": {
      const { protect: p, preParams: ref, ...params } = m.params ?? {};
      if (!p || typeof p.password !== "string") {
        throw Object.assign(new Error("keygen: protect.password is required: the share leaves the worker only encrypted"), { code: "invalid_argument" });
      }
      // The set is this worker's (assembled or taken from the pool here);
      // the engine copies it when the run starts.
      const pre = preParams.consume(ref?.handle);
      try {
        return startRun(id, "keygen", { ...params, preParams: pre }, (r) => sealKeygen(r, p));
      } finally {
        pre.fill(0);
      }
    }
    case "sign":
      return startRun(id, "sign", m.params);
    case "reshare": {
      const { protect: p, preParams: ref, ...params } = m.params ?? {};
      if (!p || typeof p.password !== "string") {
        throw Object.assign(new Error("reshare: protect.password is required: the new share leaves the worker only encrypted"), { code: "invalid_argument" });
      }
      const pre = preParams.consume(ref?.handle);
      try {
        return startRun(id, "reshare", { ...params, preParams: pre }, (r) => sealReshare(r, p));
      } finally {
        pre.fill(0);
      }
    }
    case "deliver": {
      const run = runs.get(m.runId);
      if (run) unwrap(run.deliver(m.envelope));
      return;
    }
    case "cancel": {
      runs.get(m.runId)?.cancel();
      return;
    }
    case "openPrimes":
      return reply(id, { collection: preParams.openCollection() });
    case "closePrimes":
      return reply(id, preParams.closeCollection(m.collection));
    case "safePrime": {
      if (m.to instanceof MessagePort) return reply(id, abortable(id, (signal) => preParams.findFor(m.to, signal)).then(() => null));
      if (m.collection !== undefined) return reply(id, abortable(id, (signal) => preParams.findInto(m.collection, signal)).then((n) => ({ primes: n })));
      return reply(id, abortable(id, (signal) => preParams.find(signal)).then(() => null));
    }
    case "receivePrime": {
      if (!(m.from instanceof MessagePort)) throw Object.assign(new Error("receivePrime: from must be a MessagePort"), { code: "invalid_argument" });
      return reply(id, abortable(id, (signal) => preParams.receive(m.collection, m.from, signal)).then((n) => ({ primes: n })));
    }
    case "abort": {
      aborts.get(m.target)?.abort();
      return;
    }
    case "safePrimeSeeded":
      // Benchmarks time it: what the search did, no prime.
      return reply(id, self.tsskit.safePrimeSeeded({ seed: m.seed, naive: m.naive === true }) as Promise<{ candidates: number; tested: number }>);
    case "assemblePreParams":
      return reply(id, preParams.assemble(m.collection, m.pool));
    case "takePreParams":
      return reply(id, preParams.take(m.pool));
    case "countPreParams":
      return reply(id, preParams.count(m.pool));
    case "validatePreParams":
      return reply(id, preParams.validate(m.handle));
    case "releasePreParams":
      return reply(id, preParams.release(m.handle));
    default:
      throw Object.assign(new Error(`unknown op ${op}`), { code: "invalid_argument" });
  }
}

// The page's first message says where tss.wasm is and what it must hash
// to; messages that arrive before the wasm runs wait for it.
const pending: unknown[] = [];
let ready = false;
let started = false;
self.onmessage = (ev: MessageEvent) => {
  const m = ev.data;
  if (!started && m && m.op === "init") {
    started = true;
    void start(m.wasmUrl, m.integrity ?? null);
    return;
  }
  if (!ready) {
    pending.push(m);
    return;
  }
  dispatch(m);
};

function dispatch(m: any) {
  try {
    handle(m);
  } catch (e) {
    if (m.id !== undefined) self.postMessage({ id: m.id, ok: false, error: errorJSON(e) });
    else if (m.runId !== undefined) self.postMessage({ id: m.runId, event: "error", error: errorJSON(e) });
  }
}

/** Fetches tss.wasm (refused unless it matches integrity, when given) and runs it. */
async function start(wasmUrl: unknown, integrity: string | null) {
  try {
    if (typeof wasmUrl !== "string") throw Object.assign(new Error("init: wasmUrl must be a URL string"), { code: "invalid_argument" });
    const go = new self.Go();
    const res = await fetchPinned(wasmUrl, integrity, "wasm");
    const { instance } = await WebAssembly.instantiateStreaming(res, go.importObject);
    go.run(instance); // returns when the Go program exits; it never does
    ready = true;
    self.postMessage({ event: "ready", version: self.tsskit.version() });
    for (const m of pending.splice(0)) dispatch(m);
  } catch (e) {
    self.postMessage({ event: "fatal", error: errorJSON(e) });
  }
}
