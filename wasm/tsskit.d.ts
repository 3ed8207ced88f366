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
   * transport | verify | identity | session_mismatch | policy | stale_epoch |
   * seal_<code> | share_invalid | invalid_preparams | need_more_primes | panic |
   * internal
   */
  code: string;
  /** Party ids blamed for the failure, where known. */
  culprits: string[];
}

export type Failure = { error: TsskitError };

/** A party's signed join (package party/identity), as the roster carries it. */
export interface SignedJoin {
  /** The statement's canonical encoding: session, party, kind, wallet, threshold, parties, digest, expiry, keys. */
  statement: Uint8Array;
  /** Ed25519 by the statement's identity key. */
  signature: Uint8Array;
  /** A server's certificate chain from the deployment root, its own first. */
  certificates?: Uint8Array[];
}

/** What a prepared seat publishes when it joins. */
export interface Join extends SignedJoin {
  x25519: Uint8Array; // 32 bytes, HPKE recipient key
  ed25519: Uint8Array; // 32 bytes, envelope signing key
}

export interface PreparedSeat {
  /** Handle of the seat: session keys, identity key and (signing) share stay inside the wasm instance. */
  keysId: string;
  join: Join;
  /** The seat's identity public key, hex. */
  identityKey: string;
}

export interface KeygenJoinParams {
  sessionId: string;
  /** This party's id. */
  self: string;
  walletId: string;
  /** Signers needed, e.g. 2 for 2-of-3. */
  signersNeeded: number;
  /** Every party of the session, as this party asked for it. */
  parties: string[];
}

export interface SignJoinParams {
  sessionId: string;
  /** Every signer, as this party asked for it. */
  parties: string[];
  /** 32-byte digest: the statement signed for it is the wallet's sign request. */
  digest: Uint8Array;
  /** The share record, decrypted; it stays in the seat. */
  share: Uint8Array;
  /** Optional BIP32 path of the signing key, "m/0/5" (non-hardened only); absent or "m": the wallet key. */
  path?: string;
}

/** What a reshare hands over and to whom: CreateReshareSession's `reshare` (tsskit.v1.ReshareSpec). */
export interface ReshareSpec {
  /** The new shares' epoch: the current share's + 1. */
  epoch: number;
  /** Signers needed with the current shares. */
  oldThreshold: number;
  /** The old committee (current holders that hand over). */
  oldParties: string[];
  /** The new committee (holders after the reshare). */
  newParties: string[];
  /** The wallet's 33-byte compressed public key and 32-byte chain code. */
  publicKey: Uint8Array;
  chainCode: Uint8Array;
  clientRequired: boolean;
  /** The wallet's recovery policy, which the new shares carry: its recovery kit's 32-byte public key (absent or empty: none)... */
  recoveryKit?: Uint8Array;
  /** ...and whether the app backend may approve a recovery (absent: no). */
  recoveryBackend?: boolean;
}

export interface ReshareJoinParams {
  sessionId: string;
  /** Every party of the session (both committees), as the coordinator's answer lists them. */
  parties: string[];
  /** The current share record, decrypted; it stays in the seat (the old committee's input). */
  share: Uint8Array;
  /** The coordinator's offer. */
  reshare: ReshareSpec;
  /** The offer's signers needed after the reshare (CreateSessionResponse.signers_needed). */
  signersNeeded: number;
  /** What this client asked for; 0 or absent: unchanged. The offer must match. */
  asked?: { signersNeeded?: number; parties?: number };
}

/** The deployment root(s) this party pins and revoked identity keys, hex. Never from the coordinator. */
export interface Trust {
  roots: string[];
  revoked?: string[];
}

export interface RunParams {
  /** From prepareKeygen / prepareSign in this same instance. */
  keysId: string;
  /** Every party's signed join, self included, by party id, as the coordinator's ready event carries them. */
  roster: Record<string, SignedJoin>;
  trust: Trust;
}

export interface KeygenParams extends RunParams {
  /** This party's own pre-parameters (assemblePreParams output). */
  preParams: Uint8Array;
}

export type SignParams = RunParams;

export interface ReshareParams extends RunParams {
  /** This party's own pre-parameters (it is in the new committee). */
  preParams: Uint8Array;
}

export interface Progress {
  phase: "keygen" | "sign" | "reshare";
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
  /** The share record (party/share, "tsskit.share", the current version). SECRET: encrypt before storing. */
  share: Uint8Array;
  /** 33-byte compressed SEC1. */
  publicKey: Uint8Array;
  /** "0x" + 40 hex: the Ethereum address. */
  address: string;
  /** The wallet's BIP32 chain code (32 bytes), reported to the coordinator. */
  chainCode: Uint8Array;
}

export interface SignResult {
  r: Uint8Array; // 32 bytes
  s: Uint8Array; // 32 bytes, low-S
  v: number; // recovery id
  signature: Uint8Array; // r || s
  der: Uint8Array;
}

export interface ReshareResult {
  /** The new share record, of `epoch`. SECRET: encrypt it and store it as pending before reporting. */
  share: Uint8Array;
  /** The wallet's, unchanged. */
  publicKey: Uint8Array;
  address: string;
  epoch: number;
  /** Signed with the seat's identity key (party/identity SignStored): report it only once the share is stored. */
  storedAck: Uint8Array;
}

export interface StoredAcksParams {
  sessionId: string;
  /** The new share record (from reshare). */
  share: Uint8Array;
  /** The Completed event's epoch. */
  epoch: number;
  /** The Completed event's stored_acks, by party id. */
  acks: Record<string, Uint8Array>;
}

export interface ShareInfo {
  walletId: string;
  partyId: string;
  threshold: number;
  parties: string[];
  publicKey: Uint8Array;
  address: string;
  epoch: number;
  /** Every holder's kind and identity key (hex); none for a record made before identities existed. */
  holders: { partyId: string; kind: "server" | "client" | "user"; identityKey: string }[];
  clientRequired: boolean;
  /** This party's identity public key, hex, or "". */
  identityKey: string;
  /** The wallet's BIP32 chain code (32 bytes; the legacy rule's for a record of version 1 or 2). */
  chainCode: Uint8Array;
}

export interface Tsskit {
  version(): { version: string; go: string; tssLib: string };
  /** A client's seat in a keygen: fresh session keys and a new device identity (kept in the share record keygen makes). */
  prepareKeygen(params: KeygenJoinParams): PreparedSeat | Failure;
  /** A seat in a signing with a share: its statement, signed with the share's identity key, is the sign request. */
  prepareSign(params: SignJoinParams): PreparedSeat | Failure;
  /**
   * A seat in a reshare this client asked for: the offer is checked against the share and `asked`
   * (session_mismatch otherwise), and the statement, signed with the share's identity key, is the
   * client's consent to it.
   */
  prepareReshare(params: ReshareJoinParams): PreparedSeat | Failure;
  releaseSessionKeys(keysId: string): undefined | Failure;
  keygen(params: KeygenParams, callbacks: RunCallbacks): Run<KeygenResult> | Failure;
  sign(params: SignParams, callbacks: RunCallbacks): Run<SignResult> | Failure;
  reshare(params: ReshareParams, callbacks: RunCallbacks): Run<ReshareResult> | Failure;
  /**
   * Checks a reshare's Completed event against the new share: its epoch, and every holder's stored
   * acknowledgement under the identity key the share records for it. Fails with code "verify"
   * naming the holders without a valid one; only then may the new share replace the old.
   */
  verifyStoredAcks(params: StoredAcksParams): undefined | Failure;
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
