// generatePreParams's scheduling of the workers' safe-prime searches, with
// stand-in workers whose searches take the time a test gives them: every
// worker keeps searching while a prime is wanted (none waits for a slower
// one), the searches still under way stop once the set has enough, one
// more prime is searched when the assembly asks for it, and a cancel or a
// failure stops every search.
import { expect, test } from "vitest";

import { TsskitError } from "../../src/errors.js";
import { generatePreParams, type TssWorker } from "../../src/worker-client.js";

/** The collection of primes, in the collecting worker. */
class Collection {
  primes = 0;
  closed = false;
  assembles = 0;
  /** assemble() asks for one more prime this many times first. */
  needMore = 0;
}

/** A worker whose searches take the next of durations (ms; Infinity: until stopped). */
class FakeWorker {
  started = 0;
  stopped = 0;
  running = 0;
  found = 0;
  constructor(
    readonly col: Collection,
    private readonly durations: number[],
    private readonly failAt = -1,
  ) {}
  async openPrimes(): Promise<string> {
    return "c1";
  }
  async closePrimes(): Promise<void> {
    this.col.closed = true;
  }
  findPrimeFor(_collector: unknown, collection: string, signal?: AbortSignal): Promise<number> {
    expect(collection).toBe("c1");
    const i = this.started++;
    const ms = this.durations[i] ?? Infinity;
    this.running++;
    return new Promise<number>((resolve, reject) => {
      const end = () => {
        this.running--;
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        clearTimeout(timer);
        end();
        this.stopped++;
        reject(new TsskitError("canceled", "canceled"));
      };
      const timer =
        ms === Infinity
          ? undefined
          : setTimeout(() => {
              end();
              if (i === this.failAt) return reject(new TsskitError("internal", "the search failed"));
              this.found++;
              resolve(++this.col.primes);
            }, ms);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
  async assemblePreParams(collection: string): Promise<{ handle: string }> {
    expect(collection).toBe("c1");
    this.col.assembles++;
    if (this.col.needMore > 0) {
      this.col.needMore--;
      throw new TsskitError("need_more_primes", "no two of the safe primes are far enough apart");
    }
    return { handle: `set of ${this.col.primes}` };
  }
}

function workers(...ws: FakeWorker[]): TssWorker[] {
  return ws as unknown as TssWorker[];
}

test("a worker that finds a prime searches the next at once: a slow search does not hold the set back", async () => {
  const col = new Collection();
  // Worker b's first search would take a minute; a finds four meanwhile.
  const a = new FakeWorker(col, [5, 5, 5, 5]);
  const b = new FakeWorker(col, [60_000]);
  const seen: number[] = [];
  const set = await generatePreParams(workers(a, b), { onPrime: (n) => seen.push(n) });
  expect(set).toEqual({ handle: "set of 4" });
  expect(a.found).toBe(4);
  expect(b.stopped).toBe(1); // stopped once the set had enough
  expect(a.running + b.running).toBe(0);
  expect(seen).toEqual([1, 2, 3, 4]);
  expect(col.closed).toBe(true);
});

test("both workers search until the set has enough, then the search under way stops", async () => {
  const col = new Collection();
  // a: primes at 20, 40 and 60 ms; b: one at 50 ms, then a search that
  // would not end. Searching in rounds (both, then wait for both) never
  // ends here.
  const a = new FakeWorker(col, [20, 20, 20, 20]);
  const b = new FakeWorker(col, [50, Infinity]);
  await expect(generatePreParams(workers(a, b))).resolves.toEqual({ handle: "set of 4" });
  expect(a.found).toBe(3);
  expect(b.found).toBe(1);
  expect(b.stopped).toBe(1);
  expect(a.stopped).toBe(0);
  expect(a.running + b.running).toBe(0);
});

test("one more prime when the assembly asks for it, then the set", async () => {
  const col = new Collection();
  col.needMore = 1;
  const a = new FakeWorker(col, [5, 5, 5, 5, 5]);
  const b = new FakeWorker(col, [Infinity, Infinity]);
  const seen: number[] = [];
  await expect(generatePreParams(workers(a, b), { onPrime: (n) => seen.push(n) })).resolves.toEqual({ handle: "set of 5" });
  expect(col.assembles).toBe(2);
  expect(seen).toEqual([1, 2, 3, 4, 5]);
  expect(b.stopped).toBe(2); // one search stopped in each round
  expect(a.running + b.running).toBe(0);
});

test("a cancel stops every search and rejects as canceled", async () => {
  const col = new Collection();
  const a = new FakeWorker(col, [5, Infinity]);
  const b = new FakeWorker(col, [Infinity]);
  const ac = new AbortController();
  const p = generatePreParams(workers(a, b), { signal: ac.signal, onPrime: () => ac.abort() });
  await expect(p).rejects.toMatchObject({ code: "canceled" });
  expect(a.running + b.running).toBe(0);
  expect(col.assembles).toBe(0);
  expect(col.closed).toBe(true);
});

test("a failed search fails the set and stops the others", async () => {
  const col = new Collection();
  const a = new FakeWorker(col, [5, 5], 1);
  const b = new FakeWorker(col, [Infinity]);
  await expect(generatePreParams(workers(a, b))).rejects.toMatchObject({ code: "internal" });
  expect(b.stopped).toBe(1);
  expect(a.running + b.running).toBe(0);
  expect(col.assembles).toBe(0);
  expect(col.closed).toBe(true);
});

test("one worker: a cancel between two searches rejects as canceled, and nothing is assembled", async () => {
  const col = new Collection();
  const a = new FakeWorker(col, [5, 5, 5, 5]);
  const ac = new AbortController();
  const p = generatePreParams(workers(a), { signal: ac.signal, onPrime: (n) => n === 2 && ac.abort() });
  await expect(p).rejects.toMatchObject({ code: "canceled" });
  expect(a.found).toBe(2);
  expect(a.started).toBe(2);
  expect(col.assembles).toBe(0);
  expect(col.closed).toBe(true);
});

test("a signal aborted before the call starts nothing", async () => {
  const col = new Collection();
  const a = new FakeWorker(col, [5]);
  const ac = new AbortController();
  ac.abort();
  await expect(generatePreParams(workers(a), { signal: ac.signal })).rejects.toMatchObject({ code: "canceled" });
  expect(a.started).toBe(0);
});
