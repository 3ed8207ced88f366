// The token the SDK creates sessions and reads wallets with: a user token
// (for one user of the app: the wallets that user's tokens made, the
// operations the app's backend allowed) handed to the page by the app's
// backend (POST /api/v1/users/{user_id}/tokens on the account API). No
// browser code path needs an admin token.
import { TsskitError } from "./errors.js";

export interface TokenConfig {
  /** A token to use as is (it is not refreshed). */
  token?: string;
  /**
   * Returns a fresh token; called before the current one expires (a minute
   * ahead) and once more after a call is refused as unauthenticated.
   */
  getToken?: () => Promise<string>;
}

/** How long before its expiry a token from getToken is replaced. */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;

/** Supplies the current token, refreshing it through getToken. */
export class TokenSource {
  private current: { token: string; expiresAt: number } | null = null;
  private pending: Promise<string> | null = null;

  constructor(private readonly cfg: TokenConfig) {
    if (!cfg.token && typeof cfg.getToken !== "function") {
      throw new TsskitError("invalid_argument", "token or getToken is required: a user token from the app's backend (POST /api/v1/users/{user_id}/tokens)");
    }
  }

  /** The token to send now. */
  async get(): Promise<string> {
    if (!this.cfg.getToken) return this.cfg.token!;
    const c = this.current;
    if (c && c.expiresAt - Date.now() > TOKEN_REFRESH_MARGIN_MS) return c.token;
    return this.refresh();
  }

  /** Forgets the current token and gets a new one (after an unauthenticated refusal). */
  refresh(): Promise<string> {
    if (!this.cfg.getToken) return Promise.resolve(this.cfg.token!);
    this.pending ??= (async () => {
      try {
        const token = await this.cfg.getToken!();
        if (typeof token !== "string" || token === "") throw new TsskitError("unauthenticated", "getToken returned no token");
        this.current = { token, expiresAt: expiryOf(token) };
        return token;
      } catch (e) {
        throw TsskitError.from(e);
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }

  /** Whether refresh can give another token than the current one. */
  get refreshable(): boolean {
    return typeof this.cfg.getToken === "function";
  }
}

/**
 * A token's "exp" in ms, read without checking the token (the services
 * check it; here it only schedules the refresh). A token without a
 * readable exp counts as expiring now, so it is fetched again each time.
 */
export function expiryOf(token: string): number {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : 0;
  } catch {
    return 0;
  }
}
