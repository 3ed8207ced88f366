// How the browser party's pre-params search scales with its workers: one
// full pre-params set (4 safe primes, then the rest) on 1, 2 and 4 workers
// in headless Chromium, RUNS runs each (default 10), interleaved (1, 2, 4,
// 1, 2, 4, …) so that the machine's drift falls on every count alike.
// Reports the median with min–max per count, the speed-up of each count
// over one worker with the range the spreads allow, and writes
// BENCH_OUT/workers.json (benchcmp reads it). The search takes its
// randomness from crypto.getRandomValues, so each run searches other
// candidates: the spread includes the search's luck. Then the same work
// for every count: SEEDS seeded safe primes (default 8) on 1, 2 and 4
// workers, SEEDED_RUNS runs each (default 5): the time to the last one,
// and the time per test in each worker.
// Needs what `make test-browser` builds: TSSKIT_BIN, TSSKIT_WEB_DIR.
import { launchChromium, startDevStack } from "../test/browser/devstack.mjs";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;
const runs = Number(process.env.RUNS || 10);
const seededRuns = Number(process.env.SEEDED_RUNS || 10);
const seeds = Number(process.env.SEEDS || 8);
const counts = (process.env.WORKER_COUNTS || "1,2,4").split(",").map(Number);
const outDir = process.env.BENCH_OUT || "bench-out";

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
const range = (xs, f = sec) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;

const stack = await startDevStack({ bin, webDir, prefix: "tsskit-workers-" });
let browser;
try {
  // The server parties fill their pre-params pools at start: let them, so
  // they do not take the CPU from the browser's search.
  await new Promise((r) => setTimeout(r, 20_000));
  browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`${stack.webUrl}/e2e/index.html`);
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
  const ms = Object.fromEntries(counts.map((w) => [w, []]));
  for (let i = 0; i < runs; i++) {
    for (const w of counts) {
      const [t] = await page.evaluate(([w]) => window.benchPreParams(w, 1), [w]);
      ms[w].push(t);
      process.stderr.write(`run ${i + 1}/${runs}, ${w} worker(s): ${sec(t)}\n`);
    }
  }
  const base = ms[counts[0]];
  console.log(`\n| workers | pre-params, median (min–max), ${runs} runs | speed-up over ${counts[0]} (range the spreads allow) |\n|---|---|---|`);
  for (const w of counts) {
    const m = ms[w];
    console.log(`| ${w} | ${sec(median(m))} (${sec(Math.min(...m))}–${sec(Math.max(...m))}) | ${(median(base) / median(m)).toFixed(2)}× (${(Math.min(...base) / Math.max(...m)).toFixed(2)}–${(Math.max(...base) / Math.min(...m)).toFixed(2)}×) |`);
  }

  // The same work for every count: the safe primes of seeds 0..SEEDS-1
  // (public candidate streams), each worker taking the next seed when
  // free. The time to the last prime, and each search's time per test
  // while the others run: the per-worker rate, which is what parallel
  // workers share.
  const seeded = Object.fromEntries(counts.map((w) => [w, []]));
  const perTest = Object.fromEntries(counts.map((w) => [w, []]));
  for (let i = 0; i < seededRuns; i++) {
    for (const w of counts) {
      const r = await page.evaluate(([w, n]) => window.benchSeededPrimes(w, n), [w, seeds]);
      seeded[w].push(r.ms);
      perTest[w].push(r.runs.reduce((a, x) => a + x.ms, 0) / r.runs.reduce((a, x) => a + x.tested, 0));
      process.stderr.write(`seeded run ${i + 1}/${seededRuns}, ${w} worker(s): ${sec(r.ms)}\n`);
    }
  }
  const sbase = seeded[counts[0]];
  console.log(`\n| workers | ${seeds} seeded safe primes (seeds 0–${seeds - 1}), median (min–max), ${seededRuns} runs | speed-up over ${counts[0]} | ms per test in each worker, median (min–max) |\n|---|---|---|---|`);
  for (const w of counts) {
    const m = seeded[w];
    console.log(`| ${w} | ${range(m)} | ${(median(sbase) / median(m)).toFixed(2)}× (${(Math.min(...sbase) / Math.max(...m)).toFixed(2)}–${(Math.max(...sbase) / Math.min(...m)).toFixed(2)}×) | ${range(perTest[w], (x) => x.toFixed(2))} |`);
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "workers.json"), JSON.stringify({ runs, ms, seededRuns, seeds, seeded, perTest }, null, 2) + "\n");
} finally {
  await browser?.close();
  await stack.stop();
}
