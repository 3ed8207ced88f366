// Errors in words a person understands. Never a stack trace: the raw code
// is shown only as a hint for whoever reads the logs.

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  culprits?: unknown;
}

const byName: Record<string, string> = {
  WrongPasswordError: "Wrong password.",
  CorruptRecordError: "This wallet's stored share is damaged and cannot be used. Import the wallet again from its backup file.",
  BackupFormatError: "That file is not a tsskit backup (or it is damaged).",
  EmptyPasswordError: "Enter the password.",
  ShareExistsError: "This wallet's share is already in this browser.",
  ShareNotFoundError: "This wallet's share is no longer in this browser.",
  ShareChangedError: "The wallet changed in another tab meanwhile. Nothing was written; try again.",
};

const byCode: Record<string, string> = {
  unavailable: "Not enough server parties are online right now. Try again in a minute.",
  deadline_exceeded: "The session timed out: the server parties did not finish in time. Try again.",
  timeout: "The session timed out: the server parties did not finish in time. Try again.",
  canceled: "Canceled.",
  unauthenticated: "The token was not accepted (it may have expired). Reload the page or sign in again.",
  permission_denied: "This token does not allow this. Ask for a token with the operations you need.",
  weak_password: "Choose a stronger password.",
  not_found: "The coordinator does not know this wallet.",
  failed_precondition: "The coordinator cannot do this for this wallet right now (no server party that holds a share is available).",
  overloaded: "The server parties are busy and could not take this now. Try again in a minute.",
  resource_exhausted: "Too many wallets or signatures were asked for in a short time, or the services are busy. Wait a minute and try again.",
  transport: "The connection to the tsskit services was lost. Check that they are running, then try again.",
  not_ready: "The signing engine is still loading. Try again in a moment.",
  shutdown: "The coordinator is shutting down. Try again when it is back.",
  closed: "The signing engine was closed. Reload the page.",
  worker: "The signing engine (tss.wasm) stopped working. Reload the page.",
  verify: "The signature that came back does not recover to the address of this wallet (or path), so it is not shown. Try again.",
};

/** The person-readable sentence for an error from the SDK or the app. */
export function friendlyError(e: unknown): string {
  const err = (e ?? {}) as ErrorLike;
  const name = typeof err.name === "string" ? err.name : "";
  const code = typeof err.code === "string" ? err.code : "";
  if (byName[name]) return byName[name]!;
  // The password rule's own words say what to change.
  if (name === "WeakPasswordError" && typeof err.message === "string") return err.message.charAt(0).toUpperCase() + err.message.slice(1) + ".";
  // A request the SDK refused as malformed: its message names the field and the problem.
  if (code === "invalid_argument" && typeof err.message === "string" && err.message) return sentence(err.message);
  let text = byCode[code];
  if (!text) {
    text = code
      ? `Something went wrong (code: ${code}). Try again; if it keeps happening, the tsskit logs say more.`
      : "Something went wrong. Try again; if it keeps happening, the tsskit logs say more.";
  }
  const culprits = Array.isArray(err.culprits) ? err.culprits.filter((c): c is string => typeof c === "string") : [];
  if (culprits.length > 0 && code !== "canceled") text += ` Parties that did not do their part: ${culprits.join(", ")}.`;
  return text;
}

const sentence = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");

/** An error the app raises itself, with a message already fit for people. */
export class AppError extends Error {
  override name = "AppError";
  constructor(readonly friendly: string) {
    super(friendly);
  }
}

export function explain(e: unknown): string {
  return e instanceof AppError ? e.friendly : friendlyError(e);
}

export const isCanceled = (e: unknown): boolean => (e as ErrorLike | null)?.code === "canceled" || (e as ErrorLike | null)?.name === "AbortError";
