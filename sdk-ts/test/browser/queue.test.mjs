// A browser keygen whose server parties are busy with other sessions: in
// headless Chromium against `tsskit dev` with one work slot per server
// party, wallets made through the account API (server-only keygens) keep
// every server party's slot taken while the browser's keygen runs. Its
// server parties' steps wait their turn: the coordinator's session events
// say where they are in their queues, createWallet's progress carries it
// (progress.queued), and the keygen still completes — its wallet then
// signs, verified here with @noble/curves.
import { test } from "node:test";
import { busyAccounts, userToken, waitReady } from "./devstack.mjs";
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

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });

test("a browser keygen waits for busy server parties' work slots, shows its place, and completes", { timeout: 600_000 }, async (t) => {
  assert.ok(bin && webDir, "TSSKIT_BIN and TSSKIT_WEB_DIR must be set (make test-browser)");
  const dataDir = mkdtempSync(join(tmpdir(), "tsskit-queue-"));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = { ...process.env, MPC_API_KEY: "queue-e2e-api-key-0123456789", CRYPTO_MASTER_KEY: "cd".repeat(32), ALLOWED_IPS: "" };
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
    "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`, "--web-dir", webDir,
    "--work-slots", "1"], { env });
  let log = "";
  dev.stderr.on("data", (d) => (log += d));
  let browser;
  let busy;
  t.after(async () => {
    await busy?.stop();
    await browser?.close();
    dev.kill("SIGTERM");
    await new Promise((r) => dev.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  });
  const apiUrl = `http://127.0.0.1:${api}`;
  try {
    await waitReady(apiUrl, env.MPC_API_KEY);
    const token = await userToken(apiUrl, env.MPC_API_KEY, "queue-user");
    const { trustRoot } = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    const cfg = { coordinatorUrl: `http://127.0.0.1:${coord}`, routerUrl: `http://127.0.0.1:${router}`, wasmUrl: `http://127.0.0.1:${web}/tss.wasm`, token, workers: 2, trustRoot, preParamsPool: 0 };
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.goto(`http://127.0.0.1:${web}/e2e/sdk.html`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    await page.evaluate((c) => window.sdk.open(c), cfg);

    // The browser's keygen; refusals for overload are retried.
    const password = "queue test password, long enough";
    const creating = page.evaluate(([p]) => window.sdk.createWallet("queued wallet", p, 10), [password]);
    // Once it has its pre-parameters and joins (its server parties took
    // pooled sets at assignment), server-only keygens keep every server
    // party's single work slot taken until it ends.
    await page.waitForFunction(() => window.sdk.progress().some((p) => p.phase === "joining"), null, { timeout: 300_000 });
    busy = busyAccounts(apiUrl, env.MPC_API_KEY);
    const wallet = await creating;
    await busy.stop();
    const made = busy.counts();
    const progress = await page.evaluate(() => window.sdk.progress());
    const queued = progress.filter((p) => p.queued);
    t.diagnostic(`createWallet beside server-only keygens: ${(wallet.ms / 1000).toFixed(1)} s, refused for overload ${wallet.busy} time(s); ` +
      `${queued.length} progress report(s) queued, furthest position ${Math.max(0, ...queued.map((p) => p.queued.position))}; ` +
      `background: ${made.wallets} wallet(s) made, ${made.refused} refused`);
    assert.match(wallet.publicKey, /^0[23][0-9a-f]{64}$/);
    assert.ok(queued.length > 0, "the browser's progress showed server parties waiting for a work slot");
    for (const p of queued) {
      assert.ok(Number.isInteger(p.queued.position) && p.queued.position >= 1, `a queue position: ${JSON.stringify(p.queued)}`);
      assert.ok(p.queued.parties.length >= 1 && p.queued.parties.every((id) => /^server-[123]$/.test(id)), `server parties wait: ${JSON.stringify(p.queued)}`);
      // (saving: this party has its share; the call waits for the servers' last steps.)
      assert.ok(["joining", "keygen", "saving"].includes(p.phase), `queued while the session runs, not at ${p.phase}`);
    }
    assert.equal(wallet.last.phase, "done");
    assert.equal(wallet.last.queued, undefined, "nothing waits once the keygen is done");

    // The wallet made in the queue signs like any other.
    const digest = createHash("sha256").update("queued wallet").digest("hex");
    const sig = await page.evaluate(([id, p, d]) => window.sdk.sign(id, p, d), [wallet.walletId, password, digest]);
    assert.ok(secp256k1.verify(Buffer.from(sig.signature, "hex"), Buffer.from(digest, "hex"), Buffer.from(wallet.publicKey, "hex"), { prehash: false, lowS: true, format: "compact" }));
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + log.slice(-6000));
    throw e;
  }
});
