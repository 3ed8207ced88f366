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
