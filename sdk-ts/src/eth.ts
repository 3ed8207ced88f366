/**
 * Ethereum signing on top of a digest signer: EIP-191 personal messages,
 * EIP-712 typed data and EIP-155 / EIP-2930 / EIP-1559 transactions.
 *
 * The encodings and hashes are ox's (the library viem is built on), never
 * written here. Each function checks and bounds its input before anything
 * is signed (a signing is a threshold session with other parties, so a bad
 * request should cost nothing), has the digest signed, then recovers the
 * signer's address from the digest and the signature and compares it with
 * the address expected: a wallet or path other than the one meant fails
 * with TsskitError "verify" instead of producing a signature for the wrong
 * account.
 */
import * as Address from "ox/Address";
import * as Bytes from "ox/Bytes";
import * as OxHex from "ox/Hex";
import * as Json from "ox/Json";
import * as PersonalMessage from "ox/PersonalMessage";
import * as Secp256k1 from "ox/Secp256k1";
import * as Signature from "ox/Signature";
import * as TxEnvelopeEip1559 from "ox/TxEnvelopeEip1559";
import * as TxEnvelopeEip2930 from "ox/TxEnvelopeEip2930";
import * as TxEnvelopeLegacy from "ox/TxEnvelopeLegacy";
import * as TypedData from "ox/TypedData";

import { TsskitError, type RetryPolicy } from "./errors.js";
import type { ClientProgress } from "./progress.js";

/** "0x" and hex digits. */
export type Hex = `0x${string}`;

/**
 * Signs a 32-byte digest: r and s as 64 hex digits ("0x" optional), v the
 * recovery id (0 or 1). TssClient.sign with a wallet and path is one.
 */
export type DigestSigner = (digest: Uint8Array) => Promise<{ r: string; s: string; v: number }>;

/** A personal_sign message: text (signed as its UTF-8), or bytes. */
export type SignableMessage = string | Uint8Array | { raw: Hex | Uint8Array };

/** EIP-712 typed data, as viem and eth_signTypedData_v4 take it. */
export interface TypedDataDefinition {
  domain?: Record<string, unknown>;
  types: Record<string, readonly { name: string; type: string }[]>;
  primaryType: string;
  message?: Record<string, unknown>;
}

/** A quantity: a bigint, or a non-negative safe integer. */
export type Quantity = bigint | number;

/**
 * A transaction to sign, in viem's shape. The type is inferred as viem
 * does when absent (fee fields, then gasPrice with or without an access
 * list); with no fee field at all it is EIP-1559. chainId, nonce and gas
 * are required: tsskit signs no transaction another chain could replay,
 * and fills in no nonce or gas limit (a missing one would be signed as 0,
 * a different transaction from the one meant). A key that is none of these
 * fields is refused, except what viem adds to a request it hands an
 * account (account, chain, nonceManager), which is checked where it can
 * contradict the transaction and otherwise ignored. A key whose value is
 * undefined counts as absent.
 */
export interface EthTransaction {
  type?: "eip1559" | "eip2930" | "legacy";
  /** 1..MAX_CHAIN_ID; a legacy transaction's at most MAX_LEGACY_CHAIN_ID. */
  chainId: number | bigint;
  /** Required at run time (optional in the type so that partly built requests type-check). */
  nonce?: Quantity;
  /** The recipient; absent or null creates a contract. */
  to?: Hex | null;
  value?: Quantity;
  data?: Hex;
  /** viem's alias of data; when both are given they must be the same. */
  input?: Hex;
  /** The gas limit. Required at run time, as nonce is. */
  gas?: Quantity;
  maxFeePerGas?: Quantity;
  maxPriorityFeePerGas?: Quantity;
  gasPrice?: Quantity;
  /** At most MAX_ACCESS_LIST_ENTRIES entries and MAX_ACCESS_LIST_STORAGE_KEYS storage keys in all. */
  accessList?: readonly { address: Hex; storageKeys: readonly Hex[] }[];
  /** When given, it must be the signing address; it is not part of what is signed. */
  from?: Hex;
}

/** Options of TssClient's Ethereum signing methods. */
export interface EthSignOptions {
  walletId: string;
  password: string;
  /** A non-hardened BIP32 path from the wallet key ("m/0/5"); default "m", the wallet's own key. */
  path?: string;
  onProgress?(p: ClientProgress): void;
  signal?: AbortSignal;
  /** Retry a refusal for overload (OverloadedError); default: no retry. */
  retry?: RetryPolicy;
}

export interface SignMessageOptions extends EthSignOptions {
  message: SignableMessage;
}

export interface SignTypedDataOptions extends EthSignOptions {
  typedData: TypedDataDefinition;
}

export interface SignTransactionOptions extends EthSignOptions {
  transaction: EthTransaction;
}

/** The longest personal_sign message signed, in bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** The longest typed data signed, in bytes of its JSON. */
export const MAX_TYPED_DATA_BYTES = 64 * 1024;
/** The longest transaction data (calldata or init code) signed, in bytes. */
export const MAX_TRANSACTION_DATA_BYTES = 128 * 1024;
/**
 * The most entries (addresses) of a transaction's access list. Each costs
 * 2400 gas (EIP-2930), so 1024 of them are about 2.5 M gas: far more than
 * any real transaction declares, small enough that a list costs little to
 * check and encode (with the storage keys, under 60 KB of RLP).
 */
export const MAX_ACCESS_LIST_ENTRIES = 1024;
/** The most storage keys of a transaction's access list, all entries together (1900 gas each). */
export const MAX_ACCESS_LIST_STORAGE_KEYS = 1024;
/**
 * EIP-2294's bound on a chain id, floor(MAX_UINT64 / 2) - 36 =
 * 9223372036854775771, so that a legacy transaction's v
 * (chainId·2 + 35 + yParity) fits in 64 bits. No chain id above it is
 * valid anywhere; tsskit's own bounds (MAX_CHAIN_ID, MAX_LEGACY_CHAIN_ID)
 * are lower.
 */
export const EIP2294_MAX_CHAIN_ID = (2n ** 64n - 1n) / 2n - 36n;
/**
 * The largest chain id signed: ox, which encodes the transactions, takes
 * chain ids as JS numbers, exact up to 2^53 - 1. A bigint above it is
 * refused rather than rounded (a rounded chain id would be another chain's).
 */
export const MAX_CHAIN_ID = Number.MAX_SAFE_INTEGER;
/**
 * The largest chain id of a legacy (EIP-155) transaction signed: its
 * v = chainId·2 + 35 + yParity must stay a safe integer for ox to encode
 * it, so chainId ≤ (2^53 - 1 - 36) / 2. EIP-2294's bound at JS number
 * precision; above it ox would fail only after the signing, for one
 * yParity in two.
 */
export const MAX_LEGACY_CHAIN_ID = 4503599627370477;

const MAX_UINT256 = 2n ** 256n - 1n;
const MAX_UINT64 = 2n ** 64n - 1n;
/** The order of secp256k1's group. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function invalid(message: string): TsskitError {
  return new TsskitError("invalid_argument", message);
}

/** ox's short message for its errors, the message otherwise. */
function reason(e: unknown): string {
  if (e && typeof e === "object" && typeof (e as { shortMessage?: unknown }).shortMessage === "string") return (e as { shortMessage: string }).shortMessage;
  return e instanceof Error ? e.message : String(e);
}

/**
 * signMessageWith signs message as personal_sign does (EIP-191 version
 * 0x45: keccak256("\x19Ethereum Signed Message:\n" || len || message)) and
 * returns r || s || v with v 27 or 28.
 */
export async function signMessageWith(signer: DigestSigner, expectedAddress: string, message: SignableMessage): Promise<Hex> {
  checkAddress(expectedAddress);
  const bytes = messageBytes(message);
  const digest = Bytes.fromHex(PersonalMessage.getSignPayload(bytes));
  return Signature.toHex(await signDigestWith(signer, expectedAddress, digest));
}

/** signTypedDataWith signs EIP-712 typed data; returns r || s || v with v 27 or 28. */
export async function signTypedDataWith(signer: DigestSigner, expectedAddress: string, typedData: TypedDataDefinition): Promise<Hex> {
  checkAddress(expectedAddress);
  const digest = typedDataDigest(typedData);
  return Signature.toHex(await signDigestWith(signer, expectedAddress, digest));
}

/** signTransactionWith signs a transaction and returns it serialized, signed, ready for eth_sendRawTransaction. */
export async function signTransactionWith(signer: DigestSigner, expectedAddress: string, tx: EthTransaction): Promise<Hex> {
  checkAddress(expectedAddress);
  const env = toEnvelope(tx, expectedAddress);
  // Errors of the signer (a wrong password, a canceled session) pass as
  // they are; ox's, on an envelope toEnvelope let through, are the input's.
  const ox = <R>(f: () => R): R => {
    try {
      return f();
    } catch (e) {
      throw invalid(`transaction: ${reason(e)}`);
    }
  };
  switch (env.type) {
    case "eip1559": {
      const sig = await signDigestWith(signer, expectedAddress, Bytes.fromHex(ox(() => TxEnvelopeEip1559.getSignPayload(env))));
      return ox(() => TxEnvelopeEip1559.serialize(env, { signature: sig }));
    }
    case "eip2930": {
      const sig = await signDigestWith(signer, expectedAddress, Bytes.fromHex(ox(() => TxEnvelopeEip2930.getSignPayload(env))));
      return ox(() => TxEnvelopeEip2930.serialize(env, { signature: sig }));
    }
    case "legacy": {
      // With chainId set, the payload is EIP-155's (…, chainId, 0, 0) and
      // v is chainId·2 + 35 + yParity.
      const sig = await signDigestWith(signer, expectedAddress, Bytes.fromHex(ox(() => TxEnvelopeLegacy.getSignPayload(env))));
      return ox(() => TxEnvelopeLegacy.serialize(env, { signature: sig }));
    }
  }
}

/**
 * signDigestWith has signer sign digest and checks the result: a
 * well-formed signature (a high s is turned into the equivalent low one,
 * as Ethereum requires since EIP-2) that recovers to expectedAddress,
 * else TsskitError "verify".
 */
export async function signDigestWith(signer: DigestSigner, expectedAddress: string, digest: Uint8Array): Promise<Signature.Signature> {
  checkAddress(expectedAddress);
  if (!(digest instanceof Uint8Array) || digest.length !== 32) throw invalid("digest: want 32 bytes");
  const sig = readSignature(await signer(digest));
  let got: string;
  try {
    got = Secp256k1.recoverAddress({ payload: digest, signature: sig });
  } catch (e) {
    throw new TsskitError("verify", `the signature recovers no key (${reason(e)})`);
  }
  if (got.toLowerCase() !== expectedAddress.toLowerCase()) {
    throw new TsskitError("verify", `the signature recovers to ${got.toLowerCase()}, not the expected address ${expectedAddress.toLowerCase()}: the wallet or derivation path signed is not the one meant`);
  }
  return sig;
}

/**
 * checkTransaction refuses what signTransactionWith refuses whatever the
 * type: no chainId or one out of 1..MAX_CHAIN_ID, an EIP-4844 or EIP-7702
 * transaction, data over MAX_TRANSACTION_DATA_BYTES, a from that is not
 * the signer. For a transaction serialized by someone else (a chain's own
 * serializer): its other fields, and fields of the chain's own, are the
 * serializer's to check, so unknown keys and a missing nonce or gas are not
 * refused here.
 */
export function checkTransaction(tx: Record<string, unknown>, expectedAddress: string): void {
  if (!tx || typeof tx !== "object") throw invalid("transaction: want an object");
  chainIdOf(tx.chainId);
  refuseUnsupported(tx);
  dataOf(tx);
  checkFrom(tx.from, expectedAddress);
}

function checkAddress(address: string): void {
  if (typeof address !== "string" || !Address.validate(address, { strict: false })) {
    throw invalid(`expected address: want "0x" and 40 hex digits, got ${JSON.stringify(address)}`);
  }
}

/** The bytes a personal_sign message stands for, within MAX_MESSAGE_BYTES. */
function messageBytes(message: SignableMessage): Uint8Array {
  let bytes: Uint8Array;
  if (typeof message === "string") {
    // Bound before encoding: UTF-8 is at least one byte a UTF-16 unit.
    if (message.length > MAX_MESSAGE_BYTES) throw tooLong();
    bytes = new TextEncoder().encode(message);
  } else if (message instanceof Uint8Array) {
    bytes = message;
  } else if (message && typeof message === "object" && "raw" in message) {
    const raw = message.raw;
    if (raw instanceof Uint8Array) bytes = raw;
    else if (typeof raw === "string") {
      if (raw.length > 2 + 2 * MAX_MESSAGE_BYTES) throw tooLong();
      if (!OxHex.validate(raw, { strict: true, even: true })) throw invalid("message.raw: want hex (\"0x\" and an even number of hex digits) or bytes");
      bytes = Bytes.fromHex(raw);
    } else throw invalid("message.raw: want hex or bytes");
  } else {
    throw invalid("message: want a string, bytes, or { raw: hex | bytes }");
  }
  if (bytes.length > MAX_MESSAGE_BYTES) throw tooLong();
  return bytes;
}

function tooLong(): TsskitError {
  return invalid(`message: longer than ${MAX_MESSAGE_BYTES} bytes`);
}

/** The EIP-712 digest of typedData, after ox's validation; malformed data is invalid_argument. */
function typedDataDigest(typedData: TypedDataDefinition): Uint8Array {
  if (!typedData || typeof typedData !== "object") throw invalid("typed data: want an object { domain, types, primaryType, message }");
  let json: string;
  try {
    json = Json.stringify(typedData);
  } catch (e) {
    throw invalid(`typed data: not serializable as JSON (${reason(e)})`);
  }
  // Bound before encoding: UTF-8 is at least one byte a UTF-16 unit.
  if (json.length > MAX_TYPED_DATA_BYTES || new TextEncoder().encode(json).length > MAX_TYPED_DATA_BYTES) {
    throw invalid(`typed data: longer than ${MAX_TYPED_DATA_BYTES} bytes as JSON`);
  }
  const { domain, types, primaryType, message } = typedData;
  if (!types || typeof types !== "object" || Array.isArray(types)) throw invalid("typed data: types must be an object of struct definitions");
  for (const [name, fields] of Object.entries(types)) {
    if (!Array.isArray(fields) || !fields.every((f) => f && typeof f === "object" && typeof f.name === "string" && typeof f.type === "string")) {
      throw invalid(`typed data: types.${name} must be a list of { name, type }`);
    }
  }
  if (typeof primaryType !== "string") throw invalid("typed data: primaryType must be a string");
  if (primaryType !== "EIP712Domain" && !Object.hasOwn(types, primaryType)) throw invalid(`typed data: primaryType ${JSON.stringify(primaryType)} is not in types`);
  if (domain !== undefined && (domain === null || typeof domain !== "object")) throw invalid("typed data: domain must be an object");
  if (primaryType !== "EIP712Domain" && (!message || typeof message !== "object")) throw invalid("typed data: message must be an object");
  try {
    const value = { domain, types, primaryType, message } as unknown as TypedData.Definition<TypedData.TypedData, string>;
    TypedData.assert(value);
    return Bytes.fromHex(TypedData.getSignPayload(value));
  } catch (e) {
    throw invalid(`typed data: ${reason(e)}`);
  }
}

/** The signer's answer as an ox signature with a low s; anything malformed is "verify". */
function readSignature(out: { r: string; s: string; v: number }): Signature.Signature {
  const scalar = (x: unknown) => (typeof x === "string" && /^(0x)?[0-9a-fA-F]{64}$/.test(x) ? BigInt("0x" + x.replace(/^0x/, "")) : -1n);
  const r = scalar(out?.r);
  let s = scalar(out?.s);
  const v = out?.v;
  let yParity: 0 | 1;
  if (v === 0 || v === 27) yParity = 0;
  else if (v === 1 || v === 28) yParity = 1;
  else throw new TsskitError("verify", `the signer returned a recovery id of ${String(v)}; want 0 or 1`);
  if (r <= 0n || r >= N || s <= 0n || s >= N) throw new TsskitError("verify", "the signer returned a malformed signature (r or s not a scalar in 1..n-1)");
  // (r, n-s) with the other recovery id is the same signature; Ethereum accepts only s ≤ n/2.
  if (s > N / 2n) {
    s = N - s;
    yParity = yParity === 0 ? 1 : 0;
  }
  return { r, s, yParity };
}

type Envelope =
  | TxEnvelopeEip1559.TxEnvelopeEip1559<false>
  | TxEnvelopeEip2930.TxEnvelopeEip2930<false>
  | TxEnvelopeLegacy.TxEnvelopeLegacy<false>;

/** The ox envelope of a viem-style transaction, every field checked. */
function toEnvelope(tx: EthTransaction, expectedAddress: string): Envelope {
  if (!tx || typeof tx !== "object") throw invalid("transaction: want an object");
  const t = tx as unknown as Record<string, unknown>;
  let chainId = chainIdOf(t.chainId);
  refuseUnsupported(t);
  refuseUnknown(t);
  const data = dataOf(t);
  checkFrom(t.from, expectedAddress);
  checkViemExtras(t, chainId, expectedAddress);
  const type = typeOf(t);
  if (type === "legacy") chainId = legacyChainId(chainId);
  const forbid = (...names: string[]) => {
    for (const n of names) if (t[n] !== undefined) throw invalid(`transaction: ${n} is not a field of ${type === "legacy" ? "a legacy" : "an " + type.toUpperCase().replace("EIP", "EIP-")} transaction`);
  };
  let to: Hex | undefined;
  if (t.to !== undefined && t.to !== null) {
    if (typeof t.to !== "string" || !Address.validate(t.to)) throw invalid(`transaction: to ${JSON.stringify(t.to)} is not an address (or its checksum is wrong)`);
    to = t.to as Hex;
  }
  const base = {
    chainId,
    // EIP-2681: a nonce is below 2^64 - 1.
    nonce: required(t, "nonce", MAX_UINT64 - 1n),
    gas: required(t, "gas", MAX_UINT256),
    value: quantity(t, "value", MAX_UINT256),
    ...(to ? { to } : {}),
    ...(data !== undefined ? { data } : {}),
  };
  let env: Envelope;
  switch (type) {
    case "eip1559":
      forbid("gasPrice");
      env = {
        ...base, type,
        maxFeePerGas: quantity(t, "maxFeePerGas", MAX_UINT256),
        maxPriorityFeePerGas: quantity(t, "maxPriorityFeePerGas", MAX_UINT256),
        accessList: accessListOf(t.accessList),
      };
      break;
    case "eip2930":
      forbid("maxFeePerGas", "maxPriorityFeePerGas");
      env = { ...base, type, gasPrice: quantity(t, "gasPrice", MAX_UINT256), accessList: accessListOf(t.accessList) };
      break;
    case "legacy":
      forbid("maxFeePerGas", "maxPriorityFeePerGas", "accessList");
      env = { ...base, type, gasPrice: quantity(t, "gasPrice", MAX_UINT256) };
      break;
  }
  try {
    // ox's own checks (fee cap above the tip, …).
    if (env.type === "eip1559") TxEnvelopeEip1559.assert(env);
    else if (env.type === "eip2930") TxEnvelopeEip2930.assert(env);
    else TxEnvelopeLegacy.assert(env);
  } catch (e) {
    throw invalid(`transaction: ${reason(e)}`);
  }
  return env;
}

/**
 * The chain id as ox takes it, from a bigint or a safe integer in
 * 1..MAX_CHAIN_ID. One above EIP-2294's bound is named as such.
 */
function chainIdOf(v: unknown): number {
  if (v === undefined || v === null) {
    throw invalid("transaction: chainId is required; tsskit signs no pre-EIP-155 transaction, which any chain could replay");
  }
  let n: bigint;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === "number" && Number.isInteger(v) && v > 0) {
    throw invalid(`transaction: chainId ${String(v)} is not a safe integer (it may have been rounded); want 1..${MAX_CHAIN_ID}`);
  } else throw invalid(`transaction: chainId ${String(v)} is not a positive integer`);
  if (n <= 0n) throw invalid(`transaction: chainId ${n} is not a positive integer`);
  if (n > EIP2294_MAX_CHAIN_ID) throw invalid(`transaction: chainId ${n} is above EIP-2294's bound ${EIP2294_MAX_CHAIN_ID}`);
  if (n > BigInt(MAX_CHAIN_ID)) throw invalid(`transaction: chainId ${n} is above ${MAX_CHAIN_ID} (2^53 - 1), the largest tsskit signs`);
  return Number(n);
}

/** A legacy transaction's chain id: at most MAX_LEGACY_CHAIN_ID, so that v = chainId·2 + 35 + yParity is exact. */
function legacyChainId(chainId: number): number {
  if (chainId > MAX_LEGACY_CHAIN_ID) {
    throw invalid(`transaction: chainId ${chainId} is above ${MAX_LEGACY_CHAIN_ID}, the largest of a legacy transaction (its v, chainId·2 + 35 + yParity, must stay below 2^53); send an EIP-1559 or EIP-2930 transaction`);
  }
  return chainId;
}

/** The keys of an EthTransaction. */
const TRANSACTION_KEYS: ReadonlySet<string> = new Set([
  "type", "chainId", "nonce", "to", "value", "data", "input", "gas",
  "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "accessList", "from",
]);
/**
 * What viem adds to the prepared request it hands an account's
 * signTransaction (the account, the client's chain, its nonce manager,
 * and the capabilities a node's eth_fillTransaction reported): not part
 * of the transaction.
 */
const VIEM_EXTRAS: ReadonlySet<string> = new Set(["account", "chain", "nonceManager", "_capabilities"]);

/**
 * Refuses a key that is neither a transaction field nor one of viem's
 * extras: a misspelt field (gasLimit, chain_id) would otherwise be left
 * out of what is signed without a word.
 */
function refuseUnknown(t: Record<string, unknown>): void {
  for (const k of Object.keys(t)) {
    if (t[k] === undefined || TRANSACTION_KEYS.has(k) || VIEM_EXTRAS.has(k)) continue;
    throw invalid(`transaction: unknown field ${JSON.stringify(k)}; a transaction has ${[...TRANSACTION_KEYS].join(", ")}`);
  }
}

/**
 * viem's extras, where they can contradict the transaction: an account
 * that is not the signer, a chain that is not chainId's.
 */
function checkViemExtras(t: Record<string, unknown>, chainId: number, expectedAddress: string): void {
  const { account, chain } = t;
  if (account !== undefined && account !== null) {
    const address = typeof account === "string" ? account : typeof account === "object" ? (account as { address?: unknown }).address : undefined;
    if (typeof address !== "string" || address.toLowerCase() !== expectedAddress.toLowerCase()) {
      throw invalid(`transaction: account ${typeof address === "string" ? JSON.stringify(address) : "without an address"} is not the signing address ${expectedAddress.toLowerCase()}`);
    }
  }
  if (chain !== undefined && chain !== null) {
    const id = typeof chain === "object" ? (chain as { id?: unknown }).id : undefined;
    if ((typeof id === "number" && Number.isSafeInteger(id)) || typeof id === "bigint") {
      if (BigInt(id) !== BigInt(chainId)) throw invalid(`transaction: chain ${String(id)} is not chainId ${chainId}`);
    }
  }
}

function refuseUnsupported(t: Record<string, unknown>): void {
  const why = " transactions are not supported; send an EIP-1559, EIP-2930 or legacy (EIP-155) transaction";
  if (t.type === "eip4844" || ["blobs", "blobVersionedHashes", "maxFeePerBlobGas", "sidecars"].some((k) => t[k] !== undefined)) {
    throw invalid("transaction: EIP-4844 (blob)" + why);
  }
  if (t.type === "eip7702" || t.authorizationList !== undefined) throw invalid("transaction: EIP-7702 (set code)" + why);
}

function typeOf(t: Record<string, unknown>): "eip1559" | "eip2930" | "legacy" {
  switch (t.type) {
    case "eip1559":
    case "eip2930":
    case "legacy":
      return t.type;
    case undefined:
      if (t.maxFeePerGas !== undefined || t.maxPriorityFeePerGas !== undefined) return "eip1559";
      if (t.gasPrice !== undefined) return t.accessList !== undefined ? "eip2930" : "legacy";
      return "eip1559";
    default:
      throw invalid(`transaction: type ${JSON.stringify(t.type)} is not supported; want "eip1559", "eip2930" or "legacy"`);
  }
}

/** The transaction's data (or input), checked and within MAX_TRANSACTION_DATA_BYTES. */
function dataOf(t: Record<string, unknown>): Hex | undefined {
  const { data, input } = t;
  if (data !== undefined && input !== undefined && data !== input) throw invalid("transaction: data and input differ; give one");
  const d = data ?? input;
  if (d === undefined) return undefined;
  if (typeof d !== "string") throw invalid("transaction: data must be hex");
  if (d.length > 2 + 2 * MAX_TRANSACTION_DATA_BYTES) throw invalid(`transaction: data longer than ${MAX_TRANSACTION_DATA_BYTES} bytes`);
  if (!OxHex.validate(d, { strict: true, even: true })) throw invalid("transaction: data must be \"0x\" and an even number of hex digits");
  return d as Hex;
}

function checkFrom(from: unknown, expectedAddress: string): void {
  if (from === undefined || from === null) return;
  if (typeof from !== "string" || from.toLowerCase() !== expectedAddress.toLowerCase()) {
    throw invalid(`transaction: from ${JSON.stringify(from)} is not the signing address ${expectedAddress.toLowerCase()}`);
  }
}

/** A quantity the transaction must have: nonce and gas, which ox would sign as 0 when absent. */
function required(t: Record<string, unknown>, name: string, max: bigint): bigint {
  const n = quantity(t, name, max);
  if (n === undefined) throw invalid(`transaction: ${name} is required`);
  return n;
}

function quantity(t: Record<string, unknown>, name: string, max: bigint): bigint | undefined {
  const v = t[name];
  if (v === undefined || v === null) return undefined;
  let n: bigint;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else throw invalid(`transaction: ${name} must be a bigint or a safe integer`);
  if (n < 0n || n > max) throw invalid(`transaction: ${name} ${n} is out of range (0..${max === MAX_UINT64 - 1n ? "2^64-2, EIP-2681" : max === MAX_UINT64 ? "2^64-1" : "2^256-1"})`);
  return n;
}

/**
 * The access list, checked: at most MAX_ACCESS_LIST_ENTRIES entries of
 * { address, storageKeys }, each address 20 bytes of hex and each storage
 * key 32, at most MAX_ACCESS_LIST_STORAGE_KEYS keys in all. Lengths are
 * checked before the items are read.
 */
function accessListOf(v: unknown): { address: Hex; storageKeys: Hex[] }[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid("transaction: accessList must be a list of { address, storageKeys }");
  if (v.length > MAX_ACCESS_LIST_ENTRIES) throw invalid(`transaction: accessList has ${v.length} entries; at most ${MAX_ACCESS_LIST_ENTRIES} are signed`);
  let keyCount = 0;
  return v.map((item: unknown, i) => {
    if (!item || typeof item !== "object" || Array.isArray(item)) throw invalid(`transaction: accessList[${i}] must be { address, storageKeys }`);
    const it = item as Record<string, unknown>;
    for (const k of Object.keys(it)) {
      if (k !== "address" && k !== "storageKeys" && it[k] !== undefined) {
        throw invalid(`transaction: accessList[${i}] has an unknown field ${JSON.stringify(k)}; want { address, storageKeys }`);
      }
    }
    if (typeof it.address !== "string" || !Address.validate(it.address, { strict: false })) {
      throw invalid(`transaction: accessList[${i}].address is not an address ("0x" and 40 hex digits)`);
    }
    if (!Array.isArray(it.storageKeys)) throw invalid(`transaction: accessList[${i}].storageKeys must be a list`);
    keyCount += it.storageKeys.length;
    if (keyCount > MAX_ACCESS_LIST_STORAGE_KEYS) {
      throw invalid(`transaction: accessList has more than ${MAX_ACCESS_LIST_STORAGE_KEYS} storage keys in all`);
    }
    const keys = it.storageKeys.map((k: unknown, j) => {
      if (typeof k !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(k)) throw invalid(`transaction: accessList[${i}].storageKeys[${j}] is not 32 bytes of hex`);
      return k as Hex;
    });
    return { address: it.address as Hex, storageKeys: keys };
  });
}
