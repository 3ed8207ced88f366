// How the browser party's pre-params search scales with its workers: one
// full pre-params set (4 safe primes, then the rest) on 1, 2 and 4 workers
// in headless Chromium, RUNS runs each (default 10), interleaved (1, 2, 4,
// 1, 2, 4, …) so that the machine's drift falls on every count alike.
// Reports the median with min–max per count, the speed-up of each count
// over one worker with the range the spreads allow, and writes
// BENCH_OUT/workers.json (benchcmp reads it). The search takes its
// randomness from crypto.getRandomValues, so each run searches other
// candidates: the spread includes the search's luck.
// Needs what `make test-browser` builds: TSSKIT_BIN, TSSKIT_WEB_DIR.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;
const runs = Number(process.env.RUNS || 10);
const counts = (process.env.WORKER_COUNTS || "1,2,4").split(",").map(Number);
const outDir = process.env.BENCH_OUT || "bench-out";

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;

const dataDir = mkdtempSync(join(tmpdir(), "tsskit-workers-"));
const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
const env = { ...process.env, MPC_API_KEY: "bench-api-key-0123456789", CRYPTO_MASTER_KEY: "ef".repeat(32), ALLOWED_IPS: "" };
const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
  "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`, "--web-dir", webDir], { env, stdio: "ignore" });
let browser;
try {
  for (const deadline = Date.now() + 60_000; ;) {
    try { if ((await fetch(`http://127.0.0.1:${web}/e2e/index.html`)).ok) break; } catch {}
    if (Date.now() > deadline) throw new Error("dev stack not ready");
    await new Promise((r) => setTimeout(r, 200));
  }
  // The server parties fill their pre-params pools at start: let them, so
  // they do not take the CPU from the browser's search.
  await new Promise((r) => setTimeout(r, 20_000));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${web}/e2e/index.html`);
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
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "workers.json"), JSON.stringify({ runs, ms }, null, 2) + "\n");
} finally {
  await browser?.close();
  dev.kill("SIGTERM");
  await new Promise((r) => dev.once("exit", r));
  rmSync(dataDir, { recursive: true, force: true });
}
