// Every message between the page and its workers, watched from inside the
// page, while TssClient does a wallet's whole life against `tsskit dev`:
// createWallet with cold pre-parameters, sign, exportBackup, importBackup
// (into cleared storage), changePassword, sign with the new password, and
// createWallet with a pooled set. Then no message the page sent or received
// may hold:
//   - a password-derived key: derived here independently (PBKDF2) from each
//     password and the salt of each backup seen, kept when it decrypts that
//     backup, and searched for as raw bytes, hex and base64;
//   - a decrypted share record or pre-parameters: the JSON markers
//     "save_data", "PaillierSK", "\"Xi\"", "NTildei", "LambdaN" in strings,
//     in bytes read as text, and in base64 read as bytes;
//   - a safe prime: (a) the 1024-bit safe primes, and their 1023-bit
//     halves, of every set this test can learn (in the share records it
//     decrypts, and the sets left in the pool), at any offset of any byte
//     array and written out in any string; (b) any 128-byte array, and any
//     number of 300+ digits or 256 hex digits in a string, that is a
//     1024-bit prime p with (p-1)/2 prime (OpenSSL's Miller-Rabin through
//     node:crypto). Windows of ciphertext are not tested for primality: a
//     few MB of random bytes hold a 1024-bit safe prime by chance about
//     once per 10^5 suitable windows.
// The password itself may go in: the page hands it to the worker.
import { userToken } from "./devstack.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPrimeSync, createDecipheriv, createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const bin = process.env.TSSKIT_BIN;
const webDir = process.env.TSSKIT_WEB_DIR;

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });

/**
 * Runs in the page before any of its scripts: records every message the
 * page posts to a worker or receives from one, and anything it posts on or
 * receives from a MessagePort, as the strings (object keys included) and
 * byte arrays (copied before a transfer detaches them) it holds.
 */
function installWatch() {
  const log = [];
  const counts = { workers: 0, channels: 0, portsTransferred: 0 };
  const copy = (v) => {
    try {
      if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
      return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
    } catch {
      return new Uint8Array(0); // detached already: nothing readable went through
    }
  };
  const walk = (v, out, seen) => {
    if (v === null || v === undefined) return;
    if (typeof v === "string") return void out.strings.push(v);
    if (typeof v === "number" || typeof v === "bigint") return void out.strings.push(String(v));
    if (typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return void out.bytes.push(copy(v));
    if (v instanceof MessagePort) return void out.ports++;
    if (v instanceof Blob) return void out.strings.push(`[Blob ${v.size}]`);
    if (v instanceof Map || v instanceof Set) {
      for (const x of v) walk(x, out, seen);
      return;
    }
    if (v instanceof Error) out.strings.push(String(v.name), String(v.message));
    for (const k of Object.keys(v)) {
      out.strings.push(k);
      walk(v[k], out, seen);
    }
  };
  const record = (dir, data, transfer) => {
    const out = { dir, what: data && typeof data === "object" ? String(data.op ?? data.event ?? (data.ok === undefined ? "?" : "reply")) : typeof data, strings: [], bytes: [], ports: 0 };
    walk(data, out, new Set());
    for (const t of Array.isArray(transfer) ? transfer : transfer?.transfer ?? []) if (t instanceof MessagePort) counts.portsTransferred++;
    log.push(out);
  };
  const W = globalThis.Worker;
  const post = W.prototype.postMessage;
  W.prototype.postMessage = function (data, transfer) {
    record("page->worker", data, transfer);
    return post.call(this, data, transfer);
  };
  globalThis.Worker = class extends W {
    constructor(...args) {
      super(...args);
      counts.workers++;
      // Added before the SDK's own handler, so it sees each message first.
      this.addEventListener("message", (e) => record("worker->page", e.data));
    }
  };
  const P = MessagePort.prototype;
  const portPost = P.postMessage;
  P.postMessage = function (data, transfer) {
    record("page->port", data, transfer);
    return portPost.call(this, data, transfer);
  };
  const add = P.addEventListener;
  P.addEventListener = function (type, fn, opts) {
    if (type === "message") add.call(this, "message", (e) => record("port->page", e.data));
    return add.call(this, type, fn, opts);
  };
  const onmessage = Object.getOwnPropertyDescriptor(P, "onmessage");
  Object.defineProperty(P, "onmessage", {
    configurable: true,
    get() { return onmessage.get.call(this); },
    set(fn) {
      add.call(this, "message", (e) => record("port->page", e.data));
      onmessage.set.call(this, fn);
    },
  });
  const MC = globalThis.MessageChannel;
  globalThis.MessageChannel = class extends MC {
    constructor() {
      super();
      counts.channels++;
    }
  };
  const b64 = (u8) => {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  globalThis.__watch = {
    counts: () => ({ ...counts, messages: log.length }),
    dump: (from, n) => log.slice(from, from + n).map((r) => ({ ...r, bytes: r.bytes.map(b64) })),
  };
}

// ---------------------------------------------------------------------------
// What a leak would look like.

const MARKERS = ["save_data", "PaillierSK", "\"Xi\"", "NTildei", "LambdaN"];
const B64_RUN = /[A-Za-z0-9+/]{40,}={0,2}/g;

/** A 1024-bit prime p with (p-1)/2 prime. */
function isSafePrime1024(p) {
  if (p >> 1023n !== 1n || p >> 1024n !== 0n || (p & 3n) !== 3n) return false;
  return checkPrimeSync(p, { checks: 24 }) && checkPrimeSync(p >> 1n, { checks: 24 });
}

const be128 = (n) => Buffer.from(n.toString(16).padStart(256, "0"), "hex");

/**
 * The secret primes of a pre-params or share record JSON: every number in
 * a "P" or "Q" field that is a 1024-bit safe prime (the Paillier primes)
 * or half of one (the NTilde primes are 2P+1, 2Q+1), with its partner.
 */
function primesOf(json) {
  const out = [];
  for (const m of json.matchAll(/"[PQ]":\s*"?(\d{300,})/g)) {
    const v = BigInt(m[1]);
    if (isSafePrime1024(v)) out.push(v, v >> 1n);
    else if (isSafePrime1024(2n * v + 1n)) out.push(2n * v + 1n, v);
  }
  return out;
}

/** The findings of one message: [{kind, detail}]. */
function scan(rec, secrets) {
  const found = [];
  const texts = [...rec.strings];
  for (const b of rec.bytes) texts.push(b.toString("latin1"));
  for (const s of rec.strings) for (const m of s.matchAll(B64_RUN)) texts.push(Buffer.from(m[0], "base64").toString("latin1"));
  for (const t of texts) for (const k of MARKERS) if (t.includes(k)) found.push({ kind: "marker", detail: k });

  const byteViews = [...rec.bytes];
  for (const s of rec.strings) for (const m of s.matchAll(B64_RUN)) byteViews.push(Buffer.from(m[0], "base64"));
  for (const key of secrets.keys) {
    if (byteViews.some((b) => b.includes(key))) found.push({ kind: "key", detail: "raw" });
    const forms = [key.toString("hex"), key.toString("base64"), key.toString("base64url")];
    if (rec.strings.some((s) => forms.some((f) => s.includes(f)))) found.push({ kind: "key", detail: "text" });
  }
  for (const p of secrets.primes) {
    const raw = be128(p);
    if (byteViews.some((b) => b.includes(raw))) found.push({ kind: "prime", detail: "known, raw" });
    const forms = [p.toString(10), p.toString(16), raw.toString("base64")];
    if (rec.strings.some((s) => forms.some((f) => s.includes(f)))) found.push({ kind: "prime", detail: "known, text" });
  }
  for (const b of byteViews) if (b.length === 128 && isSafePrime1024(BigInt("0x" + b.toString("hex")))) found.push({ kind: "prime", detail: "a 128-byte array" });
  for (const s of rec.strings) {
    for (const m of s.matchAll(/\d{300,320}/g)) if (isSafePrime1024(BigInt(m[0]))) found.push({ kind: "prime", detail: "decimal" });
    for (const m of s.matchAll(/[0-9a-fA-F]{256}/g)) if (isSafePrime1024(BigInt("0x" + m[0]))) found.push({ kind: "prime", detail: "hex" });
  }
  return found;
}

/** Opens a backup with a password here (PBKDF2-HMAC-SHA256 + AES-256-GCM, backup.ts): the key and the record, or null. */
function openBackup(text, password) {
  const b = JSON.parse(text);
  const key = pbkdf2Sync(Buffer.from(password, "utf8"), Buffer.from(b.salt, "base64"), b.iterations, 32, "sha256");
  const ct = Buffer.from(b.ciphertext, "base64");
  try {
    const d = createDecipheriv("aes-256-gcm", key, Buffer.from(b.nonce, "base64"));
    d.setAAD(Buffer.from(`${b.wallet_id}|${b.party_id}|1`));
    d.setAuthTag(ct.subarray(ct.length - 16));
    return { key, record: Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString("utf8") };
  } catch {
    return null;
  }
}

// RFC 2409's 1024-bit MODP prime, a known safe prime: the detectors' own check.
const RFC2409 = BigInt("0x" + ("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
  "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"));

test("the page never sees a password-derived key, a share record, a safe prime or pre-parameters", { timeout: 1_200_000 }, async (t) => {
  assert.ok(bin && webDir, "TSSKIT_BIN and TSSKIT_WEB_DIR must be set (make test-browser)");

  // The detectors first, on messages made to hold each secret.
  {
    const key = randomBytes(32);
    const known = RFC2409;
    const embedded = Buffer.concat([randomBytes(37), be128(known), randomBytes(11)]);
    const kinds = (rec) => new Set(scan({ strings: [], bytes: [], ...rec }, { keys: [key], primes: [known] }).map((f) => `${f.kind}: ${f.detail}`));
    assert.ok(isSafePrime1024(RFC2409), "RFC 2409's prime is a safe prime");
    assert.ok(kinds({ bytes: [Buffer.concat([randomBytes(5), key])] }).has("key: raw"));
    assert.ok(kinds({ strings: [`{"k":"${key.toString("base64")}"}`] }).has("key: text"));
    assert.ok(kinds({ bytes: [embedded] }).has("prime: known, raw"));
    assert.ok(kinds({ strings: [`"P":${known}`] }).has("prime: known, text"));
    assert.ok(scan({ strings: [], bytes: [be128(RFC2409)] }, { keys: [], primes: [] }).some((f) => f.detail === "a 128-byte array"));
    assert.ok(scan({ strings: [`{"N":${RFC2409}}`], bytes: [] }, { keys: [], primes: [] }).some((f) => f.detail === "decimal"));
    assert.ok(kinds({ bytes: [Buffer.from('{"save_data":{"Xi":1}}')] }).has("marker: save_data"));
    assert.ok(kinds({ strings: [Buffer.from('{"PaillierSK":{"N":"1234567890"}}').toString("base64")] }).has("marker: PaillierSK"));
    assert.equal(kinds({ bytes: [randomBytes(4096)], strings: ["tsskit"] }).size, 0);
  }

  const dataDir = mkdtempSync(join(tmpdir(), "tsskit-watch-"));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const env = { ...process.env, MPC_API_KEY: "watch-e2e-api-key-0123456789", CRYPTO_MASTER_KEY: "9a".repeat(32), ALLOWED_IPS: "" };
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
    for (const deadline = Date.now() + 60_000; ;) {
      try { const r = await fetch(`http://127.0.0.1:${api}/api/v1/health`, { headers: { "X-API-Key": env.MPC_API_KEY } }); if (r.ok && (await r.json()).components?.pool?.healthy >= 3) break; } catch {}
      if (Date.now() > deadline) throw new Error("dev stack not ready");
      await new Promise((r) => setTimeout(r, 200));
    }
    const token = await userToken(`http://127.0.0.1:${api}`, env.MPC_API_KEY, "messages-user");
    const { trustRoot } = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    const cfg = { coordinatorUrl: `http://127.0.0.1:${coord}`, routerUrl: `http://127.0.0.1:${router}`, wasmUrl: `http://127.0.0.1:${web}/tss.wasm`, token, workers: 2, trustRoot };
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.addInitScript(installWatch);
    await page.goto(`http://127.0.0.1:${web}/e2e/sdk.html`);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    await page.evaluate((c) => window.sdk.open(c), cfg);

    const password = "a watched password, long enough";
    const newPassword = "another watched password, longer still";
    const cold = await page.evaluate(([p]) => window.sdk.createWallet("watched, cold", p), [password]);
    t.diagnostic(`createWallet (cold pre-params): ${(cold.ms / 1000).toFixed(1)} s, ${cold.primesFound} prime(s) on the progress bar`);
    assert.ok(cold.primesFound >= 1, "cold: the progress bar counted primes");

    const digest = createHash("sha256").update("watched").digest("hex");
    const sig = await page.evaluate(([id, p, d]) => window.sdk.sign(id, p, d), [cold.walletId, password, digest]);
    assert.ok(sig.verifiedInPage);

    const backup = await page.evaluate(([id, p]) => window.sdk.exportBackup(id, p), [cold.walletId, password]);
    await page.evaluate(() => window.sdk.clearStorage());
    await page.evaluate((c) => window.sdk.open(c), cfg);
    const imported = await page.evaluate(([b, p]) => window.sdk.importBackup(b, p), [backup, password]);
    assert.equal(imported.walletId, cold.walletId);
    await page.evaluate(([id, a, b]) => window.sdk.changePassword(id, a, b), [cold.walletId, password, newPassword]);
    const sig2 = await page.evaluate(([id, p, d]) => window.sdk.sign(id, p, d), [cold.walletId, newPassword, digest]);
    assert.ok(sig2.verifiedInPage, "signed with the new password");

    for (const deadline = Date.now() + 300_000; ;) {
      if ((await page.evaluate(() => window.sdk.poolCount())) >= 1) break;
      if (Date.now() > deadline) throw new Error("the pre-params pool never filled");
      await new Promise((r) => setTimeout(r, 500));
    }
    const before = await page.evaluate(() => window.sdk.poolCount());
    const warm = await page.evaluate(([p]) => window.sdk.createWallet("watched, pooled", p), [password]);
    const after = await page.evaluate(() => window.sdk.poolCount());
    t.diagnostic(`createWallet with a pooled set: ${(warm.ms / 1000).toFixed(1)} s (pool ${before} -> ${after})`);
    assert.equal(warm.primesFound, 0, "warm: no prime search");
    assert.ok(after < before || after === 0, `a pooled set was used (${before} -> ${after})`);
    const left = await page.evaluate(() => window.sdk.poolPlaintexts());
    await page.evaluate(() => window.sdk.close());

    // Every message, from the page.
    const counts = await page.evaluate(() => window.__watch.counts());
    const records = [];
    for (let i = 0; i < counts.messages; i += 200) {
      for (const r of await page.evaluate(([a, n]) => window.__watch.dump(a, n), [i, 200])) records.push({ ...r, bytes: r.bytes.map((b) => Buffer.from(b, "base64")) });
    }
    const byDir = {};
    for (const r of records) byDir[r.dir] = (byDir[r.dir] ?? 0) + 1;
    const bytes = records.reduce((n, r) => n + r.bytes.reduce((m, b) => m + b.length, 0), 0);
    t.diagnostic(`watched ${records.length} messages (${JSON.stringify(byDir)}), ${(bytes / 1e6).toFixed(2)} MB of bytes, ${counts.workers} workers, ${counts.channels} channels made, ${counts.portsTransferred} ports handed to workers`);

    // The watch saw the protocol it is meant to: shares, runs, primes, the pool.
    const seen = new Set(records.map((r) => `${r.dir} ${r.what}`));
    for (const w of ["init", "keygen", "sign", "deliver", "openShare", "closeShare", "checkShare", "rewrapShare", "prepareSign",
      "openPrimes", "safePrime", "receivePrime", "assemblePreParams", "takePreParams", "countPreParams"]) {
      assert.ok(seen.has(`page->worker ${w}`), `watched page->worker ${w}`);
    }
    for (const w of ["ready", "envelope", "progress", "reply"]) assert.ok(seen.has(`worker->page ${w}`), `watched worker->page ${w}`);
    assert.ok(counts.portsTransferred >= 2, "primes went worker to worker over channels made by the page");
    assert.equal(byDir["page->port"] ?? 0, 0, "the page posted nothing on a port");
    assert.equal(byDir["port->page"] ?? 0, 0, "the page read nothing from a port");

    // What to look for: each backup seen, opened with each password.
    const backups = new Set();
    for (const r of records) for (const s of r.strings) if (s.includes('"tsskit.share.backup"')) backups.add(s);
    backups.add(backup);
    const keys = [];
    const primes = [];
    let opened = 0;
    for (const b of backups) {
      for (const p of [password, newPassword]) {
        const got = openBackup(b, p);
        if (!got) continue;
        keys.push(got.key);
        opened++;
        assert.ok(MARKERS.slice(0, 3).every((m) => got.record.includes(m)), "a decrypted record has the markers looked for");
        primes.push(...primesOf(got.record));
      }
    }
    for (const set of left) primes.push(...primesOf(set));
    const unique = [...new Set(primes.map(String))].map(BigInt);
    t.diagnostic(`looking for ${keys.length} password-derived keys (${backups.size} backups), ${unique.length} known primes (${opened} share records, ${left.length} pooled sets), the markers, and any safe prime`);
    assert.ok(keys.length >= 3, "the keygens' backups and the new-password backup were seen");
    assert.ok(unique.length >= 16, "the primes of both wallets' pre-parameters are known");

    const findings = [];
    for (const r of records) for (const f of scan(r, { keys, primes: unique })) findings.push({ dir: r.dir, what: r.what, ...f });
    assert.deepEqual(findings, [], "no secret in any message");
  } catch (e) {
    console.error("---- tsskit dev log ----\n" + log.slice(-6000));
    throw e;
  }
});
