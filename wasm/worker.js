// tss-worker.js: runs tss.wasm in a Web Worker and speaks a small message
// protocol with the page, so protocol code never runs on the UI thread.
// Each worker is its own wasm instance; start several to search safe primes
// in parallel.
//
// Page -> worker: {id, op, ...args}
//   op: version | createSessionKeys | releaseSessionKeys {keysId}
//       keygen {params} | sign {params}          (long-running "runs")
//       deliver {runId, envelope} | cancel {runId}
//       safePrime | abort {target}               (abort a safePrime by id)
//       safePrimeNaive                           (the benchmarks' math/big baseline)
//       assemblePreParams {primes} | validatePreParams {preParams} | inspectShare {share}
// Worker -> page:
//   {event: "ready", version} once the wasm runs; {event: "fatal", error} if it cannot start
//   {id, ok: true, result} | {id, ok: false, error: {name, code, message, culprits}}
//   {id, event: "envelope", envelope} | {id, event: "progress", progress}   (runs)
// The wasm's location: ?wasm=<url> on the worker's URL, else tss.wasm beside
// this script; wasm_exec.js is loaded from beside this script.
/* eslint-env worker */
'use strict';

const here = new URL(self.location.href);
const wasmURL = new URL(here.searchParams.get('wasm') || 'tss.wasm', here);
importScripts(new URL('wasm_exec.js', here).href);

const runs = new Map(); // runId -> {deliver, cancel}
const aborts = new Map(); // safePrime id -> AbortController

// Synchronous wasm methods return {error} instead of throwing (Go cannot
// throw into JS); unwrap turns that back into an exception.
function unwrap(v) {
  if (v && typeof v === 'object' && v.error instanceof Error) throw v.error;
  return v;
}

function errorJSON(e) {
  return {
    name: (e && e.name) || 'Error',
    code: (e && e.code) || 'internal',
    message: String((e && e.message) || e),
    culprits: (e && e.culprits) || [],
  };
}

function reply(id, p, transfer) {
  Promise.resolve(p).then(
    (result) => self.postMessage({ id, ok: true, result }, transfer ? transfer(result) : []),
    (e) => self.postMessage({ id, ok: false, error: errorJSON(e) }),
  );
}

function startRun(id, kind, params) {
  const run = unwrap(tsskit[kind](params, {
    onEnvelope: (envelope) => self.postMessage({ id, event: 'envelope', envelope }, [envelope.buffer]),
    onProgress: (progress) => self.postMessage({ id, event: 'progress', progress }),
  }));
  runs.set(id, run);
  reply(id, run.result.finally(() => runs.delete(id)));
}

function handle(m) {
  const { id, op } = m;
  switch (op) {
    case 'version':
      return reply(id, unwrap(tsskit.version()));
    case 'createSessionKeys':
      return reply(id, unwrap(tsskit.createSessionKeys()));
    case 'releaseSessionKeys':
      return reply(id, unwrap(tsskit.releaseSessionKeys(m.keysId)));
    case 'keygen':
    case 'sign':
      return startRun(id, op, m.params);
    case 'deliver': {
      const run = runs.get(m.runId);
      if (run) unwrap(run.deliver(m.envelope));
      return;
    }
    case 'cancel': {
      const run = runs.get(m.runId);
      if (run) run.cancel();
      return;
    }
    case 'safePrime': {
      const ac = new AbortController();
      aborts.set(id, ac);
      return reply(id, tsskit.safePrime({ signal: ac.signal }).finally(() => aborts.delete(id)));
    }
    case 'safePrimeNaive':
      return reply(id, tsskit.safePrimeNaive());
    case 'abort': {
      const ac = aborts.get(m.target);
      if (ac) ac.abort();
      return;
    }
    case 'assemblePreParams':
      return reply(id, tsskit.assemblePreParams(m.primes));
    case 'validatePreParams':
      return reply(id, tsskit.validatePreParams(m.preParams));
    case 'inspectShare':
      return reply(id, unwrap(tsskit.inspectShare(m.share)));
    default:
      throw Object.assign(new Error(`unknown op ${op}`), { code: 'invalid_argument' });
  }
}

// Messages that arrive before the wasm runs wait for it.
const pending = [];
let ready = false;
self.onmessage = (ev) => {
  if (!ready) {
    pending.push(ev.data);
    return;
  }
  dispatch(ev.data);
};

function dispatch(m) {
  try {
    handle(m);
  } catch (e) {
    if (m.id !== undefined) self.postMessage({ id: m.id, ok: false, error: errorJSON(e) });
    else if (m.runId !== undefined) self.postMessage({ id: m.runId, event: 'error', error: errorJSON(e) });
  }
}

(async () => {
  try {
    const go = new Go();
    const { instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
    go.run(instance); // returns when the Go program exits; it never does
    ready = true;
    self.postMessage({ event: 'ready', version: tsskit.version() });
    for (const m of pending.splice(0)) dispatch(m);
  } catch (e) {
    self.postMessage({ event: 'fatal', error: errorJSON(e) });
  }
})();
