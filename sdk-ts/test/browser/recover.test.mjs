// Lost-device recovery from the browser, against `tsskit dev` (a separate
// process, its server parties configured with an app backend's recovery
// key through TSSKIT_RECOVERY_KEYS), real gRPC-Web and real IndexedDB:
// profile A makes a 2-of-3 wallet with a recovery kit and backend
// approvals allowed, and signs; profile B recovers it with the recovery
// code (a first attempt canceled during its rounds, whose run the retry
// — the same device and party — says it abandoned) and signs, and A's
// share is refused (stale_epoch); profile C asks
// for a recovery, and approvals that are forged, expired or signed by a
// key the server parties do not trust are refused with typed errors and
// leave nothing behind, while the approval `tsskit recovery approve`
// signs recovers the wallet into C, which signs, and B's share is now
// the stale one. Every signature is checked here with @noble/curves
// against the wallet's public key; the untrusted approvals are made here
// with @noble/curves' Ed25519 from the documented encoding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { ed25519 } from "@noble/curves/ed25519.js";

import { userToken, waitReady } from "./devstack.mjs";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });
const digestOf = (s) => createHash("sha256").update(s).digest("hex");
const hex = (b) => Buffer.from(b).toString("hex");

/** The signature verifies under the wallet key (compact, low-S), checked with @noble/curves. */
function verified(sig, digest, publicKey) {
  return secp256k1.verify(Buffer.from(sig.signature, "hex"), Buffer.from(digest, "hex"), Buffer.from(publicKey, "hex"), { prehash: false, lowS: true, format: "compact" });
}

/**
 * A backend approval signed with an Ed25519 secret key of this test's own,
 * built from party/recovery's documented encoding: version 1, kind
 * (backend 2), 2-byte-length wallet id, 4-byte epoch, 2-byte-length party
 * id, the 32-byte identity, 8-byte expiry in Unix ms, all big-endian; the
 * signature is over "tsskit/v1 recovery\0" || that encoding.
 */
function approvalOf(req, secret, expiresMs) {
  const str16 = (s) => { const b = Buffer.from(s, "utf8"); const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return Buffer.concat([l, b]); };
  const u32 = Buffer.alloc(4); u32.writeUInt32BE(req.epoch);
  const u64 = Buffer.alloc(8); u64.writeBigUInt64BE(BigInt(expiresMs));
  const enc = Buffer.concat([Buffer.from([1, 2]), str16(req.walletId), u32, str16(req.partyId), Buffer.from(req.identity, "hex"), u64]);
  const sig = ed25519.sign(Buffer.concat([Buffer.from("tsskit/v1 recovery\0"), enc]), secret);
  return JSON.stringify({
    format: "tsskit-recovery-authorization", version: 1, kind: "backend", wallet_id: req.walletId, epoch: req.epoch, party_id: req.partyId,
    identity: req.identity, expires_at: new Date(expiresMs).toISOString(), signer: hex(ed25519.getPublicKey(secret)), signature: hex(sig),
  }, null, 2) + "\n";
}

test("recoverWallet: with the recovery code, then with the backend's approval; refusals typed and harmless", { timeout: 1_800_000 }, async (t) => {
  assert.ok(bin && webDir, "TSSKIT_BIN and TSSKIT_WEB_DIR must be set (make test-browser)");
  const dataDir = mkdtempSync(join(tmpdir(), "tsskit-recover-"));
  // The app backend's recovery key: its public half goes to every server party.
  const keyFile = join(dataDir, "backend-recovery.key");
  const { public_key: backendKey } = JSON.parse(execFileSync(bin, ["recovery", "backend-key", "--out", keyFile], { encoding: "utf8" }));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = { ...process.env, MPC_API_KEY: "sdk-recover-api-key-0123456789", CRYPTO_MASTER_KEY: "ef".repeat(32), ALLOWED_IPS: "", TSSKIT_RECOVERY_KEYS: backendKey };
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
    "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`, "--web-dir", webDir], { env });
  let log = "";
  dev.stderr.on("data", (d) => (log += d));
  let browser;
  t.after(async () => {
    await browser?.close();
    dev.kill("SIGTERM");
    await new Promise((r) => dev.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    const apiUrl = `http://127.0.0.1:${api}`;
    await waitReady(apiUrl, env.MPC_API_KEY, { parties: 3, timeoutMs: 120_000 });
    const token = await userToken(apiUrl, env.MPC_API_KEY, "recover-user");
    const { trustRoot } = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    const cfg = { coordinatorUrl: `http://127.0.0.1:${coord}`, routerUrl: `http://127.0.0.1:${router}`, wasmUrl: `http://127.0.0.1:${web}/tss.wasm`, token, workers: 2, trustRoot };
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    // Each context is a browser profile with its own IndexedDB.
    const profile = async () => {
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (e) => console.error("page error:", e));
      await page.goto(`http://127.0.0.1:${web}/e2e/sdk.html`);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
      await page.evaluate((c) => window.sdk.open(c), cfg);
      return page;
    };
    const at = (r) => r.phases.map((p) => `${p}@${(r.phaseMs[p] / 1000).toFixed(1)}s`).join(" > ");

    // A: a 2-of-3 wallet with a recovery kit and backend approvals; the code comes back once.
    const a = await profile();
    const pwA = "the lost browser kept a violet lantern";
    const wallet = await a.evaluate(([p]) => window.sdk.createRecoverable("recover e2e", p, { kit: true, backend: true }), [pwA]);
    t.diagnostic(`createWallet with a recovery kit: ${(wallet.ms / 1000).toFixed(1)} s`);
    assert.equal(wallet.epoch, 0);
    const code = wallet.recoveryCode;
    assert.equal(typeof code, "string");
    assert.equal(code.split(" ").length, 12, "a recovery code of 12 words");
    const sign = async (page, password, what) => {
      const d = digestOf(what);
      const sig = await page.evaluate(([id, p, dd]) => window.sdk.sign(id, p, dd), [wallet.walletId, password, d]);
      assert.ok(verified(sig, d, wallet.publicKey), `${what}: verified with @noble/curves under the wallet key`);
    };
    await sign(a, pwA, "A, epoch 0");
    // The code is nowhere in A's storage.
    const raw = JSON.stringify(await a.evaluate((id) => window.sdk.rawRecord(id), wallet.walletId));
    for (const w of code.split(" ")) assert.ok(!raw.includes(` ${w} `) && !raw.includes(code), "the recovery code is not stored");

    // B: a fresh profile recovers the wallet with the code, and signs.
    const b = await profile();
    const pwB = "a second browser found the violet lantern";
    // B holds no share, yet the coordinator lists the account's wallets: what a recovery UI offers.
    const listedB = (await b.evaluate(() => window.sdk.accountWallets())).find((w) => w.walletId === wallet.walletId);
    assert.deepEqual(
      listedB && [listedB.address, listedB.publicKey, listedB.threshold, listedB.parties, listedB.epoch, listedB.name, listedB.recovery],
      [wallet.address, wallet.publicKey, 2, 3, 0, "recover e2e", { kit: true, backend: true }],
    );
    const wrong = await b.evaluate(([id, p, ad]) => window.sdk.recoverError({ walletId: id, address: ad, password: p, code: "abandon ".repeat(11) + "about" }), [wallet.walletId, pwB, wallet.address]);
    assert.equal(wrong?.code, "recovery_wrong_code", JSON.stringify(wrong));
    assert.equal(wrong.name, "RecoveryError");
    assert.deepEqual((await b.evaluate((id) => window.sdk.stored(id), wallet.walletId)).requests, [], "a wrong code keeps no device");
    // The key handed over must have the address the user knows: a session
    // handing over another is refused before this browser joins.
    const otherKey = await b.evaluate(([id, p, c, ad]) => window.sdk.recoverError({ walletId: id, address: ad, password: p, code: c }), [wallet.walletId, pwB, code, "0x" + "11".repeat(20)]);
    assert.equal(otherKey?.code, "session_mismatch", JSON.stringify(otherKey));
    assert.match(otherKey.message, /hands over the key of address/);
    // The code signed for a device, kept (sealed) for every attempt at this epoch.
    const kept = (await b.evaluate((id) => window.sdk.stored(id), wallet.walletId)).requests;
    assert.equal(kept.length, 1, JSON.stringify(kept));
    // A recovery canceled during its rounds stores nothing and records its
    // run joined, under the kept device's party id.
    const canceled = await b.evaluate(([id, p, c, ad]) => window.sdk.recoverCanceled({ walletId: id, address: ad, password: p, code: c }), [wallet.walletId, pwB, code, wallet.address]);
    assert.equal(canceled.error?.code, "canceled", JSON.stringify(canceled.error));
    assert.deepEqual([canceled.share, canceled.pending, canceled.requests.map((r) => r.partyId)], [null, [], [kept[0].partyId]]);
    assert.deepEqual(canceled.runs.map((r) => [r.epoch, r.state]), [[1, "joined"]]);
    // The same device under another password: refused, nothing lost.
    const otherPw = await b.evaluate(([id, c, ad]) => window.sdk.recoverError({ walletId: id, address: ad, password: "another password for the same device", code: c }), [wallet.walletId, code, wallet.address]);
    assert.equal(otherPw?.name, "WrongPasswordError", JSON.stringify(otherPw));
    // The retry is the same party: its join carries the device's signed
    // statement that it never stored the canceled run's share (accepted by
    // the coordinator: the party's own, about this wallet's new epoch),
    // the canceled run is abandoned for good, and the runs are dropped
    // with the request once epoch 1 is this browser's.
    const byCode = await b.evaluate(([id, p, c, ad]) => window.sdk.recover({ walletId: id, address: ad, password: p, code: c }), [wallet.walletId, pwB, code, wallet.address]);
    t.diagnostic(`recoverWallet with the code: ${(byCode.ms / 1000).toFixed(1)} s: ${at(byCode)}`);
    const runState = Object.fromEntries(byCode.runsAtSaving.map((r) => [r.sessionId, r.state]));
    assert.equal(runState[canceled.runs[0].sessionId], "abandoned", JSON.stringify(byCode.runsAtSaving));
    assert.equal(byCode.runsAtSaving.length, 2, JSON.stringify(byCode.runsAtSaving));
    // The run that made the active share stays recorded (it answers a freeze); the request is answered.
    assert.deepEqual([byCode.runs.map((r) => [r.epoch, r.state]), byCode.requests], [[[1, "activated"]], []], "runs and request dropped at activation");
    assert.equal((await b.evaluate((id) => window.sdk.info(id), wallet.walletId)).partyId, kept[0].partyId);
    assert.deepEqual([byCode.epoch, byCode.publicKey, byCode.address, byCode.threshold, byCode.parties], [1, wallet.publicKey, wallet.address, 2, 3]);
    for (const p of ["loading", "joining", "resharing", "saving", "activating", "done"]) assert.ok(byCode.phases.includes(p), `progress phase ${p}`);
    assert.deepEqual(byCode.pending, [], "no pending share is left once activated");
    await sign(b, pwB, "B, recovered with the code, epoch 1");
    // A's share is of epoch 0: refused.
    const staleA = await a.evaluate(([id, p, d]) => window.sdk.signError(id, p, d), [wallet.walletId, pwA, digestOf("A after the recovery")]);
    assert.equal(staleA?.code, "stale_epoch", JSON.stringify(staleA));

    // C: asks the app backend for a recovery.
    const c = await profile();
    const pwC = "a third browser asked the backend politely";
    const req = await c.evaluate(([id, p]) => window.sdk.requestRecovery(id, p), [wallet.walletId, pwC]);
    assert.deepEqual([req.walletId, req.epoch, req.recovery], [wallet.walletId, 1, { kit: true, backend: true }]);
    assert.match(req.identity, /^[0-9a-f]{64}$/);
    // Asked again: the same request (the device key kept, sealed, in IndexedDB).
    const again = await c.evaluate(([id, p]) => window.sdk.requestRecovery(id, p), [wallet.walletId, pwC]);
    assert.deepEqual([again.partyId, again.identity], [req.partyId, req.identity]);
    const approve = (...extra) => execFileSync(bin, ["recovery", "approve", "--key", keyFile, "--wallet", req.walletId, "--epoch", String(req.epoch),
      "--party-id", req.partyId, "--identity", req.identity, ...extra], { encoding: "utf8" });
    const approval = approve("--valid", "2h");
    const nothingLost = async (what) => {
      const s = await c.evaluate((id) => window.sdk.stored(id), wallet.walletId);
      assert.equal(s.share, null, `${what}: no share stored`);
      assert.deepEqual(s.pending, [], `${what}: no pending share`);
      assert.deepEqual(s.requests.map((r) => r.partyId), [req.partyId], `${what}: the request is kept`);
    };
    const refused = async (what, approvalText, want) => {
      const e = await c.evaluate(([p, ap, ad]) => window.sdk.recoverError({ password: p, approval: ap, address: ad }), [pwC, approvalText, wallet.address]);
      assert.equal(e?.code, want, `${what}: ${JSON.stringify(e)}`);
      assert.equal(e.name, "RecoveryError", what);
      await nothingLost(what);
    };
    // Forged: the backend's approval with one signature bit flipped.
    const f = JSON.parse(approval);
    f.signature = (parseInt(f.signature[0], 16) ^ 1).toString(16) + f.signature.slice(1);
    await refused("a forged approval", JSON.stringify(f, null, 2) + "\n", "recovery_forged");
    // Expired an hour ago (signed with a key of this test's: expiry is checked after the signature).
    const rogue = ed25519.utils.randomSecretKey();
    await refused("an expired approval", approvalOf(req, rogue, Date.now() - 3_600_000), "recovery_expired");
    // Well-formed and unexpired, but from a key no server party is configured with:
    // the server holders refuse it against their own records, and the session fails.
    const t0 = Date.now();
    await refused("an approval from an untrusted key", approvalOf(req, rogue, Date.now() + 3_600_000), "recovery_refused");
    t.diagnostic(`an untrusted approval refused by the server holders in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // For another device: this profile's request names another key.
    await refused("an approval for another device", approvalOf({ ...req, identity: hex(ed25519.getPublicKey(rogue)) }, rogue, Date.now() + 3_600_000), "recovery_other_device");
    // The wrong password does not open the device key.
    const wrongPw = await c.evaluate(([ap, ad]) => window.sdk.recoverError({ password: "not the password it was sealed with", approval: ap, address: ad }), [approval, wallet.address]);
    assert.equal(wrongPw?.name, "WrongPasswordError", JSON.stringify(wrongPw));
    await nothingLost("the wrong password");
    // Still at epoch 1: B signs.
    await sign(b, pwB, "B, after the refusals");

    // The backend's real approval recovers the wallet into C, which signs.
    const byApproval = await c.evaluate(([p, ap, ad]) => window.sdk.recover({ password: p, approval: ap, address: ad }), [pwC, approval, wallet.address]);
    t.diagnostic(`recoverWallet with the backend's approval: ${(byApproval.ms / 1000).toFixed(1)} s: ${at(byApproval)}`);
    assert.deepEqual([byApproval.walletId, byApproval.epoch, byApproval.publicKey, byApproval.address], [wallet.walletId, 2, wallet.publicKey, wallet.address]);
    assert.deepEqual(byApproval.requests, [], "the request is answered");
    assert.deepEqual(byApproval.pending, []);
    const info = await c.evaluate((id) => window.sdk.info(id), wallet.walletId);
    assert.equal(info.partyId, req.partyId);
    assert.deepEqual(info.parties.filter((p) => p.startsWith("browser-")), [req.partyId], "one client holder: this browser");
    await sign(c, pwC, "C, recovered with the backend's approval, epoch 2");
    // B's share is now the stale one; the used approval is stale too.
    const staleB = await b.evaluate(([id, p, d]) => window.sdk.signError(id, p, d), [wallet.walletId, pwB, digestOf("B after C's recovery")]);
    assert.equal(staleB?.code, "stale_epoch", JSON.stringify(staleB));
    const replay = await b.evaluate(([id, p, cc, ad]) => window.sdk.recoverError({ walletId: id, address: ad, password: p, code: cc }), [wallet.walletId, pwB, code, wallet.address]);
    assert.equal(replay, null, "the code recovers the wallet again, into B");
    await sign(b, pwB, "B, recovered again with the code, epoch 3");
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + log.slice(-8000));
    throw e;
  }
});
