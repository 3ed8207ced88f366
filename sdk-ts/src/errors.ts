import { Code, ConnectError } from "@connectrpc/connect";

import { OverloadedSchema } from "./gen/tsskit/v1/common_pb.js";
import { integrityMessage, type IntegrityDetails, type PinnedResource } from "./integrity.js";

/** An error from tss.wasm, the worker, a service or a session, with a code to switch on. */
export class TsskitError extends Error {
  override name = "TsskitError";
  readonly code: string;
  /** Party ids blamed for the failure, where known. */
  readonly culprits: string[];
  constructor(code: string, message: string, culprits: string[] = []) {
    super(message);
    this.code = code;
    this.culprits = culprits;
  }
  static from(e: unknown): TsskitError {
    if (e instanceof TsskitError) return e;
    if (e instanceof ConnectError) {
      // The coordinator refuses the join of a share of an old epoch with
      // FailedPrecondition "stale_epoch: ...".
      if (e.code === Code.FailedPrecondition && /^stale_epoch\b/.test(e.rawMessage)) return new StaleEpochError(e.rawMessage.replace(/^stale_epoch:\s*/, ""), [], { mine: true });
      return RpcError.fromConnect(e);
    }
    // A pinned file's mismatch, thrown by integrity.ts or posted by the worker.
    if (e && typeof e === "object" && (e as { name?: unknown }).name === "IntegrityError") return IntegrityError.of(e as IntegrityDetails);
    if (e && typeof e === "object" && "code" in e && "message" in e) {
      const o = e as { code: unknown; message: unknown; culprits?: unknown };
      const culprits = Array.isArray(o.culprits) ? o.culprits.map(String) : [];
      // The engine's (from the worker) or a failed session's.
      if (o.code === "stale_epoch") return new StaleEpochError(String(o.message), culprits);
      if (typeof o.code === "string" && isRecoveryCode(o.code)) return new RecoveryError(o.code, String(o.message), culprits);
      return new TsskitError(String(o.code), String(o.message), culprits);
    }
    if (e instanceof Error && e.name === "AbortError") return new TsskitError("canceled", e.message || "canceled");
    // The storage's own errors keep a code that says what they are.
    if (e instanceof Error && e.name in storageCodes) return new TsskitError(storageCodes[e.name]!, e.message);
    return new TsskitError("internal", e instanceof Error ? e.message : String(e));
  }
}

const storageCodes: Record<string, string> = {
  WrongPasswordError: "wrong_password",
  CorruptRecordError: "corrupt_record",
  BackupFormatError: "invalid_backup",
  EmptyPasswordError: "invalid_argument",
  ShareExistsError: "share_exists",
  ShareNotFoundError: "share_not_found",
  ShareChangedError: "share_changed",
  OlderBackupError: "older_backup",
};

/**
 * A signing (or reshare) met a share of an older epoch than the wallet's
 * (code "stale_epoch"): the wallet was refreshed or reshared, and a share
 * made before that no longer signs with the new ones. `mine` says it is
 * this browser's share (the coordinator refused its join, or the session
 * named this party): the wallet was refreshed without this browser — in
 * another browser, or from a newer backup — so recover the wallet or
 * import the newer backup (importBackup). Otherwise `culprits` names the
 * holder whose share is stale (a server party that missed an activation:
 * its operator must settle it).
 */
export class StaleEpochError extends TsskitError {
  override name = "StaleEpochError";
  override readonly code = "stale_epoch";
  /** The share of an old epoch is this browser's. */
  readonly mine: boolean;
  /** What the coordinator or the engine said. */
  readonly detail: string;
  constructor(detail: string, culprits: string[] = [], opts: { mine?: boolean; walletId?: string } = {}) {
    const mine = opts.mine ?? false;
    const wallet = opts.walletId ? ` of wallet ${JSON.stringify(opts.walletId)}` : "";
    super(
      "stale_epoch",
      mine
        ? `this browser's share${wallet} is of an older epoch than the wallet's: the wallet was refreshed or reshared without it. ` +
            `Recover the wallet, or import a newer backup of it (${detail})`
        : `a share of an older epoch than the wallet's takes part${culprits.length ? ` (${culprits.join(", ")})` : ""}: ${detail}. ` +
            `If it is this browser's, recover the wallet or import a newer backup of it; a server party's is its operator's to settle`,
      culprits,
    );
    this.mine = mine;
    this.detail = detail;
  }
}

/**
 * A recovery refused or not possible, with a code to switch on:
 *
 * - recovery_refused: the wallet's server holders (or the coordinator,
 *   for them) refused the authorization: not signed by the wallet's kit
 *   or a backend key they are configured with, or the wallet's policy
 *   does not accept its kind; or the wallet allows no recovery.
 * - recovery_code: not a recovery code (12 BIP39 words, checksum);
 *   recovery_wrong_code: a valid code, but not this wallet's.
 * - recovery_forged: the authorization's signature does not verify.
 * - recovery_expired: it has expired (or claims more than 7 days).
 * - recovery_other_wallet, recovery_stale: it is for another wallet, or
 *   for another epoch than the wallet's current one (made before a
 *   refresh or recovery: ask for a new one).
 * - recovery_other_device: it names another device or party than this
 *   browser's pending request.
 * - recovery_no_request: no pending request for this wallet in this
 *   browser (requestRecovery first).
 * - recovery_malformed: not an authorization file.
 *
 * Nothing is lost by a refusal: no share is stored, and a pending request
 * stays for another approval.
 */
export class RecoveryError extends TsskitError {
  override name = "RecoveryError";
}

/** The recovery_* codes TsskitError.from turns into RecoveryError. */
export function isRecoveryCode(code: string): boolean {
  return /^recovery_[a-z_]+$/.test(code);
}

/**
 * tss.wasm or tss-worker.js did not match its pinned hash and was not run
 * (code "integrity"). The hashes are public (make wasm publishes them
 * beside the files), so they are named.
 */
export class IntegrityError extends TsskitError implements IntegrityDetails {
  override name = "IntegrityError";
  readonly resource: PinnedResource;
  readonly url: string;
  readonly expected: string;
  /** The hash of what was served, when it could be fetched again to say; else "". */
  readonly actual: string;
  constructor(d: IntegrityDetails) {
    super("integrity", integrityMessage(d));
    this.resource = d.resource;
    this.url = d.url;
    this.expected = d.expected;
    this.actual = d.actual;
  }
  static of(d: Partial<IntegrityDetails>): IntegrityError {
    return new IntegrityError({
      resource: d.resource === "wasm" ? "wasm" : "worker",
      url: String(d.url ?? ""),
      expected: String(d.expected ?? ""),
      actual: String(d.actual ?? ""),
    });
  }
}

/**
 * A call to the coordinator or the router failed with a gRPC status. code
 * is the status in snake case ("permission_denied", "not_found", ...);
 * rpcCode is connect's Code.
 */
export class RpcError extends TsskitError {
  override name = "RpcError";
  readonly rpcCode: Code;
  constructor(rpcCode: Code, message: string) {
    super(codeName(rpcCode), message);
    this.rpcCode = rpcCode;
  }
  static fromConnect(e: ConnectError): RpcError {
    if (e.code === Code.ResourceExhausted) {
      const [o] = e.findDetails(OverloadedSchema);
      if (o) return new OverloadedError(e.rawMessage, o.retryAfterMs);
    }
    return new RpcError(e.code, e.rawMessage);
  }
}

/**
 * The coordinator refused a new keygen or signing because its server
 * parties could not finish it in time (code "overloaded"): nothing was
 * started, and a retry after retryAfterMs may be admitted. createWallet
 * and sign retry by themselves when given a `retry` policy.
 */
export class OverloadedError extends RpcError {
  override name = "OverloadedError";
  override readonly code = "overloaded";
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(Code.ResourceExhausted, message);
    this.retryAfterMs = Math.max(0, retryAfterMs);
  }
}

/** How createWallet and sign retry a call refused as overloaded. */
export interface RetryPolicy {
  /** Attempts in all, the first included (at least 1). */
  attempts: number;
  /** The longest wait between attempts (default 60 s). */
  maxDelayMs?: number;
  /** Called before each wait: say "busy — retrying in N s". */
  onRetry?(info: { attempt: number; delayMs: number; error: OverloadedError }): void;
}

/**
 * retryOverloaded runs call, and again after a wait while it fails with
 * OverloadedError and attempts remain: the server's retryAfterMs (at
 * least 1 s), doubled each time, capped at maxDelayMs, times a random
 * factor in [0.5, 1.5) so that refused clients do not all come back at
 * once. Other errors, an abort and the last refusal are thrown.
 */
export async function retryOverloaded<R>(policy: RetryPolicy | undefined, signal: AbortSignal | undefined, call: () => Promise<R>): Promise<R> {
  const attempts = Math.max(1, Math.floor(policy?.attempts ?? 1));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const err = TsskitError.from(e);
      if (!(err instanceof OverloadedError) || attempt >= attempts) throw e;
      // setTimeout takes at most 2^31-1 ms; the doubling is capped first.
      const cap = Math.min(Math.max(policy?.maxDelayMs ?? 60_000, 0), 1_000_000_000);
      const base = Math.min(Math.max(err.retryAfterMs, 1000) * 2 ** Math.min(attempt - 1, 30), cap);
      const delayMs = Math.round(base * (0.5 + jitter()));
      policy?.onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs, signal);
    }
  }
}

/** A uniform number in [0, 1) from crypto.getRandomValues. */
function jitter(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return b[0]! / 2 ** 32;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new TsskitError("canceled", "canceled while waiting to retry"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new TsskitError("canceled", "canceled while waiting to retry"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** codeName turns connect's Code into the snake-case gRPC name. */
export function codeName(c: Code): string {
  const name = Code[c] as string | undefined; // e.g. "PermissionDenied"
  if (!name) return "unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
