// The Ethereum requests the app signs: a personal_sign (EIP-191) message,
// EIP-712 typed data given as JSON, and a transaction given as JSON. Each
// is read and checked here, before any signing session exists, and hashed
// with viem so the page can say what gets signed. The SDK hashes them
// again (with ox) when it signs; both follow the same EIPs.
import { MAX_MESSAGE_BYTES, MAX_TYPED_DATA_BYTES, type EthTransaction, type Hex, type TypedDataDefinition } from "@tsskit/sdk";
import {
  hashMessage, hashTypedData, isAddress, keccak256, serializeTransaction,
  type TransactionSerializable, type TypedDataDefinition as ViemTypedData,
} from "viem";

import { fromHex } from "./hex";

export type EthMode = "eth-message" | "typed-data" | "eth-tx";

export const ethModes: { mode: EthMode; label: string; hint: string }[] = [
  { mode: "eth-message", label: "Ethereum message", hint: "EIP-191 personal_sign: the text with Ethereum's message prefix, hashed with Keccak-256." },
  { mode: "typed-data", label: "Typed data (EIP-712 JSON)", hint: "The JSON eth_signTypedData_v4 takes: domain, types, primaryType, message." },
  { mode: "eth-tx", label: "Transaction (JSON)", hint: "An EIP-1559, EIP-2930 or legacy transaction with its chainId. The result is the signed transaction, ready to broadcast." },
];

export const isEthMode = (m: string): m is EthMode => ethModes.some((e) => e.mode === m);

/** What gets signed, in words. */
export function describeEth(mode: EthMode): string {
  switch (mode) {
    case "eth-message":
      return "the EIP-191 (personal_sign) hash of the message";
    case "typed-data":
      return "the EIP-712 hash of the typed data";
    case "eth-tx":
      return "the signing hash of the transaction";
  }
}

export type EthRequest =
  | { mode: "eth-message"; message: string }
  | { mode: "typed-data"; typedData: TypedDataDefinition }
  | { mode: "eth-tx"; transaction: EthTransaction };

export type EthParse = { ok: true; request: EthRequest; digest: Uint8Array } | { ok: false; problem: string };

/**
 * Reads input for mode and hashes it. signer, when known, is the address
 * that will sign: a transaction's "from" must be it.
 */
export function parseEthRequest(mode: EthMode, input: string, signer?: string): EthParse {
  switch (mode) {
    case "eth-message": {
      if (input === "") return { ok: false, problem: "Enter the message to sign." };
      if (new TextEncoder().encode(input).length > MAX_MESSAGE_BYTES) return { ok: false, problem: `A message can be at most ${MAX_MESSAGE_BYTES} bytes.` };
      return { ok: true, request: { mode, message: input }, digest: fromHex(hashMessage(input)) };
    }
    case "typed-data": {
      const t = parseTypedDataJson(input);
      if (!t.ok) return t;
      try {
        const digest = fromHex(hashTypedData(t.value as unknown as ViemTypedData));
        return { ok: true, request: { mode, typedData: t.value }, digest };
      } catch (e) {
        return { ok: false, problem: `The typed data is not valid: ${reason(e)}` };
      }
    }
    case "eth-tx": {
      const t = parseTransactionJson(input);
      if (!t.ok) return t;
      const from = t.value.from;
      if (from && signer && from.toLowerCase() !== signer.toLowerCase()) {
        return { ok: false, problem: `"from" is ${from}, but this key signs as ${signer}. Remove "from" or pick the matching wallet and path.` };
      }
      try {
        // For a legacy transaction with a chainId, viem serializes EIP-155's
        // (…, chainId, 0, 0): the same payload the SDK signs.
        const digest = fromHex(keccak256(serializeTransaction(t.value as TransactionSerializable)));
        return { ok: true, request: { mode, transaction: t.value }, digest };
      } catch (e) {
        return { ok: false, problem: `The transaction is not valid: ${reason(e)}` };
      }
    }
  }
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** EIP-712 typed data from JSON: an object with types, primaryType, message and (usually) domain. */
export function parseTypedDataJson(text: string): Parsed<TypedDataDefinition> {
  if (text.trim() === "") return { ok: false, problem: "Enter the typed data as JSON: { domain, types, primaryType, message }." };
  if (text.length > MAX_TYPED_DATA_BYTES) return { ok: false, problem: `Typed data can be at most ${MAX_TYPED_DATA_BYTES} bytes of JSON.` };
  const j = parseJson(text);
  if (!j.ok) return j;
  const v = j.value;
  if (!isObject(v)) return { ok: false, problem: "The typed data must be a JSON object: { domain, types, primaryType, message }." };
  if (!isObject(v.types)) return { ok: false, problem: `"types" is missing: an object of struct definitions, such as { "Mail": [{ "name": "contents", "type": "string" }] }.` };
  if (typeof v.primaryType !== "string") return { ok: false, problem: `"primaryType" is missing: the name of the struct to sign, one of "types".` };
  if (v.domain !== undefined && !isObject(v.domain)) return { ok: false, problem: `"domain" must be an object, such as { "name": "…", "chainId": 1 }.` };
  if (v.primaryType !== "EIP712Domain" && !isObject(v.message)) return { ok: false, problem: `"message" is missing: the ${v.primaryType} to sign, as an object.` };
  const unsafe = findUnsafeNumber(v, "");
  if (unsafe) return { ok: false, problem: `${unsafe} is too large for a JSON number (it loses digits above 2^53): write it as a string, such as "1000000000000000000".` };
  if (v.primaryType !== "EIP712Domain") {
    const missing = findMissingField(v.types, v.primaryType, v.message, "message", 0);
    if (missing) return { ok: false, problem: missing };
  }
  return { ok: true, value: v as unknown as TypedDataDefinition };
}

/**
 * The first struct field value lacks, as a sentence (viem's own error for
 * that is about BigInt or bytes, not the field). Other problems are left to
 * viem's validation.
 */
function findMissingField(types: Record<string, unknown>, type: string, value: unknown, at: string, depth: number): string | null {
  if (depth > 64) return null;
  const array = /^(.+)\[[0-9]*\]$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return `${at} must be a list (its type is ${type}).`;
    for (let i = 0; i < value.length; i++) {
      const found = findMissingField(types, array[1]!, value[i], `${at}[${i}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  const fields = types[type];
  if (!Array.isArray(fields)) return null; // an atomic type: viem checks the value
  if (!isObject(value)) return `${at} must be an object (a ${type}).`;
  for (const f of fields as unknown[]) {
    if (!isObject(f) || typeof f.name !== "string" || typeof f.type !== "string") return null;
    if (value[f.name] === undefined || value[f.name] === null) return `${at} has no "${f.name}" (the ${f.type} field of ${type}).`;
    const found = findMissingField(types, f.type, value[f.name], `${at}.${f.name}`, depth + 1);
    if (found) return found;
  }
  return null;
}

const txFields = [
  "type", "chainId", "nonce", "to", "value", "data", "input", "gas",
  "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "accessList", "from",
] as const;
/** Names other tools use for the same field. */
const txAliases: Record<string, string> = { gasLimit: "gas", gas_limit: "gas", chain_id: "chainId", chainID: "chainId" };
const feeFields: Record<"eip1559" | "eip2930" | "legacy", string[]> = {
  eip1559: ["gasPrice"],
  eip2930: ["maxFeePerGas", "maxPriorityFeePerGas"],
  legacy: ["maxFeePerGas", "maxPriorityFeePerGas", "accessList"],
};
const MAX_UINT256 = 2n ** 256n - 1n;

/**
 * A transaction from JSON, in the shape viem and the SDK take. Quantities
 * may be JSON numbers (up to 2^53) or strings, decimal or "0x" hex, and
 * become bigints; chainId and nonce become numbers. The type is inferred as
 * the SDK does when absent: fee cap fields make it EIP-1559, gasPrice makes
 * it legacy (EIP-2930 with an accessList), no fee field at all EIP-1559.
 */
export function parseTransactionJson(text: string): Parsed<EthTransaction> {
  if (text.trim() === "") return { ok: false, problem: `Enter the transaction as JSON, such as { "chainId": 1, "to": "0x…", "value": "1000000000000000" }.` };
  const j = parseJson(text);
  if (!j.ok) return j;
  const v = j.value;
  if (!isObject(v)) return { ok: false, problem: "The transaction must be a JSON object, such as { \"chainId\": 1, \"to\": \"0x…\" }." };
  for (const k of Object.keys(v)) {
    if ((txFields as readonly string[]).includes(k)) continue;
    if (txAliases[k]) return { ok: false, problem: `Unknown field "${k}": call it "${txAliases[k]}".` };
    return { ok: false, problem: `Unknown field "${k}". A transaction has: ${txFields.join(", ")}.` };
  }
  try {
    const present = (k: string) => v[k] !== undefined && v[k] !== null;
    if (!present("chainId")) {
      return { ok: false, problem: `"chainId" is missing. Give the chain the transaction is for (1 for Ethereum mainnet): a transaction without one could be replayed on any chain.` };
    }
    const chainId = toSafeNumber("chainId", v.chainId);
    if (chainId === 0) return { ok: false, problem: `"chainId" must be 1 or more.` };
    const type = v.type ?? (present("maxFeePerGas") || present("maxPriorityFeePerGas") ? "eip1559" : present("gasPrice") ? (present("accessList") ? "eip2930" : "legacy") : "eip1559");
    if (type !== "eip1559" && type !== "eip2930" && type !== "legacy") {
      return { ok: false, problem: `"type" ${JSON.stringify(type)} cannot be signed here: use "eip1559", "eip2930" or "legacy".` };
    }
    for (const k of feeFields[type]) if (present(k)) return { ok: false, problem: `"${k}" is not a field of ${type === "legacy" ? "a legacy" : "an " + type.replace("eip", "EIP-")} transaction.` };
    if (present("data") && present("input") && v.data !== v.input) return { ok: false, problem: `"data" and "input" differ: give one of them.` };
    const data = v.data ?? v.input;
    for (const k of ["nonce", "gas"] as const) {
      if (!present(k)) {
        return { ok: false, problem: k === "nonce"
          ? `"nonce" is missing: give the account's next transaction count (a wrong one makes the transaction fail or wait).`
          : `"gas" is missing: give the gas limit (21000 for a plain transfer).` };
      }
    }
    const tx: EthTransaction = { type, chainId };
    if (present("nonce")) tx.nonce = toSafeNumber("nonce", v.nonce);
    if (present("to")) tx.to = toAddress("to", v.to);
    if (data !== undefined && data !== null) {
      if (typeof data !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(data)) throw new Problem(`"data" must be "0x" and an even number of hex digits.`);
      tx.data = data as Hex;
    }
    for (const k of ["value", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"] as const) {
      if (present(k)) tx[k] = toQuantity(k, v[k]);
    }
    if (present("accessList")) tx.accessList = toAccessList(v.accessList);
    if (present("from")) tx.from = toAddress("from", v.from);
    return { ok: true, value: tx };
  } catch (e) {
    if (e instanceof Problem) return { ok: false, problem: e.message };
    throw e;
  }
}

class Problem extends Error {}

function toQuantity(name: string, v: unknown, max = MAX_UINT256): bigint {
  let n: bigint;
  if (typeof v === "number") {
    if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
      throw new Problem(`"${name}" is too large for a JSON number (it loses digits above 2^53): write it as a string, such as "${name === "value" ? "1000000000000000000" : "30000000000"}".`);
    }
    if (!Number.isSafeInteger(v) || v < 0) throw new Problem(`"${name}" must be a whole number, 0 or more${inWei(name)}.`);
    n = BigInt(v);
  } else if (typeof v === "string" && (/^[0-9]+$/.test(v) || /^0x[0-9a-fA-F]+$/.test(v))) {
    n = BigInt(v);
  } else {
    throw new Problem(`"${name}" must be a number, or a string of decimal digits or "0x" hex${inWei(name)}.`);
  }
  if (n > max) throw new Problem(`"${name}" is too large.`);
  return n;
}

const inWei = (name: string) => (name === "value" || name.endsWith("PerGas") || name === "gasPrice" ? " (in wei)" : "");

function toSafeNumber(name: string, v: unknown): number {
  const n = toQuantity(name, v, BigInt(Number.MAX_SAFE_INTEGER));
  return Number(n);
}

function toAddress(name: string, v: unknown): Hex {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(v)) throw new Problem(`"${name}" must be an address: "0x" and 40 hex digits.`);
  if (!isAddress(v)) throw new Problem(`"${name}" has a wrong checksum (the mix of capitals): check the address, or write it in lower case.`);
  return v;
}

function toAccessList(v: unknown): { address: Hex; storageKeys: Hex[] }[] {
  if (!Array.isArray(v)) throw new Problem(`"accessList" must be a list of { "address": "0x…", "storageKeys": ["0x…"] }.`);
  return v.map((item: unknown, i) => {
    if (!isObject(item)) throw new Problem(`accessList[${i}] must be an object { "address", "storageKeys" }.`);
    const address = toAddress(`accessList[${i}].address`, item.address);
    if (!Array.isArray(item.storageKeys)) throw new Problem(`accessList[${i}].storageKeys must be a list.`);
    const storageKeys = item.storageKeys.map((k: unknown, j) => {
      if (typeof k !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(k)) throw new Problem(`accessList[${i}].storageKeys[${j}] must be 32 bytes: "0x" and 64 hex digits.`);
      return k as Hex;
    });
    return { address, storageKeys };
  });
}

function parseJson(text: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^JSON\.parse: /, "") : String(e);
    return { ok: false, problem: `This is not valid JSON: ${why.replace(/\.?$/, ".")}` };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The first integer in v that JSON could not carry exactly, named by its path. */
function findUnsafeNumber(v: unknown, at: string): string | null {
  if (typeof v === "number") return Number.isInteger(v) && !Number.isSafeInteger(v) ? at || "a number" : null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = findUnsafeNumber(v[i], `${at}[${i}]`);
      if (found) return found;
    }
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      const found = findUnsafeNumber(x, at ? `${at}.${k}` : k);
      if (found) return found;
    }
  }
  return null;
}

/** viem's short message for its errors, the message otherwise. */
function reason(e: unknown): string {
  const m = e && typeof e === "object" && typeof (e as { shortMessage?: unknown }).shortMessage === "string" ? (e as { shortMessage: string }).shortMessage : e instanceof Error ? e.message : String(e);
  return m.replace(/\.?$/, ".");
}

/** An example for the textarea of mode, addressed to signer (itself). */
export function exampleFor(mode: "typed-data" | "eth-tx", signer: string): string {
  if (mode === "eth-tx") {
    const tx = { type: "eip1559", chainId: 11155111, nonce: 0, to: signer, value: "1000000000000000", gas: 21000, maxFeePerGas: "30000000000", maxPriorityFeePerGas: "1000000000" };
    return JSON.stringify(tx, null, 2);
  }
  const td = {
    domain: { name: "tsskit admin", version: "1", chainId: 11155111 },
    types: { Approval: [{ name: "owner", type: "address" }, { name: "amount", type: "uint256" }, { name: "note", type: "string" }] },
    primaryType: "Approval",
    message: { owner: signer, amount: "1000000000000000000", note: "Signed from the admin app" },
  };
  return JSON.stringify(td, null, 2);
}
