import { Code, ConnectError } from "@connectrpc/connect";

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
    if (e instanceof ConnectError) return RpcError.fromConnect(e);
    // A pinned file's mismatch, thrown by integrity.ts or posted by the worker.
    if (e && typeof e === "object" && (e as { name?: unknown }).name === "IntegrityError") return IntegrityError.of(e as IntegrityDetails);
    if (e && typeof e === "object" && "code" in e && "message" in e) {
      const o = e as { code: unknown; message: unknown; culprits?: unknown };
      return new TsskitError(String(o.code), String(o.message), Array.isArray(o.culprits) ? o.culprits.map(String) : []);
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
};

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
    return new RpcError(e.code, e.rawMessage);
  }
}

/** codeName turns connect's Code into the snake-case gRPC name. */
export function codeName(c: Code): string {
  const name = Code[c] as string | undefined; // e.g. "PermissionDenied"
  if (!name) return "unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
