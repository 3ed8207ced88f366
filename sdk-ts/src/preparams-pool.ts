/**
 * A pool of ready keygen pre-parameters, filled in the background so that
 * creating a wallet need not wait ~6 s for them. This is the page's side:
 * it decides when a set is made and asks how many are ready; the sets
 * themselves are made, stored (encrypted in IndexedDB under a
 * non-extractable key), taken and used in the workers
 * (src/worker/preparams-store.ts), and the page only ever holds a handle to
 * a set in a worker and counts. The client wires it to its workers: make
 * is generatePreParamsIntoPool(workers), count is countPreParams and take
 * is takePreParams in the worker that runs the keygen.
 *
 * A set is never handed out twice, whatever the tabs: the worker takes an
 * entry by reading and deleting it in one IndexedDB readwrite transaction.
 *
 * Background work is low priority: one set at a time, started startDelayMs
 * after the first fill() and gapMs after each set, and paused (the set in
 * progress aborted through the signal given to make, and made again later)
 * while pause() is held, e.g. while the page runs its own keygen on the
 * same workers. Errors in the background never reach the page: they go to
 * onError, and the work is retried after a growing delay.
 *
 * Nothing here logs; errors reported carry no secret material.
 */
import { PreParamsEntryDroppedError, PreParamsPoolClosedError } from "./worker/preparams-store.js";

export { PreParamsEntryDroppedError, PreParamsPoolClosedError, PREPARAMS_DB_NAME, POOL_KEY_ID } from "./worker/preparams-store.js";

export interface PreParamsPoolOptions<T> {
  /** How many sets to keep ready; default 2, 0 disables the pool (make is never called). */
  size?: number;
  /** Makes one set and stores it, in the workers; the client passes (signal) => generatePreParamsIntoPool(workers, { signal }). */
  make: (signal: AbortSignal) => Promise<unknown>;
  /** The number of stored sets (the worker's countPreParams). */
  count: () => Promise<number>;
  /**
   * Takes one stored set where it will be used (the worker's takePreParams)
   * and returns what refers to it there, or null when there is none;
   * report gets each entry dropped on the way.
   */
  take: (report: (dropped: PreParamsEntryDroppedError) => void) => Promise<T | null>;
  /** Wait this long (ms) after the first fill() before starting background work; default 2000. */
  startDelayMs?: number;
  /** Wait this long (ms) between sets; default 250. */
  gapMs?: number;
  /** The first wait (ms) after a failed make; doubled on each further failure; default 5000. */
  retryDelayMs?: number;
  /** The longest wait (ms) between retries; default 60000. */
  maxRetryDelayMs?: number;
  /** Called with the number of ready sets whenever this pool adds or takes one. */
  onChange?: (ready: number) => void;
  /**
   * Called with errors of the background work (a failed make) and with the
   * reason an entry was dropped by take() (PreParamsEntryDroppedError: it
   * failed decryption or validation). Never thrown into the page.
   */
  onError?: (error: unknown) => void;
}

export class PreParamsPool<T> {
  readonly #size: number;
  readonly #make: (signal: AbortSignal) => Promise<unknown>;
  readonly #count: () => Promise<number>;
  readonly #take: (report: (dropped: PreParamsEntryDroppedError) => void) => Promise<T | null>;
  readonly #startDelayMs: number;
  readonly #gapMs: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #onChange: ((ready: number) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;

  #closed = false;
  /** fill() was called and stop() not since: refill after take() and resume. */
  #wanted = false;
  /** The background loop, while it runs. */
  #loop: Promise<void> | undefined;
  /** Aborts the running loop (its sleeps, waits and make). */
  #runCtl: AbortController | undefined;
  /** Aborts the set being made, for pause(). */
  #setCtl: AbortController | undefined;
  /** Set when the loop should look again before it ends (an entry was taken meanwhile). */
  #kicked = false;
  /** Whether the loop has started before (the first start waits startDelayMs, later ones gapMs). */
  #started = false;
  #pauses = 0;
  #resumed: { promise: Promise<void>; resolve(): void } | undefined;

  private constructor(opts: PreParamsPoolOptions<T>) {
    this.#size = opts.size ?? 2;
    this.#make = opts.make;
    this.#count = opts.count;
    this.#take = opts.take;
    this.#startDelayMs = opts.startDelayMs ?? 2000;
    this.#gapMs = opts.gapMs ?? 250;
    this.#retryDelayMs = opts.retryDelayMs ?? 5000;
    this.#maxRetryDelayMs = opts.maxRetryDelayMs ?? 60_000;
    this.#onChange = opts.onChange;
    this.#onError = opts.onError;
  }

  /**
   * Checks the options and that the store answers (count() once: a store
   * that cannot open, IndexedDB missing say, fails here rather than in the
   * background). Does not start filling: call fill().
   */
  static async open<T>(opts: PreParamsPoolOptions<T>): Promise<PreParamsPool<T>> {
    for (const name of ["make", "count", "take"] as const) {
      if (typeof opts?.[name] !== "function") throw new TypeError(`${name}: want a function`);
    }
    const size = opts.size ?? 2;
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size: ${size}; want a non-negative integer`);
    for (const name of ["startDelayMs", "gapMs", "retryDelayMs", "maxRetryDelayMs"] as const) {
      const v = opts[name];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name}: ${v}; want a non-negative number`);
    }
    if (size > 0) await opts.count();
    return new PreParamsPool(opts);
  }

  /** The configured number of sets to keep ready. */
  get size(): number {
    return this.#size;
  }

  /** The number of ready sets. */
  async count(): Promise<number> {
    this.#live();
    return this.#count();
  }

  /**
   * Takes one ready set where it is used (in the worker), or null when
   * there is none; no set is ever handed out twice. An entry that fails
   * decryption or validation is reported to onError, and the next is
   * tried. Starts refilling when fill() was called.
   */
  async take(): Promise<T | null> {
    this.#live();
    let got: T | null = null;
    let dropped = false;
    try {
      got = await this.#take((e) => {
        dropped = true;
        this.#report(e);
      });
      return got;
    } finally {
      if (got !== null || dropped) this.#changed();
      this.#kick();
    }
  }

  /**
   * Starts filling the pool up to size in the background, one set at a
   * time; returns at once. Calling it again while it runs changes nothing.
   * Once called, the pool refills after take() until stop() or close().
   */
  fill(): void {
    if (this.#closed || this.#size === 0) return;
    this.#wanted = true;
    this.#kick();
  }

  /** Stops the background work (aborting a set being made) and waits for it to settle. fill() starts it again. */
  async stop(): Promise<void> {
    this.#wanted = false;
    this.#runCtl?.abort(abortReason("stopped"));
    await this.#loop;
  }

  /**
   * Pauses the background work while the page runs its own keygen, so the
   * two do not compete for the workers: a set being made is aborted (the
   * signal given to make fires) and made again once resumed. Returns the
   * function that resumes; pauses nest, and calling it twice is harmless.
   */
  pause(): () => void {
    this.#pauses++;
    this.#setCtl?.abort(abortReason("paused"));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.#pauses === 0) {
        this.#resumed?.resolve();
        this.#resumed = undefined;
        this.#kick();
      }
    };
  }

  /** Stops the background work; the pool answers no more calls. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stop();
  }

  // -------------------------------------------------------------------------

  #live(): void {
    if (this.#closed) throw new PreParamsPoolClosedError();
  }

  /** Starts the background loop if it is wanted and not running; otherwise makes a running loop look again. */
  #kick(): void {
    if (!this.#wanted || this.#closed || this.#size === 0) return;
    this.#kicked = true;
    if (this.#loop) return;
    const ctl = new AbortController();
    this.#runCtl = ctl;
    const delay = this.#started ? this.#gapMs : this.#startDelayMs;
    this.#started = true;
    this.#loop = this.#run(ctl.signal, delay);
  }

  /** The background loop: has sets made until the pool is full, or stopped. */
  async #run(stop: AbortSignal, delay: number): Promise<void> {
    let failures = 0;
    try {
      await sleep(delay, stop);
      for (;;) {
        this.#kicked = false;
        if (stop.aborted) return;
        if (this.#pauses > 0) {
          await this.#whilePaused(stop);
          continue;
        }
        let ready: number;
        try {
          ready = await this.#count();
        } catch (e) {
          if (stop.aborted) return;
          this.#report(e);
          await sleep(this.#backoff(failures++), stop);
          continue;
        }
        if (ready >= this.#size) {
          if (this.#kicked) continue; // an entry was taken while counting
          return;
        }
        if (stop.aborted) return;
        if (this.#pauses > 0) continue;

        const set = new AbortController();
        this.#setCtl = set;
        const onStop = () => set.abort(stop.reason);
        stop.addEventListener("abort", onStop, { once: true });
        try {
          await this.#make(set.signal);
        } catch (e) {
          if (stop.aborted) return;
          if (set.signal.aborted) continue; // paused: made again after resume
          this.#report(e);
          await sleep(this.#backoff(failures++), stop);
          continue;
        } finally {
          stop.removeEventListener("abort", onStop);
          if (this.#setCtl === set) this.#setCtl = undefined;
        }
        if (stop.aborted) return;
        failures = 0;
        this.#changed();
        await sleep(this.#gapMs, stop);
      }
    } catch (e) {
      // sleep rejects only when stopped; anything else is a bug, reported.
      if (!stop.aborted) this.#report(e);
    } finally {
      // Synchronously with the loop's last check, so a take() right after
      // it starts a new loop.
      this.#loop = undefined;
      if (this.#runCtl?.signal === stop) this.#runCtl = undefined;
      // fill() called again after stop() while this loop was winding down.
      if (stop.aborted && this.#wanted) this.#kick();
    }
  }

  /** Resolves when no pause is held, or when stopped. */
  async #whilePaused(stop: AbortSignal): Promise<void> {
    if (this.#pauses === 0) return;
    if (!this.#resumed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#resumed = { promise, resolve };
    }
    await untilOr(this.#resumed.promise, stop);
  }

  #backoff(failures: number): number {
    return Math.min(this.#maxRetryDelayMs, this.#retryDelayMs * 2 ** Math.min(failures, 30));
  }

  #changed(): void {
    if (!this.#onChange || this.#closed) return;
    this.#count().then(
      (n) => {
        try {
          this.#onChange?.(n);
        } catch {
          // A callback's failure is not ours to surface.
        }
      },
      () => {},
    );
  }

  #report(e: unknown): void {
    try {
      this.#onError?.(e);
    } catch {
      // Never into the page.
    }
  }
}

// ---------------------------------------------------------------------------

function abortReason(message: string): unknown {
  return typeof DOMException === "function" ? new DOMException(message, "AbortError") : Object.assign(new Error(message), { name: "AbortError" });
}

/** Resolves when p does or when signal is aborted, whichever is first; removes its listener either way. */
function untilOr(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/** Waits ms; rejects with the signal's reason when it is aborted. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      if (timer !== undefined) clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
  });
}

