// @tsskit/sdk in headless Chromium against `tsskit dev` (a separate
// process): createWallet as the browser party with two server parties, the
// share encrypted in real IndexedDB, a reload, sign with the password
// (verified in the page with @noble/curves, here again, and by the
// coordinator before it completes), a wrong password, export -> clear ->
// import -> sign, and router and coordinator streams cut mid-keygen by proxies.
import { test } from "node:test";
import { userToken } from "./devstack.mjs";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { HDKey } from "@scure/bip32";
import { parseTransaction, recoverTransactionAddress, verifyMessage, verifyTypedData, getAddress } from "viem";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });

/**
 * A TCP proxy that cuts every open connection once, after `cutAfter` bytes
 * have come back from target (or when cut() is called), then calls onCut:
 * in front of the router, the browser's Subscribe streams (and any request
 * in flight) drop mid-keygen; in front of the coordinator, cut at the same
 * moment, its session-event stream does.
 */
function cuttingProxy(target, cutAfter, onCut = () => {}) {
  const sockets = new Set();
  let down = 0;
  const state = { cuts: 0, bytes: 0 };
  const server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.on("data", (d) => {
      down += d.length;
      state.bytes = down;
      if (state.cuts === 0 && down > cutAfter) cut();
    });
    upstream.pipe(client);
  });
  const cut = () => {
    state.cuts++;
    for (const s of sockets) s.destroy();
    sockets.clear();
    onCut();
  };
  return new Promise((res) => server.listen(0, "127.0.0.1", () => res({ port: server.address().port, state, cut, close: () => server.close() })));
}

test("TssClient: co-managed wallet, encrypted share, reload, sign, backup, dropped router and coordinator streams", { timeout: 900_000 }, async (t) => {
  assert.ok(bin && webDir, "TSSKIT_BIN and TSSKIT_WEB_DIR must be set (make test-browser)");
  const dataDir = mkdtempSync(join(tmpdir(), "tsskit-sdk-"));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = { ...process.env, MPC_API_KEY: "sdk-e2e-api-key-0123456789", CRYPTO_MASTER_KEY: "ab".repeat(32), ALLOWED_IPS: "" };
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
    "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`, "--web-dir", webDir], { env });
  let log = "";
  dev.stderr.on("data", (d) => (log += d));
  // Cut the router streams after ~150 KB, inside keygen round 1 or 2, and
  // the coordinator's at the same moment.
  const coordProxy = await cuttingProxy(coord, Infinity);
  const proxy = await cuttingProxy(router, 150_000, () => coordProxy.cut());
  let browser;
  t.after(async () => {
    await browser?.close();
    proxy.close();
    coordProxy.close();
    dev.kill("SIGTERM");
    await new Promise((r) => dev.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    for (const deadline = Date.now() + 60_000; ;) {
      try { const r = await fetch(`http://127.0.0.1:${api}/api/v1/health`, { headers: { "X-API-Key": env.MPC_API_KEY } }); if (r.ok && (await r.json()).components?.pool?.healthy >= 3) break; } catch {}
      if (Date.now() > deadline) throw new Error("dev stack not ready");
      await new Promise((r) => setTimeout(r, 200));
    }
    // A user token, as the app's backend hands its signed-in user.
    const token = await userToken(`http://127.0.0.1:${api}`, env.MPC_API_KEY, "sdk-user");
    // The deployment root the app pins (dev mode's, from its own config).
    const { trustRoot } = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    const cfg = { coordinatorUrl: `http://127.0.0.1:${coordProxy.port}`, routerUrl: `http://127.0.0.1:${proxy.port}`, wasmUrl: `http://127.0.0.1:${web}/tss.wasm`, token, workers: 2, trustRoot };
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    const load = async () => {
      await page.goto(`http://127.0.0.1:${web}/e2e/sdk.html`);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
      return page.evaluate((c) => window.sdk.open(c), cfg);
    };

    const opened = await load();
    t.diagnostic(`wasm load (2 workers): ${(opened.loadMs / 1000).toFixed(2)} s; storage persisted: ${opened.persisted}`);
    const password = "correct horse battery staple, but longer";
    const wallet = await page.evaluate(([p]) => window.sdk.createWallet("e2e wallet", p), [password]);
    t.diagnostic(`createWallet (cold pre-params): ${(wallet.ms / 1000).toFixed(1)} s; router proxy cut ${proxy.state.cuts} time(s) after ${proxy.state.bytes} bytes`);
    assert.equal(proxy.state.cuts, 1, "the proxy cut the router streams mid-keygen");
    assert.equal(coordProxy.state.cuts, 1, "the proxy cut the coordinator's streams mid-keygen");
    assert.match(wallet.publicKey, /^0[23][0-9a-f]{64}$/);
    assert.match(wallet.address, /^0x[0-9a-f]{40}$/);
    assert.equal(wallet.threshold, 2);
    assert.equal(wallet.parties, 3);
    const phases = new Set((await page.evaluate(() => window.sdk.progress())).map((p) => p.phase));
    for (const p of ["loading", "preparams", "keygen", "saving", "done"]) assert.ok(phases.has(p), `progress phase ${p}`);

    // The stored record is encrypted: no share material in it.
    const raw = JSON.stringify(await page.evaluate((id) => window.sdk.rawRecord(id), wallet.walletId));
    assert.ok(raw.includes(wallet.walletId));
    for (const secret of ["save_data", "PaillierSK", "ShareID", "NTildei", "tsskit.share\""]) {
      assert.ok(!raw.includes(secret), `stored record contains ${secret}`);
    }

    // Reload: only IndexedDB survives. Sign with the password.
    await load();
    const digest = createHash("sha256").update("sdk e2e").digest("hex");
    const sig = await page.evaluate(([id, p, d]) => window.sdk.sign(id, p, d), [wallet.walletId, password, digest]);
    t.diagnostic(`sign: ${(sig.ms / 1000).toFixed(2)} s`);
    assert.ok(sig.verifiedInPage, "verified in the page");
    assert.ok(secp256k1.verify(Buffer.from(sig.signature, "hex"), Buffer.from(digest, "hex"), Buffer.from(wallet.publicKey, "hex"), { prehash: false, lowS: true, format: "compact" }), "verified here");
    assert.ok(secp256k1.verify(Buffer.from(sig.der, "hex"), Buffer.from(digest, "hex"), Buffer.from(wallet.publicKey, "hex"), { prehash: false, format: "der" }));
    assert.equal(sig.signature, sig.r + sig.s);

    // Ethereum-native signing and BIP32 derivation, checked here with viem
    // and @scure/bip32 (not the SDK's code).
    const t1 = Date.now();
    const e = await page.evaluate(([id, p]) => window.sdk.eth(id, p), [wallet.walletId, password]);
    t.diagnostic(`Ethereum: 4 signings in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    assert.equal(e.own.address, wallet.address);
    assert.notEqual(e.derived.address, wallet.address);
    const hd = HDKey.fromExtendedKey(e.xpub);
    assert.equal(Buffer.from(hd.publicKey).toString("hex"), wallet.publicKey, "the xpub is the wallet key");
    assert.equal(Buffer.from(hd.derive(e.path).publicKey).toString("hex"), e.derived.publicKey, "@scure/bip32 derives the same child");
    for (const p of ["m/0", "m/1/2/3"]) {
      const got = await page.evaluate(([id, path]) => window.sdk.address(id, path), [wallet.walletId, p]);
      assert.equal(got.publicKey, Buffer.from(hd.derive(p).publicKey).toString("hex"), `child at ${p}`);
    }
    assert.ok(await verifyMessage({ address: e.derived.address, message: e.message, signature: e.messageSig }), "viem verifyMessage at m/0/7");
    assert.ok(await verifyTypedData({ address: wallet.address, ...e.typedData, signature: e.typedSig }), "viem verifyTypedData");
    assert.equal((await recoverTransactionAddress({ serializedTransaction: e.signedTx })).toLowerCase(), e.derived.address);
    const ptx = parseTransaction(e.signedTx);
    assert.equal(ptx.type, "eip1559");
    assert.equal(ptx.chainId, 11155111);
    assert.equal(ptx.nonce, 5);
    assert.equal(ptx.value, 10n ** 15n);
    assert.equal(ptx.maxFeePerGas, 30n * 10n ** 9n);
    assert.equal(e.accountAddress, getAddress(wallet.address));
    const vtx = parseTransaction(e.viemTx);
    assert.deepEqual([vtx.type, vtx.chainId, vtx.nonce, vtx.to, vtx.value, vtx.gas, vtx.maxFeePerGas, vtx.maxPriorityFeePerGas, vtx.data],
      ["eip1559", 11155111, 9, "0x00000000000000000000000000000000000000bb", 42n, 30000n, 20n * 10n ** 9n, 2n * 10n ** 9n, "0x1234"]);
    assert.equal((await recoverTransactionAddress({ serializedTransaction: e.viemTx })).toLowerCase(), wallet.address);
    assert.equal(e.bad?.code, "invalid_argument", JSON.stringify(e.bad));
    assert.match(e.bad.message, /hardened/);

    const wrong = await page.evaluate(([id, d]) => window.sdk.wrongPassword(id, d), [wallet.walletId, digest]);
    assert.equal(wrong?.name, "WrongPasswordError");
    const listed = await page.evaluate(() => window.sdk.list());
    assert.equal(listed.length, 1);
    assert.equal(listed[0].server, "ok");

    // Export, clear everything, import, sign again.
    const backup = await page.evaluate(([id, p]) => window.sdk.exportBackup(id, p), [wallet.walletId, password]);
    assert.equal(JSON.parse(backup).format, "tsskit.share.backup");
    await page.evaluate(() => window.sdk.clearStorage());
    await load();
    assert.equal((await page.evaluate(() => window.sdk.list())).length, 0);
    const imported = await page.evaluate(([b, p]) => window.sdk.importBackup(b, p), [backup, password]);
    assert.equal(imported.walletId, wallet.walletId);
    const digest2 = createHash("sha256").update("after import").digest("hex");
    const sig2 = await page.evaluate(([id, p, d]) => window.sdk.sign(id, p, d), [wallet.walletId, password, digest2]);
    assert.ok(sig2.verifiedInPage);
    assert.ok(secp256k1.verify(Buffer.from(sig2.signature, "hex"), Buffer.from(digest2, "hex"), Buffer.from(wallet.publicKey, "hex"), { prehash: false, lowS: true, format: "compact" }));

    // The background pool fills while the page is idle; the next wallet
    // takes a ready set instead of searching for primes.
    for (const deadline = Date.now() + 120_000; ;) {
      if ((await page.evaluate(() => window.sdk.poolCount())) >= 1) break;
      if (Date.now() > deadline) throw new Error("the pre-params pool never filled");
      await new Promise((r) => setTimeout(r, 500));
    }
    const before = await page.evaluate(() => window.sdk.poolCount());
    const warm = await page.evaluate(([p]) => window.sdk.createWallet("warm wallet", p), [password]);
    const after = await page.evaluate(() => window.sdk.poolCount());
    t.diagnostic(`createWallet with a pooled pre-params set: ${(warm.ms / 1000).toFixed(1)} s (cold was ${(wallet.ms / 1000).toFixed(1)} s)`);
    assert.ok(after < before || after === 0, `a pooled set was used (${before} -> ${after})`);
    assert.notEqual(warm.walletId, wallet.walletId);

    // A lying coordinator (a separate process in front of the real one)
    // makes a 3-of-3 where the app asked for 2-of-3: the SDK refuses the
    // session before it joins, and stores nothing.
    const evil = spawn(process.env.EVILCOORD_BIN, ["--upstream", `127.0.0.1:${coord}`, "--signers", "3"]);
    t.after(() => evil.kill("SIGTERM"));
    const evilAddr = await new Promise((resolve, reject) => {
      evil.stdout.on("data", (d) => { const m = /ready (\S+)/.exec(String(d)); if (m) resolve(m[1]); });
      evil.once("exit", (c) => reject(new Error(`evilcoord exited ${c}`)));
    });
    await page.goto(`http://127.0.0.1:${web}/e2e/sdk.html`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    await page.evaluate((c) => window.sdk.open(c), { ...cfg, coordinatorUrl: `http://${evilAddr}` });
    const stored = (await page.evaluate(() => window.sdk.list())).length;
    const refused = await page.evaluate(([p]) => window.sdk.createWalletError("lied to", p, 2), [password]);
    assert.equal(refused?.code, "session_mismatch", JSON.stringify(refused));
    assert.match(refused.message, /3 signers; 2 were asked for/);
    assert.equal((await page.evaluate(() => window.sdk.list())).length, stored, "nothing stored");
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + log.slice(-6000));
    throw e;
  }
});
