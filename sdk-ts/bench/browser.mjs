// Browser benchmarks in headless Chromium: one 1024-bit safe prime (mean of
// several, one worker, on seeded candidate streams: the same work in every
// run, and as the native seeded benchmark's), the browser party's pre-params (two workers), keygen
// (one browser party + two server parties of tsskit dev, over gRPC-Web)
// and sign, a refresh of the wallet made, and tss.wasm's sizes. Prints a Markdown table.
// Needs what `make test-browser` builds: TSSKIT_BIN, TSSKIT_WEB_DIR.
// The page loads the workers as the SDK does (pinned to the build's
// hashes), and the benchmarks only time the workers: primes and
// pre-parameters stay in the workers here too, never passing through the
// page.
import { launchChromium, startDevStack, userToken } from "../test/browser/devstack.mjs";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;
const primes = Number(process.env.PRIMES || 10);
const runs = Number(process.env.RUNS || 10);
const naivePrimes = Number(process.env.NAIVE_PRIMES || 10);
const outDir = process.env.BENCH_OUT || "bench-out";

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;

const stack = await startDevStack({ bin, webDir, prefix: "tsskit-bench-" });
const { coordinatorUrl, routerUrl, webUrl } = stack;
let browser;
try {
  // Let the server parties fill their pre-params pools first, so the keygen
  // figures are the browser's and the protocol's, not the servers' primes.
  await new Promise((r) => setTimeout(r, 15_000));
  const token = await userToken(stack.apiUrl, stack.apiKey, "bench-user");
  // The deployment root the pages pin (dev mode's, from its own config).
  const { trustRoot } = await (await fetch(`${webUrl}/config.json`)).json();
  browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`${webUrl}/e2e/index.html`);
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
  // Seeded: seeds 0..n-1, the same candidates and tests in every run.
  const primeRuns = await page.evaluate((n) => window.benchPrimes(n), primes);
  const primeMs = primeRuns.map((r) => r.ms);
  const results = [];
  for (let i = 0; i < runs; i++) {
    const digest = createHash("sha256").update(`bench ${i}`).digest("hex");
    results.push(await page.evaluate((cfg) => window.runE2E(cfg), { coordinatorUrl, routerUrl, userToken: token, trustRoot, digestHex: digest }));
  }
  // The SDK as an app uses it: load, createWallet (cold pre-params), sign.
  const sdk = await browser.newPage();
  const cfg = { coordinatorUrl, routerUrl, wasmUrl: `${webUrl}/tss.wasm`, token, workers: 2, trustRoot };
  const sdkRuns = [];
  for (let i = 0; i < runs; i++) {
    await sdk.goto(`${webUrl}/e2e/sdk.html`);
    await sdk.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    const opened = await sdk.evaluate((c) => window.sdk.open(c), cfg);
    const w = await sdk.evaluate((n) => window.sdk.createWallet(n, "bench password 0123456789"), `bench ${i}`);
    const digest = createHash("sha256").update(`sdk bench ${i}`).digest("hex");
    const s = await sdk.evaluate(([id, d]) => window.sdk.sign(id, "bench password 0123456789", d), [w.walletId, digest]);
    // A refresh of the wallet just made: new shares for all three holders,
    // the browser's pre-params made as for a keygen (the pool is what the
    // keygen left of it).
    const r = await sdk.evaluate((id) => window.sdk.reshare(id, "bench password 0123456789"), w.walletId);
    sdkRuns.push({ load: opened.loadMs, create: w.ms, sign: s.ms, refresh: r.ms, refreshPhases: r.phaseMs });
  }
  // Warm: each time, wait for the background pool, then one more wallet.
  const warmMs = [];
  for (let i = 0; i < runs; i++) {
    for (const deadline = Date.now() + 180_000; (await sdk.evaluate(() => window.sdk.poolCount())) < 1; ) {
      if (Date.now() > deadline) throw new Error("pre-params pool never filled");
      await new Promise((r) => setTimeout(r, 500));
    }
    warmMs.push((await sdk.evaluate((n) => window.sdk.createWallet(n, "bench password 0123456789"), `bench warm ${i}`)).ms);
  }

  // Baselines: the plain math/big safe-prime search (tss-lib's way), and
  // our search on one worker, one prime after another.
  const naiveRuns = await page.evaluate((n) => window.benchPrimes(n, true), naivePrimes);
  const naiveMs = naiveRuns.map((r) => r.ms);
  const sameSeeds = primeMs.slice(0, naivePrimes); // tsskit's search on the naive one's seeds
  const seqMs = await page.evaluate((n) => window.benchPreParams(1, n), runs);
  const size = (f) => statSync(join(webDir, f)).size / 1e6;
  console.log(`\n| browser figure (headless Chromium) | value |\n|---|---|`);
  const tests = (rs) => rs.reduce((a, r) => a + r.tested, 0);
  console.log(`| one 1024-bit safe prime, one worker, seeds 0–${primes - 1} (mean of ${primes}) | ${sec(mean(primeMs))} (min ${sec(Math.min(...primeMs))}, max ${sec(Math.max(...primeMs))}); ` +
    `${(tests(primeRuns) / primes).toFixed(0)} Fermat tests/prime, ${(primeMs.reduce((a, b) => a + b, 0) / tests(primeRuns)).toFixed(2)} ms/test, sieve included |`);
  console.log(`| one 1024-bit safe prime the plain way (math/big), seeds 0–${naivePrimes - 1} (mean of ${naivePrimes}) | ${sec(mean(naiveMs))} (min ${sec(Math.min(...naiveMs))}, max ${sec(Math.max(...naiveMs))}); ` +
    `${(tests(naiveRuns) / naivePrimes).toFixed(0)} ProbablyPrime(q)/prime, ${(naiveMs.reduce((a, b) => a + b, 0) / tests(naiveRuns)).toFixed(2)} ms/test, trial division included |`);
  console.log(`| browser pre-params, 2 workers (mean of ${runs}) | ${sec(mean(results.map((r) => r.preParamsMs)))} |`);
  console.log(`| 2-of-3 keygen, browser + 2 server parties (mean of ${runs}) | ${sec(mean(results.map((r) => r.keygenMs)))} |`);
  console.log(`| 2-party sign, browser + 1 server party (mean of ${runs}) | ${sec(mean(results.map((r) => r.signMs)))} |`);
  console.log(`| SDK: wasm load, 2 workers (TssClient.create, mean of ${runs}) | ${sec(mean(sdkRuns.map((r) => r.load)))} |`);
  console.log(`| SDK: createWallet, cold pre-params, share encrypted and stored (mean of ${runs}) | ${sec(mean(sdkRuns.map((r) => r.create)))} |`);
  console.log(`| SDK: sign, share decrypted (PBKDF2 600k) (mean of ${runs}) | ${sec(mean(sdkRuns.map((r) => r.sign)))} |`);
  console.log(`| SDK: refreshWallet of a 2-of-3 wallet, new share encrypted and activated (mean of ${runs}) | ${sec(mean(sdkRuns.map((r) => r.refresh)))} |`);
  console.log(`| tss.wasm raw / gzip -9 / brotli -q 11 | ${size("tss.wasm").toFixed(1)} / ${size("tss.wasm.gz").toFixed(1)} / ${size("tss.wasm.br").toFixed(1)} MB |`);
  console.log(`BROWSER_PRIME_MS ${mean(primeMs).toFixed(0)}`);

  // Side by side, this run: baseline vs tsskit.
  const keygenMs = mean(results.map((r) => r.keygenMs));
  const naiveCold = 4.2 * mean(naiveMs) + keygenMs; // ~4.2 primes a set (5% need a fifth), one after another, then keygen
  const rows = [
    { figure: "one safe prime in wasm, same seeds (mean)", baseline: mean(naiveMs), baselineLabel: `math/big, tss-lib style, seeds 0–${naivePrimes - 1} (${sec(Math.min(...naiveMs))}–${sec(Math.max(...naiveMs))})`, tsskit: mean(sameSeeds), tsskitLabel: `sieved search, seeds 0–${sameSeeds.length - 1} (${sec(Math.min(...sameSeeds))}–${sec(Math.max(...sameSeeds))})` },
    { figure: "browser pre-params", baseline: mean(seqMs), baselineLabel: `our search, one worker, sequential (${seqMs.length} runs)`, tsskit: mean(results.map((r) => r.preParamsMs)), tsskitLabel: `2 workers in parallel (${runs} runs)` },
    { figure: "browser party keygen, cold", baseline: naiveCold, baselineLabel: "naive: 4.2 × math/big prime + keygen, sequential", tsskit: mean(sdkRuns.map((r) => r.create)), tsskitLabel: `createWallet cold (${runs} runs)` },
    { figure: "browser party keygen, warm", baseline: naiveCold, baselineLabel: "naive, as above", tsskit: mean(warmMs), tsskitLabel: `createWallet with a pooled set (${warmMs.length} runs)` },
    { figure: "browser wallet refresh", baseline: mean(sdkRuns.map((r) => r.create)), baselineLabel: `createWallet cold, this run (${runs} runs)`, tsskit: mean(sdkRuns.map((r) => r.refresh)), tsskitLabel: `refreshWallet (${runs} runs)` },
  ];
  const table = ["| figure | baseline | tsskit | ratio |", "|---|---|---|---|",
    ...rows.map((r) => `| ${r.figure} | ${sec(r.baseline)} (${r.baselineLabel}) | ${sec(r.tsskit)} (${r.tsskitLabel}) | ${(r.tsskit / r.baseline).toPrecision(2)}× |`),
    `| browser sign (browser + 1 server party) | | ${sec(mean(results.map((r) => r.signMs)))} | |`,
    `| tss.wasm raw / gzip -9 / brotli -q 11 | | ${size("tss.wasm").toFixed(1)} / ${size("tss.wasm.gz").toFixed(1)} / ${size("tss.wasm.br").toFixed(1)} MB | |`,
  ].join("\n");
  console.log("\n" + table);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "browser-side-by-side.md"), table + "\n");
  writeFileSync(join(outDir, "browser.json"), JSON.stringify({ primeMs, naiveMs, primeRuns, naiveRuns, seqMs, results, sdkRuns, warmMs, rows }, null, 2) + "\n");
} finally {
  await browser?.close();
  await stack.stop();
}
