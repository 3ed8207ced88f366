// What the browser tests and benchmarks need from a running `tsskit dev`:
// readiness (/api/v1/health, behind the API key) and a user token, which
// an app's backend gets from the account API for its signed-in user; and
// load that keeps its server parties busy.
import { randomBytes } from "node:crypto";

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
