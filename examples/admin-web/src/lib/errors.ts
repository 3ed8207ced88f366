// Errors in words a person understands. Never a stack trace: the raw code
// is shown only as a hint for whoever reads the logs.

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  culprits?: unknown;
  /** StaleEpochError: the share of an old epoch is this browser's. */
  mine?: unknown;
  /** OlderBackupError: the backup's epoch and the stored share's. */
  backupEpoch?: unknown;
  storedEpoch?: unknown;
}

/** What the failed call was, where the same code means different things. */
export type During = "reshare" | "recover";

const byName: Record<string, string> = {
  WrongPasswordError: "Wrong password.",
  CorruptRecordError: "This wallet's stored share is damaged and cannot be used. Import the wallet again from its backup file.",
  BackupFormatError: "That file is not a tsskit backup (or it is damaged).",
  EmptyPasswordError: "Enter the password.",
  ShareExistsError: "This wallet's share is already in this browser, of the same epoch as the backup; there is nothing to import.",
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
  busy: "A refresh, change of policy or settle step of this wallet is already running, in this page or another tab. Wait for it to finish.",
  reshare_unconfirmed:
    "The refresh could not be confirmed: the connection to the coordinator broke after this browser stored its new share. Your current share is " +
    "unchanged and the new one is kept aside, unused. If signing now says this browser's share is out of date, the refresh did complete " +
    "without this browser: finish it here, which checks every holder's receipt first.",
  session_mismatch: "The coordinator offered a session other than the one asked for, so this browser did not take part. Nothing changed.",
  verify: "The signature that came back does not recover to the address of this wallet (or path), so it is not shown. Try again.",
  // Lost-device recovery (RecoveryError): nothing is stored by a refusal.
  recovery_refused:
    "The wallet's server parties refused this recovery: the wallet was made without this kind of recovery, or the approval is not " +
    "signed by a key they trust. Nothing changed.",
  recovery_code: "That is not a recovery code: 12 words from the standard English word list, in order. Check each word.",
  recovery_wrong_code: "This recovery code is not this wallet's. Check the words, and the address. Nothing changed.",
  recovery_forged: "The approval file's signature does not verify: the file was changed, or not made by the app's backend.",
  recovery_expired: "The approval has expired. Ask the app's operators for a new one.",
  recovery_other_wallet: "The approval is for another wallet than the one with this address.",
  recovery_stale: "The approval was made before the wallet's last refresh or recovery, so it no longer applies. Make a new request.",
  recovery_other_device: "The approval is for another browser's request, not this one's. Make sure you chose the right file.",
  recovery_no_request: "This browser has no recovery request for this wallet: make the request first, and have it approved.",
  recovery_malformed: "That file is not a recovery approval from the app's backend.",
  run_frozen:
    "A run of this wallet's next epoch is being settled in this browser (it is frozen or pinned here): no refresh or change of " +
    "policy starts until it is thawed or dropped. Use Settle a stuck run on the wallet.",
  unsupported:
    "This browser cannot do that here: settling a run needs Web Locks, which browsers give only to pages served over https (or " +
    "from localhost). Open the app over https and try again.",
  run_abandoned: "This browser gave up that run of the wallet (it joined a later one, or the run was dropped): it never takes part in it again.",
  reshare_failed:
    "The coordinator records that the refresh or recovery failed, so its new share was not made this browser's. It is kept aside, " +
    "unused; the share this browser had (if any) is unchanged.",
};

/** The person-readable sentence for an error from the SDK or the app. */
export function friendlyError(e: unknown, during?: During): string {
  const err = (e ?? {}) as ErrorLike;
  const name = typeof err.name === "string" ? err.name : "";
  const code = typeof err.code === "string" ? err.code : "";
  const culprits = Array.isArray(err.culprits) ? err.culprits.filter((c): c is string => typeof c === "string") : [];
  // A recovery opens this browser's earlier attempt's device key (kept under the password first given).
  if (name === "WrongPasswordError" && during === "recover") {
    return "This password does not open this browser's earlier recovery attempt of this wallet, which keeps its device key under the " +
      "password first given. Enter that password, or discard the earlier attempt (listed below) and start afresh.";
  }
  if (byName[name]) return byName[name]!;
  // Epochs (docs/lifecycle.md): a share, or a backup, from before a refresh.
  if (code === "stale_epoch") {
    return err.mine === true || culprits.length === 0
      ? "This browser's share of the wallet is out of date: the wallet was refreshed, or its policy changed, without it (in another " +
          "browser, or from a newer backup), and an old share no longer signs. Import the newest backup of this wallet."
      : `A server party's share is out of date (${culprits.join(", ")}): it missed the wallet's last refresh. Your share is fine; ` +
          "the operator of the tsskit services must settle it.";
  }
  if (code === "older_backup") {
    const epochs =
      typeof err.backupEpoch === "number" && typeof err.storedEpoch === "number"
        ? ` (the backup is of epoch ${err.backupEpoch}; this browser's share is of epoch ${err.storedEpoch})`
        : "";
    return (
      `This backup is older than the share in this browser${epochs}: the wallet was refreshed since it was made, and an old ` +
      "backup no longer signs. Nothing was changed. Keep the share you have, and export a new backup of it."
    );
  }
  // The coordinator holds one refresh or change of policy per wallet at a time.
  if (code === "already_exists" && typeof err.message === "string" && /under way/.test(err.message)) {
    return (
      "A refresh, change of policy or recovery of this wallet is already under way (from another tab or device). Wait a minute " +
      "for it to finish, then try again."
    );
  }
  // The key the server parties would hand over is not the one of the address the user gave.
  if (code === "session_mismatch" && during === "recover" && typeof err.message === "string" && /address/.test(err.message)) {
    return (
      "The key offered is not the one of the address you gave, so this browser did not take part and nothing changed. Check " +
      "the address against what you wrote down."
    );
  }
  if (code === "unavailable" && during === "recover") {
    return "Not enough of the wallet's server parties are online to hand it over right now. Nothing changed; try again in a minute.";
  }
  if (code === "overloaded" && during) {
    return "The server parties are busy and could not take this now, even after a few tries. Nothing changed; try again in a minute.";
  }
  if (code === "unavailable" && during === "reshare") {
    return "Not enough server parties are online for this policy right now: each holder of the new shares must be a server party that is up. Nothing changed; try again in a minute, or choose fewer parties.";
  }
  if (code === "verify" && during === "recover") {
    return (
      "The coordinator's report that every holder stored its new share did not check out, so this browser set its new share " +
      "aside, unused." + (culprits.length ? ` Holders whose report failed: ${culprits.join(", ")}.` : "")
    );
  }
  if (code === "verify" && during) {
    return (
      "The coordinator's report that every holder stored its new share did not check out, so this browser kept its current share and " +
      "set the new one aside, unused." + (culprits.length ? ` Holders whose report failed: ${culprits.join(", ")}.` : "")
    );
  }
  // Settling a run in limbo: the check's own words say which statement is missing or wrong.
  if (code === "settle_refused" && typeof err.message === "string" && err.message) return "Refused, nothing changed: " + sentence(err.message.replace(/^settle_refused: /, ""));
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

/** The sentence for e; during says what failed where a code means different things (a reshare's "verify" is not a signature's). */
export function explain(e: unknown, during?: During): string {
  return e instanceof AppError ? e.friendly : friendlyError(e, during);
}

export const isCanceled = (e: unknown): boolean => (e as ErrorLike | null)?.code === "canceled" || (e as ErrorLike | null)?.name === "AbortError";
