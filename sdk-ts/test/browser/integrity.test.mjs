// Pinned loading in headless Chromium: a small server here serves the SDK's
// test page with the real tss.wasm and tss-worker.js, and with each of
// them swapped for a still-working variant (a custom section appended to
// the wasm, a comment to the script). TssClient.create must refuse a
// swapped file with an IntegrityError (code "integrity") under the build's
// own pins, load it with integrity: false or with pins of its own, and
// start its workers from the checked bytes (one fetch of the script for
// all its workers, none by the workers themselves). No services needed:
// create() only loads the workers and opens the storage.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";

const webDir = process.env.TSSKIT_WEB_DIR;
const sri = (b) => "sha384-" + createHash("sha384").update(b).digest("base64");

/** A wasm module with a custom section appended: still valid, other bytes. */
function withCustomSection(wasm) {
  const name = Buffer.from("swapped");
  const payload = Buffer.from("x");
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  return Buffer.concat([wasm, Buffer.from([0x00, body.length]), body]);
}

test("pinned tss.wasm and tss-worker.js: swapped files are refused, pins can be turned off or replaced", { timeout: 300_000 }, async (t) => {
  assert.ok(webDir, "TSSKIT_WEB_DIR must be set (make test-browser)");
  const real = { wasm: readFileSync(join(webDir, "tss.wasm")), worker: readFileSync(join(webDir, "tss-worker.js")) };
  const pins = JSON.parse(readFileSync(join(webDir, "tsskit-integrity.json"), "utf8"));
  // make wasm pinned these very files.
  assert.deepEqual(pins, { wasm: sri(real.wasm), worker: sri(real.worker) });
  const swapped = { wasm: withCustomSection(real.wasm), worker: Buffer.concat([real.worker, Buffer.from("\n// swapped\n")]) };

  // /<dir>/tss.wasm and /<dir>/tss-worker.js for each combination.
  const sets = {
    real: real,
    "swapped-wasm": { wasm: swapped.wasm, worker: real.worker },
    "swapped-worker": { wasm: real.wasm, worker: swapped.worker },
  };
  const hits = new Map();
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const send = (type, body) => {
      res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (path === "/e2e/sdk.html") return send("text/html", readFileSync(join(webDir, "e2e/sdk.html")));
    if (path === "/e2e/sdk.js") return send("text/javascript", readFileSync(join(webDir, "e2e/sdk.js")));
    const m = /^\/([a-z-]+)\/(tss\.wasm|tss-worker\.js)$/.exec(path);
    const set = m && sets[m[1]];
    if (set) return m[2] === "tss.wasm" ? send("application/wasm", set.wasm) : send("text/javascript", set.worker);
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  let browser;
  t.after(async () => {
    await browser?.close();
    server.close();
  });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${base}/e2e/sdk.html`);
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");

  // create() needs no services; the URLs are never called.
  const cfg = (dir, extra = {}) => ({ coordinatorUrl: "http://127.0.0.1:9", routerUrl: "http://127.0.0.1:9", wasmUrl: `${base}/${dir}/tss.wasm`,
    token: "unused", trustRoot: "ab".repeat(32), workers: 2, preParamsPool: 0, ...extra });
  const open = (c) => page.evaluate((c) => window.sdk.openError(c), c);

  // The real files under the build's pins: loaded, both workers from one fetch of the script.
  assert.equal(await open(cfg("real")), null);
  assert.equal(hits.get("/real/tss-worker.js"), 1, "the script is fetched once and both workers start from its checked bytes");
  assert.equal(hits.get("/real/tss.wasm"), 2, "each worker fetches the wasm itself");

  const worker = await open(cfg("swapped-worker"));
  t.diagnostic(`swapped worker: ${worker?.message}`);
  assert.equal(worker?.name, "IntegrityError");
  assert.equal(worker.code, "integrity");
  assert.equal(worker.resource, "worker");
  assert.equal(worker.expected, pins.worker);
  assert.equal(worker.actual, sri(swapped.worker));
  assert.equal(hits.get("/swapped-worker/tss.wasm"), undefined, "no worker started: the wasm was never asked for");

  const wasm = await open(cfg("swapped-wasm"));
  t.diagnostic(`swapped wasm: ${wasm?.message}`);
  assert.equal(wasm?.name, "IntegrityError");
  assert.equal(wasm.code, "integrity");
  assert.equal(wasm.resource, "wasm");
  assert.equal(wasm.expected, pins.wasm);
  assert.equal(wasm.actual, sri(swapped.wasm));

  // The swapped files work: it is the pin that refuses them. integrity:
  // false loads them, and so do pins of their own (an app's own build).
  assert.equal(await open(cfg("swapped-worker", { integrity: false })), null);
  assert.equal(await open(cfg("swapped-wasm", { integrity: false })), null);
  assert.equal(await open(cfg("swapped-wasm", { integrity: { wasm: sri(swapped.wasm), worker: pins.worker } })), null);
  // ... and the real ones fail under those.
  assert.equal((await open(cfg("real", { integrity: { wasm: sri(swapped.wasm), worker: pins.worker } })))?.code, "integrity");

  const malformed = await open(cfg("real", { integrity: { wasm: "sha384-short", worker: pins.worker } }));
  assert.equal(malformed?.code, "invalid_argument");
});
