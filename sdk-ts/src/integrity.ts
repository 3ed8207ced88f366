// Pinned hashes of tss-worker.js and tss.wasm, and the fetch that enforces
// them. The page fetches the worker script with fetch(url, {integrity}) and
// starts the worker from a Blob of exactly the bytes it checked, so the
// browser cannot run another script under that URL; the worker fetches
// tss.wasm the same way before it compiles it. The pins are Subresource
// Integrity strings ("sha384-<base64>"), the form `make wasm` writes.
//
// This module is bundled into the worker too, so it stays small: it must
// not import the build's own pins (build-integrity, which hash that very
// worker script), nor errors.ts (which brings the RPC runtime). It throws
// plain errors with a code; the page turns them into TsskitErrors
// (TsskitError.from: an IntegrityError for a mismatch).

/** Pinned hashes, as Subresource Integrity strings ("sha384-…", "sha256-…" or "sha512-…"). */
export interface Integrity {
  /** Of tss.wasm. */
  wasm: string;
  /** Of tss-worker.js. */
  worker: string;
}

export type PinnedResource = "wasm" | "worker";

export const PINNED_FILE_NAMES: Record<PinnedResource, string> = { wasm: "tss.wasm", worker: "tss-worker.js" };

/** What a mismatch is: public hashes and a URL, nothing else. */
export interface IntegrityDetails {
  resource: PinnedResource;
  url: string;
  expected: string;
  /** The hash of what was served, when it could be fetched again to say. */
  actual: string;
}

export function integrityMessage(d: IntegrityDetails): string {
  return `${PINNED_FILE_NAMES[d.resource]} at ${d.url} does not match its pinned hash (pinned ${d.expected}${d.actual ? `, served ${d.actual}` : ""}); not loaded`;
}

/** A mismatch, as thrown here (and posted by the worker): name "IntegrityError", code "integrity". */
function mismatch(d: IntegrityDetails): Error {
  return Object.assign(new Error(integrityMessage(d)), { name: "IntegrityError", code: "integrity", culprits: [] }, d);
}

function loadFailed(message: string): Error {
  return Object.assign(new Error(message), { code: "load_failed" });
}

// One hash per pin: the SRI syntax allows several, but a pin is one build.
const SRI = /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/;
const DIGEST_BYTES: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** Whether pin is one Subresource Integrity hash of the right length. */
export function isPin(pin: unknown): pin is string {
  const m = typeof pin === "string" ? SRI.exec(pin) : null;
  return !!m && base64Length(m[2]!) === DIGEST_BYTES[m[1]!];
}

function base64Length(b64: string): number {
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return b64.length % 4 === 0 ? (b64.length / 4) * 3 - pad : -1;
}

/** The SRI string of bytes under the pin's algorithm. */
export async function sriOf(bytes: BufferSource, algorithm: "sha256" | "sha384" | "sha512"): Promise<string> {
  const name = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" }[algorithm];
  const digest = new Uint8Array(await crypto.subtle.digest(name, bytes));
  let bin = "";
  for (const b of digest) bin += String.fromCharCode(b);
  return `${algorithm}-${btoa(bin)}`;
}

function algorithmOf(pin: string): "sha256" | "sha384" | "sha512" {
  return pin.slice(0, pin.indexOf("-")) as "sha256" | "sha384" | "sha512";
}

/**
 * fetch(url, {integrity: pin}): the browser refuses a body that does not
 * match. Its refusal is a bare TypeError, like a network failure; to tell
 * them apart the file is fetched once more without the pin and hashed, and
 * a mismatch is an error named IntegrityError (code "integrity"). Anything
 * else that keeps the file from loading has code "load_failed". Without a pin (pinning turned
 * off) this is a plain fetch.
 */
export async function fetchPinned(url: string, pin: string | null, resource: PinnedResource): Promise<Response> {
  const name = PINNED_FILE_NAMES[resource];
  let res: Response;
  try {
    res = await fetch(url, pin ? { integrity: pin } : {});
  } catch (e) {
    if (pin) await diagnose(url, pin, resource);
    throw loadFailed(`${name} could not be fetched from ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!res.ok) throw loadFailed(`${name} could not be fetched from ${url}: HTTP ${res.status}`);
  return res;
}

/** Throws a mismatch when url serves bytes other than pin's; returns otherwise. */
async function diagnose(url: string, pin: string, resource: PinnedResource): Promise<void> {
  let bytes: ArrayBuffer;
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) return;
    bytes = await res.arrayBuffer();
  } catch {
    return;
  }
  const actual = await sriOf(bytes, algorithmOf(pin));
  if (actual !== pin) throw mismatch({ resource, url, expected: pin, actual });
}

/**
 * Checks bytes already fetched against pin, in script. The worker script's
 * bytes pass through here too before they become a Blob, so the check does
 * not rest on the platform's support of fetch's integrity option alone.
 */
export async function checkBytes(bytes: ArrayBuffer, pin: string, resource: PinnedResource, url: string): Promise<void> {
  const actual = await sriOf(bytes, algorithmOf(pin));
  if (actual !== pin) throw mismatch({ resource, url, expected: pin, actual });
}
