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
   * recovery_refused | recovery_code | recovery_wrong_code | recovery_malformed |
   * recovery_forged | recovery_expired | recovery_other_wallet | recovery_stale |
   * recovery_other_device | corrupt_record |
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
  /** prepareReshare or prepareRecovery with abandon: the seat's abandoned-run statements, for PartyKeys.abandoned. */
  abandoned?: Uint8Array[];
  /** prepareReshare or prepareRecovery with a pending share of an earlier run: the seat's stored acknowledgement of that run, by session id, for PartyKeys.stored. */
  stored?: Record<string, Uint8Array>;
}

export interface PreparedSeat {
  /** Handle of the seat: session keys, identity key and (signing) share stay inside the wasm instance. */
  keysId: string;
  join: Join;
  /** The seat's identity public key, hex. */
  identityKey: string;
  /**
   * From a keygen with recovery.kit only: the wallet's recovery code, 12 BIP39 English words.
   * SECRET: show it to the user once; never store, log or send it.
   */
  recoveryCode?: string;
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
  /**
   * The wallet's recovery policy, which every holder records: a recovery kit (a new recovery code,
   * returned in PreparedSeat.recoveryCode, whose key for walletId the statement names) and/or the
   * app backend's approvals. Either needs at least signersNeeded server parties.
   */
  recovery?: { kit?: boolean; backend?: boolean };
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
  /**
   * Earlier runs of the same epoch this browser joined and never stored a share of,
   * recorded abandoned (ShareStorage.joinRun) before this call: the seat signs an
   * abandoned-run statement for each with the share's identity key.
   */
  abandon?: string[];
  /**
   * This party's pending share of an earlier run of the same epoch (share record
   * bytes, decrypted in the worker) and that run's session id: the join carries its
   * stored acknowledgement of that run, and reshare() starts only if another new
   * holder of that run abandoned it (one acknowledged run per epoch). A share of
   * another epoch, party or wallet, or from this session, is none.
   */
  pending?: Uint8Array;
  pendingSession?: string;
}

/** A new device's identity key, held in this instance under deviceId. */
export interface RecoveryDevice {
  deviceId: string;
  /** Its Ed25519 public key, hex. */
  identityKey: string;
  /** newRecoveryDevice({withSeed: true}) only: the key's 32-byte seed. SECRET: encrypt it before it leaves the worker. */
  seed?: Uint8Array;
}

/** A recovery authorization (package party/recovery): its fields, wire form and file form. */
export interface RecoveryAuthorization {
  kind: "kit" | "backend";
  walletId: string;
  /** The epoch it recovers from. */
  epoch: number;
  /** The new client party. */
  partyId: string;
  /** The new device's identity key, hex. */
  identityKey: string;
  expiresAtMs: number;
  /** The kit key or backend key that signed it, hex. */
  signer: string;
  /** The wire form, for CreateRecoverySession. */
  authorization: Uint8Array;
  /** The file form (JSON, "tsskit-recovery-authorization"). */
  file: string;
}

export interface KitAuthorizationParams {
  /** The recovery code, 12 words. SECRET. */
  code: string;
  deviceId: string;
  walletId: string;
  /** The wallet's current epoch. */
  epoch: number;
  partyId: string;
  /** At most 7 days ahead. */
  expiresAtMs: number;
  /** The wallet's kit public key, hex, if known: a code of another wallet fails with recovery_wrong_code. */
  kit?: string;
}

export interface CheckAuthorizationParams {
  authorization: Uint8Array;
  walletId: string;
  epoch: number;
  deviceId: string;
  partyId: string;
}

export interface RecoveryJoinParams {
  sessionId: string;
  /** Every party of the session (both committees). */
  parties: string[];
  /** The coordinator's offer (CreateRecoverySession's `reshare`). */
  reshare: ReshareSpec;
  signersNeeded: number;
  /** The authorization's wire form, as sent. */
  authorization: Uint8Array;
  /** The device the authorization names; the seat takes it. */
  deviceId: string;
  /**
   * Earlier runs of the epoch this device joined and never stored a share of,
   * recorded abandoned (ShareStorage.joinRun) before this call: the seat signs an
   * abandoned-run statement for each with the device key.
   */
  abandon?: string[];
  /** As in prepareReshare: the device's pending share of an earlier attempt's run of the epoch. */
  pending?: Uint8Array;
  pendingSession?: string;
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
  /**
   * What every party's join says of earlier runs of the epoch (PartyKeys.abandoned and
   * stored), by party id: a seat holding an earlier run's pending share starts only on
   * another holder's valid abandoned-run statement for it (TsskitError run_not_abandoned,
   * or run_complete when every other holder acknowledged storing it).
   */
  words?: Record<string, { abandoned?: Uint8Array[]; stored?: Record<string, Uint8Array> }>;
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

/** One settle step of a run in limbo at this client (docs/lifecycle.md, settling a run in limbo). */
export interface SettleParams {
  /** The statement to sign ("frozen", "pinned", "activated", "abandoned"), or the step that checks first ("drop": then the abandoned-run statement; "thaw": no statement). */
  step: "frozen" | "pinned" | "activated" | "abandoned" | "drop" | "thaw";
  /** The run's session id. */
  sessionId: string;
  /** The run's epoch. */
  epoch: number;
  /** The client's active share record, if it has one. */
  active?: Uint8Array;
  /** The client's share of the run, if it keeps one. */
  pending?: Uint8Array;
  /** drop, thaw: the run's holders named silent. */
  silent?: string[];
  /** drop: other holders' frozen-run statements. */
  frozen?: Uint8Array[];
  /** drop, with no active share: another holder's abandoned-run statements. */
  dropped?: Uint8Array[];
  /** thaw: other holders' activated-run or pinned-run statements. */
  words?: Uint8Array[];
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
  /**
   * A new client's seat in a recovery: the offer is checked against the authorization
   * (party.ClientRecovery; session_mismatch otherwise) and the device key, which the seat takes.
   */
  prepareRecovery(params: RecoveryJoinParams): PreparedSeat | Failure;
  /** A new device identity key from crypto.getRandomValues; its seed only with withSeed. */
  newRecoveryDevice(options?: { withSeed?: boolean }): RecoveryDevice | Failure;
  /** Holds the device key of seed (zeroed here after); it must be identityKey's when given (corrupt_record otherwise). */
  openRecoveryDevice(seed: Uint8Array, identityKey?: string): RecoveryDevice | Failure;
  releaseRecoveryDevice(deviceId: string): undefined | Failure;
  /** Derives the wallet's kit key from the recovery code and signs the device's authorization with it (recovery_code: not a valid code). */
  kitAuthorization(params: KitAuthorizationParams): RecoveryAuthorization | Failure;
  /** Reads an authorization's file form (an app backend's approval); recovery_malformed otherwise. */
  parseAuthorization(file: string): RecoveryAuthorization | Failure;
  /**
   * Checks an authorization's signature, wallet, epoch and expiry (recovery_forged,
   * recovery_other_wallet, recovery_stale, recovery_expired) and that it names this device and
   * party (recovery_other_device). Whether its signer may authorize the recovery, the server
   * holders decide.
   */
  checkAuthorization(params: CheckAuthorizationParams): undefined | Failure;
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
  /**
   * Signs or checks one settle step of a run in limbo, with the identity key the run's record names
   * for this party; a refused step fails with code settle_refused. held: a frozen-run statement says
   * the client holds the epoch before's share.
   */
  settle(params: SettleParams): { statement?: Uint8Array; held: boolean } | Failure;
  /** One 1024-bit safe prime, big-endian. Run one per worker to search in parallel. */
  safePrime(options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /** Pre-parameters from ≥ 4 safe primes; rejects with need_more_primes when one more is needed. */
  assemblePreParams(primes: Uint8Array[]): Promise<Uint8Array>;
  /**
   * Benchmarks only: one safe prime searched on the public candidate stream of seed (the same work for the same seed, every run and machine), with naive the plain way (math/big, tss-lib style) to compare with. The prime is dropped.
   */
  safePrimeSeeded(o: { seed: number; naive?: boolean }): Promise<{ candidates: number; tested: number }>;
  validatePreParams(preParams: Uint8Array): Promise<void>;
  inspectShare(share: Uint8Array): ShareInfo | Failure;
}

declare global {
  // eslint-disable-next-line no-var
  var tsskit: Tsskit;
}
