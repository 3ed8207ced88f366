// What the browser tests and benchmarks need from a running `tsskit dev`:
// readiness (/api/v1/health, behind the API key) and a user token, which
// an app's backend gets from the account API for its signed-in user; and
// load that keeps its server parties busy. The benchmarks also start it
// here (startDevStack) and launch Chromium alike (launchChromium).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/**
 * Waits until the account API's /api/v1/health (behind the API key) reports at least `parties` healthy server
 * parties, each with at least `preparams` pre-parameter sets ready.
 */
export async function waitReady(apiUrl, apiKey, { parties = 3, preparams = 0, timeoutMs = 60_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${apiUrl}/api/v1/health`, { headers: { "X-API-Key": apiKey } });
      const pool = r.ok ? (await r.json()).components?.pool : undefined;
      const ready = Object.values(pool?.preparams_ready ?? {});
      if (pool?.healthy >= parties && ready.length >= parties && ready.every((n) => n >= preparams)) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`dev stack not ready: ${apiUrl}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** A user token for `user` from POST /api/v1/users/{user_id}/tokens. */
export async function userToken(apiUrl, apiKey, user, { operations = ["create_wallet", "sign", "list_wallets"], ttlSeconds = 3600 } = {}) {
  const r = await fetch(`${apiUrl}/api/v1/users/${encodeURIComponent(user)}/tokens`, {
    method: "POST",
    headers: { "X-API-Key": apiKey, "Content-Type": "application/json" },
    body: JSON.stringify({ operations, ttl_seconds: ttlSeconds }),
  });
  const body = await r.json();
  if (r.status !== 201) throw new Error(`user token: ${r.status} ${JSON.stringify(body)}`);
  return body.token;
}

/**
 * Keeps the server parties busy: `workers` loops each make account
 * wallets (server-only keygens, POST /api/v1/accounts) one after another,
 * pausing half a second after a refusal, until stop(). counts() says how
 * many were made and refused; stop() resolves once every loop has ended.
 */
export function busyAccounts(apiUrl, apiKey, { workers = 2 } = {}) {
  let stopped = false;
  const abort = new AbortController();
  const made = { wallets: 0, refused: 0 };
  const loop = async () => {
    while (!stopped) {
      const r = await fetch(`${apiUrl}/api/v1/accounts`, {
        method: "POST", headers: { "X-API-Key": apiKey, "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: "load-" + randomBytes(6).toString("hex"), share_password: "background " + randomBytes(8).toString("hex") }),
        signal: abort.signal,
      }).catch(() => null);
      if (r?.status === 201) made.wallets++;
      else if (!stopped) {
        made.refused++;
        await new Promise((res) => setTimeout(res, 500));
      }
      await r?.body?.cancel().catch(() => {});
    }
  };
  const loops = Array.from({ length: workers }, loop);
  return {
    counts: () => ({ ...made }),
    stop: async () => {
      stopped = true;
      abort.abort();
      await Promise.allSettled(loops);
    },
  };
}

/**
 * Starts `tsskit dev` (bin) on free loopback ports with the benchmarks'
 * keys, serving webDir, its data in a new temporary directory, and waits
 * until its API and web server answer (not for its pre-params pools).
 * Returns the URLs, the API key, and stop(), which ends it and removes
 * the directory.
 */
export async function startDevStack({ bin, webDir, prefix = "tsskit-dev-" }) {
  const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); }); });
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const [coord, router, api, partyAPI, web] = await Promise.all([1, 2, 3, 4, 5].map(freePort));
  const apiKey = "bench-api-key-0123456789";
  const env = { ...process.env, MPC_API_KEY: apiKey, CRYPTO_MASTER_KEY: "ef".repeat(32), ALLOWED_IPS: "" };
  const dev = spawn(bin, ["dev", "--data-dir", dataDir, "--coordinator-addr", `127.0.0.1:${coord}`, "--router-addr", `127.0.0.1:${router}`,
    "--api-addr", `127.0.0.1:${api}`, "--party-api-addr", `127.0.0.1:${partyAPI}`, "--web-addr", `127.0.0.1:${web}`, "--web-dir", webDir], { env, stdio: "ignore" });
  const exited = new Promise((res) => dev.once("exit", res));
  const stack = {
    apiKey,
    coordinatorUrl: `http://127.0.0.1:${coord}`, routerUrl: `http://127.0.0.1:${router}`,
    apiUrl: `http://127.0.0.1:${api}`, webUrl: `http://127.0.0.1:${web}`,
    async stop() {
      dev.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await waitReady(stack.apiUrl, apiKey);
    for (const deadline = Date.now() + 60_000; ;) {
      try { if ((await fetch(`${stack.webUrl}/config.json`)).ok) break; } catch {}
      if (Date.now() > deadline) throw new Error("dev stack: no web server");
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}

/** Headless Chromium as every browser test and benchmark launches it. */
export function launchChromium() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
}
