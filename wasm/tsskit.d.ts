// The JavaScript API of tss.wasm, as Go registers it on globalThis.tsskit
// (wasm/main_js.go). Hand-written; keep it in step with main_js.go.
//
// Bytes cross as Uint8Array. Envelopes are tsskit.v1.Envelope in protobuf
// encoding, the form the router carries. Asynchronous methods return
// Promises that reject with a TsskitError. Synchronous methods cannot throw
// from Go: on bad input they return {error: TsskitError} instead of their
// value (tss-worker.js unwraps that into an exception).

export interface TsskitError extends Error {
  name: "TsskitError";
  /**
   * invalid_argument | invalid_params | protocol | seal | timeout | canceled |
   * transport | verify | seal_<code> | share_invalid | invalid_preparams |
   * need_more_primes | panic | internal
   */
  code: string;
  /** Party ids blamed for the failure, where known. */
  culprits: string[];
}

export type Failure = { error: TsskitError };

export interface PublicKeys {
  x25519: Uint8Array; // 32 bytes
  ed25519: Uint8Array; // 32 bytes
}

export interface SessionKeys extends PublicKeys {
  /** Handle of the private keys, which stay inside the wasm instance. */
  keysId: string;
}

export interface SessionParams {
  sessionId: string;
  /** This party's id. */
  self: string;
  /** Every party of the session (for signing: the signers), self included. */
  parties: string[];
  /** From createSessionKeys() in this same worker. */
  keysId: string;
  /** Every party's published session keys, self included, by party id. */
  publicKeys: Record<string, PublicKeys>;
}

export interface KeygenParams extends SessionParams {
  walletId: string;
  /** Signers needed, e.g. 2 for 2-of-3. */
  signersNeeded: number;
  /** This party's own pre-parameters (assemblePreParams output). */
  preParams: Uint8Array;
}

export interface SignParams extends SessionParams {
  /** The share record (KeygenResult.share), decrypted. */
  share: Uint8Array;
  /** 32-byte digest. */
  digest: Uint8Array;
}

export interface Progress {
  phase: "keygen" | "sign";
  round: number;
  rounds: number;
  done: boolean;
  messagesSent: number;
  messagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface RunCallbacks {
  /** An envelope to publish to the router (protobuf tsskit.v1.Envelope). */
  onEnvelope(envelope: Uint8Array): void;
  onProgress?(progress: Progress): void;
}

export interface Run<T> {
  result: Promise<T>;
  /** Hand an envelope from the router (protobuf tsskit.v1.Envelope) to the engine. */
  deliver(envelope: Uint8Array): undefined | Failure;
  cancel(): void;
}

export interface KeygenResult {
  /** The share record (party/share, "tsskit.share" v1). SECRET: encrypt before storing. */
  share: Uint8Array;
  /** 33-byte compressed SEC1. */
  publicKey: Uint8Array;
  /** "0x" + 40 hex: the Ethereum address. */
  address: string;
}

export interface SignResult {
  r: Uint8Array; // 32 bytes
  s: Uint8Array; // 32 bytes, low-S
  v: number; // recovery id
  signature: Uint8Array; // r || s
  der: Uint8Array;
}

export interface ShareInfo {
  walletId: string;
  partyId: string;
  threshold: number;
  parties: string[];
  publicKey: Uint8Array;
  address: string;
}

export interface Tsskit {
  version(): { version: string; go: string; tssLib: string };
  createSessionKeys(): SessionKeys | Failure;
  releaseSessionKeys(keysId: string): undefined | Failure;
  keygen(params: KeygenParams, callbacks: RunCallbacks): Run<KeygenResult> | Failure;
  sign(params: SignParams, callbacks: RunCallbacks): Run<SignResult> | Failure;
  /** One 1024-bit safe prime, big-endian. Run one per worker to search in parallel. */
  safePrime(options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /** Pre-parameters from ≥ 4 safe primes; rejects with need_more_primes when one more is needed. */
  assemblePreParams(primes: Uint8Array[]): Promise<Uint8Array>;
  /** Benchmarks only: one safe prime the plain way (math/big, tss-lib style), to compare with safePrime. */
  safePrimeNaive(): Promise<Uint8Array>;
  validatePreParams(preParams: Uint8Array): Promise<void>;
  inspectShare(share: Uint8Array): ShareInfo | Failure;
}

declare global {
  // eslint-disable-next-line no-var
  var tsskit: Tsskit;
}
