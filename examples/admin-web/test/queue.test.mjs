// The admin web app while its server parties are busy, in headless
// Chromium against `tsskit dev`:
//
// - With `--work-slots 1` (one work slot per server party), wallets made
//   through the account API (server-only keygens) keep every server
//   party's slot taken while a wallet is created through the app's modal.
//   Its progress panel says that server parties are busy with other
//   sessions and where this one is in line — the session waits, it is not
//   stuck — and the wallet is made all the same.
// - With `--admit-within 10s` (admission plans new sessions for a 10 s
//   deadline), a second wallet asked for while a first is being made would
//   not finish in time at the server party they share: the coordinator
//   refuses it at once (overloaded, with a time to retry after), the
//   modal says "Busy — retrying in N s", the SDK retries, and the wallet is
//   made once the first is done.
//
// Each wallet made then signs, verified here with @noble/curves.
//
//   TSSKIT_BIN=bin/tsskit TSSKIT_REPO=$PWD node --test examples/admin-web/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { secp256k1 } from "@noble/curves/secp256k1.js";

import { busyAccounts, waitReady } from "../../../sdk-ts/test/browser/devstack.mjs";

const bin = process.env.TSSKIT_BIN && resolve(process.env.TSSKIT_BIN);
const repo = process.env.TSSKIT_REPO && resolve(process.env.TSSKIT_REPO);

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });

/**
 * Starts `tsskit dev` with extra flags and a headless Chromium, both
 * stopped when the test ends. newPage() opens the app in a fresh browser
 * profile and waits for its signing engine.
 */
async function startDev(t, name, extra) {
  assert.ok(bin && repo, "TSSKIT_BIN and TSSKIT_REPO must be set");
  const dist = join(repo, "examples/admin-web/dist");
  assert.ok(existsSync(join(dist, "index.html")), "build the app first: npm run -w examples/admin-web build");
  const shots = join(repo, "test-artifacts/admin-web");
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), `tsskit-admin-${name}-`));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = { ...process.env, MPC_API_KEY: `admin-${name}-e2e-api-key-0123456789`, CRYPTO_MASTER_KEY: "cd".repeat(32), ALLOWED_IPS: "" };
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
    "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`,
    "--web-dir", `${dist},${join(repo, "public")}`, ...extra], { env });
  const stack = { apiUrl: `http://127.0.0.1:${api}`, apiKey: env.MPC_API_KEY, shots, log: "", pageErrors: [], browser: undefined, cleanups: [] };
  dev.stderr.on("data", (d) => (stack.log += d));
  t.after(async () => {
    for (const f of stack.cleanups) await f();
    await stack.browser?.close();
    dev.kill("SIGTERM");
    await new Promise((r) => dev.exitCode !== null ? r() : dev.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  });
  stack.newPage = async () => {
    stack.browser ??= await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const ctx = await stack.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => stack.pageErrors.push(String(e)));
    await page.goto(`http://127.0.0.1:${web}/`);
    await page.getByTestId("engine-status").and(page.locator('[data-status="ready"]')).waitFor({ timeout: 60_000 });
    return page;
  };
  return stack;
}

/** Opens the create-wallet modal on page, fills it in and submits; returns the dialog. */
async function submitWallet(page, name, password) {
  await page.getByTestId("create-wallet").click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Wallet name").pressSequentially(name);
  await dialog.getByTestId("password").pressSequentially(password);
  await dialog.getByTestId("password-confirm").pressSequentially(password);
  await dialog.getByTestId("create-submit").click();
  return dialog;
}

/** Waits for the dialog's created wallet, closes it and returns the wallet's id and public key. */
async function madeWallet(page, dialog) {
  const created = dialog.getByTestId("created");
  await created.waitFor({ timeout: 300_000 });
  const walletId = await created.getAttribute("data-wallet-id");
  const publicKey = await created.getAttribute("data-public-key");
  assert.match(publicKey, /^0[23][0-9a-f]{64}$/);
  await dialog.getByTestId("recovery-kept").check();
  await dialog.getByTestId("created-close").click();
  await dialog.waitFor({ state: "detached" });
  await page.locator(`[data-testid="wallet-card"][data-wallet-id="${walletId}"]`).waitFor({ timeout: 15_000 });
  return { walletId, publicKey };
}

/** Signs a digest of text with the wallet through the sign section, and verifies the signature here. */
async function signVerified(page, { walletId, publicKey }, password, text) {
  const sign = page.getByTestId("sign-section");
  const digest = createHash("sha256").update(text).digest("hex");
  await sign.getByTestId("sign-wallet").selectOption(walletId);
  await sign.getByTestId("mode-raw").check();
  await sign.getByTestId("sign-digest-input").fill(digest);
  await sign.getByTestId("sign-password").fill(password);
  await sign.getByTestId("sign-submit").click();
  await sign.locator(`[data-testid="signature"][data-digest="${digest}"]`).waitFor({ timeout: 120_000 });
  const sig = await sign.getByTestId("sig-signature").textContent();
  assert.ok(
    secp256k1.verify(Buffer.from(sig, "hex"), Buffer.from(digest, "hex"), Buffer.from(publicKey, "hex"), { prehash: false, lowS: true, format: "compact" }),
    "the signature verifies under the wallet key",
  );
}

test("admin web app: a wallet made while the server parties are busy shows its place in line, and completes", { timeout: 600_000 }, async (t) => {
  const stack = await startDev(t, "queue", ["--work-slots", "1"]);
  try {
    await waitReady(stack.apiUrl, stack.apiKey);
    const page = await stack.newPage();
    const password = "busy harbour lantern 42 violet";
    const t0 = Date.now();
    const dialog = await submitWallet(page, "Queued", password);
    // Once it joins (its server parties took pooled pre-parameters at
    // assignment), server-only keygens keep every server party's single
    // work slot taken until it ends.
    await dialog.locator('[data-testid="progress"][data-phase="joining"], [data-testid="progress"][data-phase="keygen"]').first().waitFor({ timeout: 300_000 });
    const busy = busyAccounts(stack.apiUrl, stack.apiKey);
    stack.cleanups.push(() => busy.stop());

    // The panel says that the session waits its turn, and where it is.
    const queuedPanel = dialog.locator('[data-testid="progress"]:not([data-queued="0"])');
    await queuedPanel.waitFor({ timeout: 240_000 });
    const position = Number(await queuedPanel.getAttribute("data-queued"));
    const text = await dialog.getByTestId("progress-text").textContent();
    assert.ok(Number.isInteger(position) && position >= 1, `a place in line: ${position}`);
    assert.match(text, /(A server party is|[23] server parties are) busy with other sessions; this one is (next in line|number \d+ in line)\./);
    await page.screenshot({ path: join(stack.shots, "queued.png") });
    t.diagnostic(`queued after ${((Date.now() - t0) / 1000).toFixed(1)} s: "${text}"`);

    // And the wallet is made.
    await dialog.getByTestId("created").waitFor({ timeout: 300_000 });
    await busy.stop();
    const made = busy.counts();
    t.diagnostic(`wallet created beside server-only keygens in ${((Date.now() - t0) / 1000).toFixed(1)} s; background: ${made.wallets} wallet(s) made, ${made.refused} refused`);
    assert.equal(await dialog.locator('[data-testid="progress"]:not([data-queued="0"])').count(), 0, "nothing waits once the wallet is made");
    await signVerified(page, await madeWallet(page, dialog), password, "queued wallet signs");
    assert.deepEqual(stack.pageErrors, []);
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + stack.log.slice(-6000));
    throw e;
  }
});

test("admin web app: a wallet refused for overload says busy, retries and is made", { timeout: 600_000 }, async (t) => {
  // One keygen at a server party fits the 10 s plan (defaults: 4 s of
  // work); a second beside it, with its pre-parameters still to make,
  // does not (docs/scaling.md, "Admission").
  const stack = await startDev(t, "overload", ["--work-slots", "1", "--admit-within", "10s"]);
  try {
    await waitReady(stack.apiUrl, stack.apiKey, { preparams: 2, timeoutMs: 300_000 });
    const [first, second] = [await stack.newPage(), await stack.newPage()];
    const password = "overload meadow 17 copper kite";
    const firstDialog = await submitWallet(first, "First", password);
    await firstDialog.locator('[data-testid="progress"][data-phase="joining"], [data-testid="progress"][data-phase="keygen"]').first().waitFor({ timeout: 120_000 });

    const t0 = Date.now();
    const dialog = await submitWallet(second, "Second", password);
    const note = dialog.getByTestId("busy-note");
    await note.waitFor({ timeout: 30_000 });
    const said = await note.textContent();
    assert.match(said, /^Busy — retrying in \d+ s$/);
    await second.screenshot({ path: join(stack.shots, "busy-retrying.png") });
    t.diagnostic(`refused and told after ${((Date.now() - t0) / 1000).toFixed(1)} s: "${said}"`);

    const firstWallet = await madeWallet(first, firstDialog);
    const secondWallet = await madeWallet(second, dialog);
    t.diagnostic(`the refused wallet was made ${((Date.now() - t0) / 1000).toFixed(1)} s after it was asked for`);
    assert.notEqual(secondWallet.walletId, firstWallet.walletId);
    await signVerified(second, secondWallet, password, "a wallet refused once signs");
    assert.deepEqual(stack.pageErrors, []);
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + stack.log.slice(-6000));
    throw e;
  }
});
