// TssWorker's requests around terminate(), with a stand-in for the Web
// Worker (Node has none): a request in flight is rejected as canceled,
// one made after terminate() is rejected at once as closed rather than
// posted to a dead worker and left waiting forever, and so is `ready`
// when the worker is terminated before it loaded.
import { afterEach, beforeEach, expect, test, vi } from "vitest";

import { TssWorker } from "../../src/worker-client.js";

class FakeWorker {
  static last: FakeWorker | undefined;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  posted: Array<Record<string, unknown>> = [];
  terminated = false;
  constructor(_script: string | URL) {
    FakeWorker.last = this;
  }
  postMessage(m: Record<string, unknown>): void {
    if (this.terminated) return; // a terminated worker drops what it is sent
    this.posted.push(m);
  }
  terminate(): void {
    this.terminated = true;
  }
  /** The worker's answer to the page. */
  reply(data: unknown): void {
    this.onmessage?.({ data });
  }
}

beforeEach(() => {
  vi.stubGlobal("Worker", FakeWorker);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

function started(): { w: TssWorker; fake: FakeWorker } {
  const w = new TssWorker("tss-worker.js", { url: "http://localhost/tss.wasm", integrity: null });
  const fake = FakeWorker.last!;
  fake.reply({ event: "ready", version: { version: "test", go: "go", tssLib: "v2.0.2" } });
  return { w, fake };
}

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

test("a request answered by the worker resolves", async () => {
  const { w, fake } = started();
  await w.ready;
  const v = w.version();
  const req = fake.posted.find((m) => m.op === "version")!;
  fake.reply({ id: req.id, ok: true, result: { version: "1", go: "go", tssLib: "v2.0.2" } });
  await expect(v).resolves.toEqual({ version: "1", go: "go", tssLib: "v2.0.2" });
});

test("terminate() rejects a request in flight as canceled, and every later one at once as closed", async () => {
  const { w, fake } = started();
  await w.ready;
  const inFlight = w.version();
  w.terminate();
  await expect(inFlight).rejects.toSatisfy((e) => codeOf(e) === "canceled");
  const posted = fake.posted.length;
  const after = w.version();
  // Settles without any answer from the (dead) worker.
  await expect(after).rejects.toSatisfy((e) => codeOf(e) === "closed");
  const run = w.sign({} as never, { onEnvelope: () => {} });
  await expect(run.result).rejects.toSatisfy((e) => codeOf(e) === "closed");
  run.deliver(new Uint8Array(1)); // harmless
  run.cancel();
  expect(fake.posted.length).toBe(posted);
});

test("terminate() before the worker is ready rejects ready, so nothing awaiting it hangs", async () => {
  const w = new TssWorker("tss-worker.js", { url: "http://localhost/tss.wasm", integrity: null });
  w.terminate();
  await expect(w.ready).rejects.toSatisfy((e) => codeOf(e) === "closed");
});

// findPrimeFor: a prime found in one worker for another's collection, over
// a MessageChannel. The caller's cancel stops the search; the receive is
// stopped only once the search ended without a prime, so a prime posted
// just before the cancel still reaches the collector, and findPrimeFor
// settles only after the search has ended.
async function pair() {
  const s = started();
  const c = started();
  await s.w.ready;
  await c.w.ready;
  return { searcher: s.w, fs: s.fake, collector: c.w, fc: c.fake };
}

test("findPrimeFor: a cancel stops the search but not the receive; a prime already posted still counts", async () => {
  const { searcher, fs, collector, fc } = await pair();
  const ac = new AbortController();
  const p = searcher.findPrimeFor(collector, "c1", ac.signal);
  const search = fs.posted.find((m) => m.op === "safePrime")!;
  const recv = fc.posted.find((m) => m.op === "receivePrime")!;
  expect(search.to).toBeInstanceOf(MessagePort);
  expect(recv.from).toBeInstanceOf(MessagePort);
  ac.abort();
  expect(fs.posted.some((m) => m.op === "abort" && m.target === search.id)).toBe(true);
  expect(fc.posted.some((m) => m.op === "abort")).toBe(false);
  fs.reply({ id: search.id, ok: true, result: null }); // it had posted its prime
  let settled = false;
  void p.finally(() => (settled = true)).catch(() => {});
  await new Promise((r) => setTimeout(r, 5));
  expect(settled).toBe(false); // waits for the collector to take it
  fc.reply({ id: recv.id, ok: true, result: { primes: 5 } });
  await expect(p).resolves.toBe(5);
});

test("findPrimeFor: a search that ends without a prime stops the receive, and the cancel rejects", async () => {
  const { searcher, fs, collector, fc } = await pair();
  const ac = new AbortController();
  const p = searcher.findPrimeFor(collector, "c1", ac.signal);
  const search = fs.posted.find((m) => m.op === "safePrime")!;
  const recv = fc.posted.find((m) => m.op === "receivePrime")!;
  ac.abort();
  fs.reply({ id: search.id, ok: false, error: { code: "canceled", message: "canceled" } });
  await new Promise((r) => setTimeout(r, 0));
  expect(fc.posted.some((m) => m.op === "abort" && m.target === recv.id)).toBe(true);
  fc.reply({ id: recv.id, ok: false, error: { code: "canceled", message: "canceled" } });
  await expect(p).rejects.toSatisfy((e) => codeOf(e) === "canceled");
});

test("findPrimeFor: a collector that refuses the prime stops the search, and its error is the result", async () => {
  const { searcher, fs, collector, fc } = await pair();
  const p = searcher.findPrimeFor(collector, "c1");
  const search = fs.posted.find((m) => m.op === "safePrime")!;
  const recv = fc.posted.find((m) => m.op === "receivePrime")!;
  fc.reply({ id: recv.id, ok: false, error: { code: "invalid_argument", message: "receivePrime: the other worker sent no prime" } });
  await new Promise((r) => setTimeout(r, 0));
  expect(fs.posted.some((m) => m.op === "abort" && m.target === search.id)).toBe(true);
  fs.reply({ id: search.id, ok: false, error: { code: "canceled", message: "canceled" } });
  await expect(p).rejects.toSatisfy((e) => codeOf(e) === "invalid_argument");
});
