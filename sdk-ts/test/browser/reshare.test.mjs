// Refresh and reshare from the browser, against `tsskit dev` with four
// server parties (a separate process), real gRPC-Web and real IndexedDB:
// a 2-of-3 wallet is made, signs, and is backed up (epoch 0); refreshWallet
// makes epoch 1 with the same key and address, and the wallet signs again;
// in a fresh browser profile the old backup imports but cannot sign
// (stale_epoch), and over the refreshed share it is refused (older_backup),
// while the new backup replaces it; then reshareWallet makes the wallet
// 3-of-4 (epoch 2) and it signs with three signers; a refresh that breaks
// after its Completed event leaves epoch 3's share pending (the current
// one stale), and resumeReshare activates it from the coordinator's
// record of the session once every holder's acknowledgement verifies.
// Every signature is checked here with @noble/curves against the wallet's
// public key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { secp256k1 } from "@noble/curves/secp256k1.js";

import { userToken, waitReady } from "./devstack.mjs";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });
const digestOf = (s) => createHash("sha256").update(s).digest("hex");

/** The signature verifies under the wallet key (compact, low-S), checked with @noble/curves. */
function verified(sig, digest, publicKey) {
  return secp256k1.verify(Buffer.from(sig.signature, "hex"), Buffer.from(digest, "hex"), Buffer.from(publicKey, "hex"), { prehash: false, lowS: true, format: "compact" });
}

test("refreshWallet and reshareWallet: same key, new epochs, old backups refused, 2-of-3 to 3-of-4, a missed end resumed", { timeout: 1_800_000 }, async (t) => {
  assert.ok(bin && webDir, "TSSKIT_BIN and TSSKIT_WEB_DIR must be set (make test-browser)");
  const dataDir = mkdtempSync(join(tmpdir(), "tsskit-reshare-"));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = { ...process.env, MPC_API_KEY: "sdk-reshare-api-key-0123456789", CRYPTO_MASTER_KEY: "cd".repeat(32), ALLOWED_IPS: "" };
  // Four server parties: a 3-of-4 needs a server the 2-of-3 does not hold.
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--server-parties", "4", "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
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
    await waitReady(apiUrl, env.MPC_API_KEY, { parties: 4, timeoutMs: 120_000 });
    const token = await userToken(apiUrl, env.MPC_API_KEY, "reshare-user");
    const { trustRoot } = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    const cfg = { coordinatorUrl: `http://127.0.0.1:${coord}`, routerUrl: `http://127.0.0.1:${router}`, wasmUrl: `http://127.0.0.1:${web}/tss.wasm`, token, workers: 2, trustRoot };
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    // Two browser profiles: each context has its own IndexedDB.
    const profile = async () => {
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (e) => console.error("page error:", e));
      await page.goto(`http://127.0.0.1:${web}/e2e/sdk.html`);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
      await page.evaluate((c) => window.sdk.open(c), cfg);
      return page;
    };
    const a = await profile();
    const password = "refresh me, said the violet orbit";

    // A 2-of-3 wallet (epoch 0) signs, and is backed up.
    const wallet = await a.evaluate(([p]) => window.sdk.createWallet("reshare e2e", p), [password]);
    t.diagnostic(`createWallet: ${(wallet.ms / 1000).toFixed(1)} s`);
    assert.equal(wallet.epoch, 0);
    const sign = async (page, what) => {
      const d = digestOf(what);
      const sig = await page.evaluate(([id, p, dd]) => window.sdk.sign(id, p, dd), [wallet.walletId, password, d]);
      assert.ok(verified(sig, d, wallet.publicKey), `${what}: verified with @noble/curves under the wallet key`);
      return sig;
    };
    await sign(a, "epoch 0");
    const oldBackup = await a.evaluate(([id, p]) => window.sdk.exportBackup(id, p), [wallet.walletId, password]);

    // A refresh canceled during its rounds stores nothing, and this
    // profile records its run joined (never stored).
    const canceled = await a.evaluate(([id, p]) => window.sdk.refreshCanceled(id, p), [wallet.walletId, password]);
    assert.equal(canceled.error?.code, "canceled", JSON.stringify(canceled.error));
    assert.deepEqual([canceled.share.epoch, canceled.pending], [0, []]);
    assert.deepEqual(canceled.runs.map((r) => [r.epoch, r.state]), [[1, "joined"]]);
    const canceledRun = canceled.runs[0].sessionId;

    // Refresh: epoch 1, the same key and address; the new share replaced
    // the old one. Its join carried this browser's signed statement that it
    // never stored the canceled run's share (the coordinator accepts only
    // the party's own about this wallet's new epoch): the canceled run is
    // abandoned for good, and the runs are dropped once epoch 1 is active.
    const refreshed = await a.evaluate(([id, p]) => window.sdk.reshare(id, p), [wallet.walletId, password]);
    const runState = Object.fromEntries(refreshed.runsAtSaving.map((r) => [r.sessionId, r.state]));
    assert.equal(runState[canceledRun], "abandoned", JSON.stringify(refreshed.runsAtSaving));
    assert.equal(refreshed.runsAtSaving.length, 2, JSON.stringify(refreshed.runsAtSaving));
    // The run that made the active share stays recorded (it answers a freeze).
    assert.deepEqual((await a.evaluate((id) => window.sdk.runs(id), wallet.walletId)).map((r) => [r.epoch, r.state]), [[1, "activated"]], "runs dropped at activation");
    const at = (r) => r.phases.map((p) => `${p}@${(r.phaseMs[p] / 1000).toFixed(1)}s`).join(" > ");
    t.diagnostic(`refreshWallet (2-of-3): ${(refreshed.ms / 1000).toFixed(1)} s: ${at(refreshed)}`);
    assert.deepEqual([refreshed.epoch, refreshed.publicKey, refreshed.address, refreshed.threshold, refreshed.parties],
      [1, wallet.publicKey, wallet.address, 2, 3]);
    for (const p of ["loading", "joining", "resharing", "saving", "activating", "done"]) assert.ok(refreshed.phases.includes(p), `progress phase ${p}`);
    assert.deepEqual(refreshed.pending, [], "no pending share is left once activated");
    assert.equal((await a.evaluate((id) => window.sdk.info(id), wallet.walletId)).epoch, 1);
    const listed = (await a.evaluate(() => window.sdk.list())).find((w) => w.walletId === wallet.walletId);
    assert.deepEqual([listed.server, listed.epoch, listed.serverEpoch], ["ok", 1, 1]);
    await sign(a, "epoch 1");

    // A fresh profile with the old backup: it imports (nothing newer is
    // stored there), but its share is of epoch 0 and cannot sign.
    const b = await profile();
    const imported = await b.evaluate(([text, p]) => window.sdk.importBackup(text, p), [oldBackup, password]);
    assert.equal(imported.epoch, 0);
    const stale = await b.evaluate(([id, p, d]) => window.sdk.signError(id, p, d), [wallet.walletId, password, digestOf("stale")]);
    assert.equal(stale?.code, "stale_epoch", JSON.stringify(stale));
    assert.equal(stale.name, "StaleEpochError");
    assert.match(stale.message, /recover the wallet, or import a newer backup/i);

    // The old backup over the refreshed share: refused, and the share stays.
    const older = await a.evaluate(([text, p]) => window.sdk.importBackupError(text, p), [oldBackup, password]);
    assert.equal(older?.code, "older_backup", JSON.stringify(older));
    assert.equal(older.name, "OlderBackupError");
    assert.equal((await a.evaluate((id) => window.sdk.info(id), wallet.walletId)).epoch, 1);
    // The new backup over the stale share in the other profile replaces it, and signs.
    const newBackup = await a.evaluate(([id, p]) => window.sdk.exportBackup(id, p), [wallet.walletId, password]);
    assert.equal((await b.evaluate(([text, p]) => window.sdk.importBackup(text, p), [newBackup, password])).epoch, 1);
    await sign(b, "epoch 1, imported");
    await b.context().close();

    // Reshare to 3-of-4: a server party from the pool joins; epoch 2.
    const reshared = await a.evaluate(([id, p]) => window.sdk.reshare(id, p, 3, 4), [wallet.walletId, password]);
    t.diagnostic(`reshareWallet (2-of-3 -> 3-of-4): ${(reshared.ms / 1000).toFixed(1)} s: ${at(reshared)}`);
    assert.deepEqual([reshared.epoch, reshared.publicKey, reshared.address, reshared.threshold, reshared.parties],
      [2, wallet.publicKey, wallet.address, 3, 4]);
    const info = await a.evaluate((id) => window.sdk.info(id), wallet.walletId);
    assert.equal(info.parties.length, 4);
    assert.equal(info.parties.filter((p) => p.startsWith("server-")).length, 3);
    // Three signers: this browser and two server parties.
    await sign(a, "epoch 2, 3-of-4");

    // A refresh whose end this browser misses: every holder stored its
    // share of epoch 3 and the coordinator activated it, but the browser
    // broke before it activated its own. Its new share is kept pending
    // (through a reload); the current one is stale; resumeReshare reads the
    // session back, checks every holder's stored acknowledgement and
    // activates it.
    const cut = await a.evaluate(([id, p]) => window.sdk.refreshCutAtActivation(id, p), [wallet.walletId, password]);
    assert.equal(cut.error?.code, "reshare_unconfirmed", JSON.stringify(cut.error));
    assert.deepEqual([cut.share.epoch, cut.pending.map((p) => p.epoch)], [2, [3]]);
    await a.reload();
    await a.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    await a.evaluate((c) => window.sdk.open(c), cfg);
    const missed = await a.evaluate(([id, p, d]) => window.sdk.signError(id, p, d), [wallet.walletId, password, digestOf("epoch 2 after a missed end")]);
    assert.equal(missed?.code, "stale_epoch", JSON.stringify(missed));
    const wrongPw = await a.evaluate(([id]) => window.sdk.resumeError(id, "not the password at all"), [wallet.walletId]);
    assert.equal(wrongPw?.name, "WrongPasswordError", JSON.stringify(wrongPw));
    const resumed = await a.evaluate(([id, p]) => window.sdk.resume(id, p), [wallet.walletId, password]);
    assert.deepEqual([resumed.epoch, resumed.publicKey, resumed.address, resumed.threshold, resumed.parties], [3, wallet.publicKey, wallet.address, 3, 4]);
    const after = await a.evaluate((id) => window.sdk.stored(id), wallet.walletId);
    assert.deepEqual([after.share.epoch, after.pending], [3, []]);
    await sign(a, "epoch 3, after resumeReshare");
    // Nothing left to resume.
    const none = await a.evaluate(([id, p]) => window.sdk.resumeError(id, p), [wallet.walletId, password]);
    assert.equal(none?.code, "not_found", JSON.stringify(none));

    // One acknowledged run per epoch: a refresh whose report the
    // coordinator never hears (every holder stored epoch 4's share, and
    // the run failed unactivated) is not run again. The next refresh's
    // join carries this browser's stored acknowledgement of that run; the
    // coordinator finds the run complete, activates it late and fails the
    // new run (run_complete); refreshWallet answers with the earlier
    // run's share, activated once every acknowledgement verified here.
    const lost = await a.evaluate(([id, p]) => window.sdk.refreshLosingReport(id, p), [wallet.walletId, password]);
    assert.ok(lost.error, "the refresh whose report was lost succeeded");
    assert.deepEqual([lost.share.epoch, lost.pending.map((p) => p.epoch)], [3, [4]], JSON.stringify(lost));
    const late = await a.evaluate(([id, p]) => window.sdk.reshare(id, p), [wallet.walletId, password]);
    t.diagnostic(`refresh after a run every holder stored: ${(late.ms / 1000).toFixed(1)} s: ${at(late)}`);
    assert.deepEqual([late.epoch, late.publicKey, late.address, late.pending], [4, wallet.publicKey, wallet.address, []]);
    assert.match(log, /earlier run activated late/);
    await sign(a, "epoch 4, activated late");

    // Settling a run in limbo with this browser a holder (settleRun): a
    // refresh every holder stored whose report the coordinator never
    // heard, with one server holder the operator names silent. The browser
    // and the other server holders freeze it (tsskit settle on the
    // servers' vaults), then drop it on each other's frozen-run
    // statements; the next refresh runs, the silent holder taking part on
    // their abandoned-run statements, and the wallet signs at the new
    // epoch.
    const limbo = await a.evaluate(([id, p]) => window.sdk.refreshLosingReport(id, p), [wallet.walletId, password]);
    assert.ok(limbo.error, "the refresh whose report was lost succeeded");
    const run = (await a.evaluate((id) => window.sdk.runs(id), wallet.walletId)).find((r) => r.epoch === 5);
    assert.equal(run?.state, "stored", JSON.stringify(limbo));
    const servers = (await a.evaluate((id) => window.sdk.info(id), wallet.walletId)).parties.filter((id) => id.startsWith("server-")).sort();
    assert.equal(servers.length, 3, JSON.stringify(servers));
    const [silent, ...speaking] = servers;
    const settleAt = (party, step, ...flags) => {
      const r = spawnSync(bin, ["settle", step, "--data-dir", join(dataDir, party), "--party-id", party, "--wallet", wallet.walletId, "--run", run.sessionId, ...flags], { env, encoding: "utf8" });
      assert.equal(r.status, 0, `tsskit settle ${step} at ${party}: ${r.stderr}`);
      return r.stdout.trim();
    };
    const settle = (step, more = {}) => a.evaluate((o) => window.sdk.settle(o), { walletId: wallet.walletId, sessionId: run.sessionId, step, password, ...more });
    const settleErr = (step, more = {}) => a.evaluate((o) => window.sdk.settleError(o), { walletId: wallet.walletId, sessionId: run.sessionId, step, password, ...more });
    // The wallet's Web Lock: while another tab of this profile holds it,
    // a settle step, a refresh and a change of password are refused at
    // once (busy) and change nothing; where the browser has no Web Locks a settle step is refused
    // (unsupported), as no tab could keep it apart from a refresh.
    const tab = await a.context().newPage();
    await tab.goto(a.url());
    await tab.evaluate((id) => new Promise((held) => {
      navigator.locks.request(`tsskit-wallet:${id}`, () => { held(); return new Promise((done) => { window.releaseWallet = done; }); });
    }), wallet.walletId);
    assert.equal((await settleErr("freeze"))?.code, "busy");
    assert.equal((await a.evaluate(([id, p]) => window.sdk.reshareError(id, p), [wallet.walletId, password]))?.code, "busy");
    const pwBusy = await a.evaluate(([id, p]) => window.sdk.changePassword(id, p, "a password never set, quiet harbour").then(() => null, (e) => e.code ?? e.name), [wallet.walletId, password]);
    assert.equal(pwBusy, "busy");
    await tab.evaluate(() => window.releaseWallet());
    await tab.close();
    const noLocks = await a.evaluate(async (o) => {
      const had = Object.getOwnPropertyDescriptor(Navigator.prototype, "locks");
      Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
      try { return await window.sdk.settleError(o); } finally { Object.defineProperty(Navigator.prototype, "locks", had); }
    }, { walletId: wallet.walletId, sessionId: run.sessionId, step: "freeze", password });
    assert.equal(noLocks?.code, "unsupported", JSON.stringify(noLocks));
    assert.equal((await a.evaluate((id) => window.sdk.runs(id), wallet.walletId)).find((r) => r.epoch === 5)?.state, "stored");
    const frozen = await settle("freeze");
    assert.deepEqual([frozen.kind, frozen.held, frozen.epoch], ["frozen", true, 5], JSON.stringify(frozen));
    assert.match(frozen.statement, /^[0-9a-f]+$/);
    // Frozen: no refresh starts, and a drop without the others' statements is refused.
    assert.equal((await a.evaluate(([id, p]) => window.sdk.reshareError(id, p), [wallet.walletId, password]))?.code, "run_frozen");
    assert.equal((await settleErr("drop", { silent: [silent] }))?.code, "settle_refused");
    assert.equal((await settleErr("thaw", { silent: [silent] }))?.code, "settle_refused");
    const serverFrozen = Object.fromEntries(speaking.map((id) => [id, settleAt(id, "freeze")]));
    // Three of the run's holders named silent could sign with it (3-of-4): refused.
    assert.equal((await settleErr("drop", { silent: [silent, speaking[0]], statements: Object.values(serverFrozen) }))?.code, "settle_refused");
    const dropped = await settle("drop", { silent: [silent], statements: Object.values(serverFrozen) });
    assert.equal(dropped.kind, "abandoned", JSON.stringify(dropped));
    const files = Object.fromEntries([["browser", frozen.statement], ...Object.entries(serverFrozen)].map(([id, st]) => {
      const f = join(dataDir, `frozen-${id}.hex`);
      writeFileSync(f, st + "\n");
      return [id, f];
    }));
    for (const id of speaking) {
      settleAt(id, "drop", "--silent", silent, ...Object.entries(files).filter(([k]) => k !== id).flatMap(([, f]) => ["--frozen", f]));
    }
    const afterDrop = await a.evaluate((id) => window.sdk.stored(id), wallet.walletId);
    assert.deepEqual([afterDrop.share.epoch, afterDrop.pending], [4, []]);
    // Dropped for good here: freezing it again is refused; the drop answers its statement again.
    assert.equal((await settleErr("freeze"))?.code, "settle_refused");
    assert.equal((await settle("drop", { silent: [silent] })).statement, dropped.statement);
    const next = await a.evaluate(([id, p]) => window.sdk.reshare(id, p), [wallet.walletId, password]);
    t.diagnostic(`refresh after a run settled: ${(next.ms / 1000).toFixed(1)} s: ${at(next)}`);
    assert.deepEqual([next.epoch, next.publicKey, next.address], [5, wallet.publicKey, wallet.address]);
    assert.equal(log.match(/earlier run activated late/g)?.length, 1, "the settled run was not activated late: only the earlier late activation is logged");
    await sign(a, "epoch 5, after a run in limbo was settled");
    // The run that made epoch 5 is this browser's share: a freeze of it
    // answers the activated-run statement and freezes nothing.
    const made = (await a.evaluate((id) => window.sdk.runs(id), wallet.walletId)).find((r) => r.state === "activated");
    const activated = await a.evaluate((o) => window.sdk.settle(o), { walletId: wallet.walletId, sessionId: made.sessionId, step: "freeze", password });
    assert.equal(activated.kind, "activated", JSON.stringify(activated));
    assert.equal((await settleErr("freeze", { sessionId: "no-such-run" }))?.code, "not_found");
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + log.slice(-8000));
    throw e;
  }
});
