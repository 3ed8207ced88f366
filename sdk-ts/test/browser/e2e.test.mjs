// Browser end-to-end: tsskit dev (router, coordinator, three server
// parties) as a separate process, a page in headless Chromium as one party
// of a 2-of-3 keygen and of a signing, everything over gRPC-Web. The
// signature is verified here with @noble/curves.
import { userToken as mintUserToken, waitReady } from "./devstack.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { secp256k1 } from "@noble/curves/secp256k1.js";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;
const chromePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

test("a browser party makes and uses a 2-of-3 wallet with two server parties", { timeout: 600_000 }, async (t) => {
  assert.ok(bin && webDir, "TSSKIT_BIN and TSSKIT_WEB_DIR must be set (make test-browser)");
  const dataDir = mkdtempSync(join(tmpdir(), "tsskit-e2e-"));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = {
    ...process.env,
    MPC_API_KEY: "e2e-browser-api-key-0123456789",
    CRYPTO_MASTER_KEY: "cd".repeat(32),
    ALLOWED_IPS: "",
  };
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
    "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`, "--web-dir", webDir], { env });
  let log = "";
  dev.stderr.on("data", (d) => (log += d));
  dev.stdout.on("data", (d) => (log += d));
  let browser;
  t.after(async () => {
    await browser?.close();
    dev.kill("SIGTERM");
    await new Promise((r) => dev.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    await waitReady(`http://127.0.0.1:${api}`, env.MPC_API_KEY);
    // The page has a user token, as an app's page gets from its backend.
    const userToken = await mintUserToken(`http://127.0.0.1:${api}`, env.MPC_API_KEY, "e2e-user");
    // The dev deployment root, which the page pins: dev mode certified its
    // server parties with it.
    const { trustRoot } = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    assert.match(trustRoot, /^[0-9a-f]{64}$/);

    browser = await chromium.launch({
      executablePath: chromePath,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage();
    const consoleLines = [];
    page.on("console", (m) => consoleLines.push(m.text()));
    page.on("pageerror", (e) => consoleLines.push(String(e)));
    await page.goto(`http://127.0.0.1:${web}/e2e/index.html`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");

    const digest = createHash("sha256").update("browser e2e").digest();
    const res = await page.evaluate((cfg) => window.runE2E(cfg), {
      coordinatorUrl: `http://127.0.0.1:${coord}`, routerUrl: `http://127.0.0.1:${router}`, userToken, trustRoot, digestHex: digest.toString("hex"),
    });
    t.diagnostic(`tss.wasm ${res.version.version} (${res.version.go}, tss-lib ${res.version.tssLib})`);
    t.diagnostic(`browser: pre-params ${(res.preParamsMs / 1000).toFixed(1)} s (${res.primes} primes, 2 workers), keygen ${(res.keygenMs / 1000).toFixed(1)} s, sign ${(res.signMs / 1000).toFixed(1)} s`);

    // Typed status codes of unary calls reach the browser through gRPC-Web.
    assert.equal(res.unaryCode, "5", "GetWallet of an unknown wallet: NotFound"); // Code.NotFound
    assert.equal(res.deniedCode, "16", "a forged token: Unauthenticated"); // Code.Unauthenticated
    assert.equal(res.partyDeniedCode, "7", "a party token creating a session: PermissionDenied"); // Code.PermissionDenied

    // Every party reported the same key: the coordinator completed with it
    // and stored it; it is the browser's.
    assert.equal(res.completedKey, res.publicKey);
    assert.equal(res.storedKey, res.publicKey);
    assert.equal(res.holders.length, 3);
    assert.ok(res.holders.includes(res.partyId));
    assert.deepEqual(res.events.slice(-1), ["completed"]);
    assert.ok(res.events.includes("ready") && res.events.includes("progress"));
    assert.equal(Math.max(...res.rounds), 4);
    assert.equal(res.signers.length, 2);
    // The share left the worker only as a password backup; the record it
    // holds names every holder and requires the browser to sign.
    assert.ok(res.backupIsCiphertext, "keygen returns a backup, not a record");
    assert.equal(res.clientRequired, true);
    assert.deepEqual([...res.holderKinds].sort(), ["client", "server", "server"]);

    // The signature, checked here with @noble/curves.
    const pub = Buffer.from(res.publicKey, "hex");
    const sig64 = Buffer.from(res.r + res.s, "hex");
    assert.ok(secp256k1.verify(sig64, digest, pub, { prehash: false, lowS: true, format: "compact" }), "compact signature verifies");
    assert.ok(secp256k1.verify(Buffer.from(res.der, "hex"), digest, pub, { prehash: false, format: "der" }), "DER signature verifies");
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + log.slice(-6000));
    throw e;
  }
});
