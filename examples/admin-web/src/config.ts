// Where the services are and the user token. `tsskit dev` serves
// /config.json (with a development token); anywhere else the user fills in
// a form, kept in sessionStorage for this tab only.
export interface AppConfig {
  coordinatorUrl: string;
  routerUrl: string;
  wasmUrl: string;
  token: string;
  /**
   * The deployment root's public key (hex), which the app pins: every
   * server party must be certified by it. From the app's own
   * configuration — tsskit dev's /config.json, the VITE_TSSKIT_TRUST_ROOT
   * build variable, or the sign-in form — never from the coordinator.
   */
  trustRoot: string;
  /** The token came from `tsskit dev`. */
  dev: boolean;
  /**
   * The server parties accept the app backend's recovery approvals (they
   * are configured with its recovery key): a new wallet may allow them.
   * From tsskit dev's /config.json or VITE_TSSKIT_RECOVERY_BACKEND=1.
   */
  recoveryBackend: boolean;
}

const buildEnv = (import.meta as { env?: Record<string, string | undefined> }).env;

/** The deployment's server parties accept backend recovery approvals (a build setting). */
export const builtInRecoveryBackend: boolean = buildEnv?.VITE_TSSKIT_RECOVERY_BACKEND === "1";

/** The trust root the app was built with, if any. */
export const builtInTrustRoot: string = buildEnv?.VITE_TSSKIT_TRUST_ROOT ?? "";

/** "" when s is a deployment root key (64 hex characters), else what is wrong. */
export function checkTrustRoot(s: string): string {
  return /^[0-9a-fA-F]{64}$/.test(s.trim()) ? "" : "The deployment root key is 64 hex characters (tsskit identity init prints it).";
}

const KEY = "tsskit-admin-config";

export type ConfigLoad = { kind: "served"; config: AppConfig } | { kind: "form"; saved: AppConfig | null; note?: string };

export async function loadConfig(): Promise<ConfigLoad> {
  const saved = readSaved();
  let res: Response;
  try {
    res = await fetch("/config.json", { cache: "no-store", headers: { accept: "application/json" } });
  } catch {
    return { kind: "form", saved, note: "Could not reach the web server for /config.json." };
  }
  if (res.status === 404) return { kind: "form", saved };
  if (!res.ok) return { kind: "form", saved, note: `/config.json answered ${res.status}.` };
  try {
    const c = (await res.json()) as Partial<AppConfig>;
    if (typeof c.coordinatorUrl !== "string" || typeof c.routerUrl !== "string") throw new Error("incomplete");
    return {
      kind: "served",
      config: {
        coordinatorUrl: c.coordinatorUrl,
        routerUrl: c.routerUrl,
        wasmUrl: typeof c.wasmUrl === "string" && c.wasmUrl ? c.wasmUrl : "/tss.wasm",
        token: typeof c.token === "string" ? c.token : "",
        trustRoot: builtInTrustRoot || (typeof c.trustRoot === "string" ? c.trustRoot : ""),
        dev: c.dev === true,
        recoveryBackend: builtInRecoveryBackend || (c as { recoveryBackend?: unknown }).recoveryBackend === true,
      },
    };
  } catch {
    return { kind: "form", saved, note: "/config.json is not a tsskit configuration." };
  }
}

function readSaved(): AppConfig | null {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as AppConfig | null;
    return v && typeof v.token === "string" && typeof v.coordinatorUrl === "string" && checkTrustRoot(v.trustRoot ?? "") === ""
      ? { ...v, dev: false, recoveryBackend: builtInRecoveryBackend }
      : null;
  } catch {
    return null;
  }
}

export function saveConfig(c: AppConfig): void {
  sessionStorage.setItem(KEY, JSON.stringify(c));
}

export function forgetConfig(): void {
  sessionStorage.removeItem(KEY);
}

/** "" when the URL is fine, else what is wrong with it. */
export function checkUrl(s: string): string {
  try {
    const u = new URL(s, location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? "" : "Use an http:// or https:// address.";
  } catch {
    return "This is not a valid address.";
  }
}
