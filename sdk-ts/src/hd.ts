/**
 * BIP32 public derivation on a threshold wallet's key: derivation paths,
 * the wallet's chain code, its extended public key and derived addresses.
 *
 * A non-hardened child is parent + IL·G with
 * IL || chain' = HMAC-SHA512(chain, parent || u32be(i)): only public data
 * goes in, so anyone with the public key and the chain code derives it, and
 * each signer adds the same IL to its share when it signs for the child.
 * A hardened child puts the parent private key into the HMAC, and no party
 * of a threshold wallet has that key: hardened components are refused.
 *
 * The engine (party/hd in Go) implements the same rules; the paths it
 * accepts and the chain code of older wallets must stay identical.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { HDKey } from "@scure/bip32";

import { addressOf } from "./backup.js";
import { TsskitError } from "./errors.js";

/** The longest path BIP32 serializes (its depth is one byte). */
export const MAX_PATH_DEPTH = 255;
/** The first hardened index, 2^31. */
export const HARDENED_OFFSET = 0x8000_0000;

const HARDENED_MESSAGE =
  "hardened derivation needs the whole private key, which no party of a threshold wallet holds; use non-hardened indices (no ' or h)";

/** A key derived from a wallet's key. */
export interface DerivedAddress {
  /** The path, normalized: "m" or "m/0/5". */
  path: string;
  /** Compressed SEC1, lowercase hex. */
  publicKey: string;
  /** "0x" and 40 lowercase hex digits. */
  address: string;
}

/**
 * parsePath reads "m" (the wallet key itself) or "m/0/5" ("M/…" and "0/5"
 * too): decimal indices below 2^31, without leading zeros, at most 255 of
 * them. A hardened component ("0'", "0h", "0H", or 2^31 or more) is
 * refused: see HARDENED_MESSAGE. Errors are TsskitError "invalid_argument"
 * naming the component and what is wrong with it.
 */
export function parsePath(path: string): number[] {
  const bad = (why: string) => new TsskitError("invalid_argument", `derivation path ${JSON.stringify(path)}: ${why}`);
  if (typeof path !== "string") throw new TsskitError("invalid_argument", `derivation path: want a string such as "m/0/5", got ${typeof path}`);
  if (path.length > 16 * MAX_PATH_DEPTH) throw bad("too long");
  if (path === "m" || path === "M") return [];
  if (path === "") throw bad("empty; want m or m/i/j/…");
  const rest = path.startsWith("m/") || path.startsWith("M/") ? path.slice(2) : path;
  const parts = rest.split("/");
  if (parts.length > MAX_PATH_DEPTH) throw bad(`${parts.length} components; at most ${MAX_PATH_DEPTH}`);
  return parts.map((c, i) => {
    const at = `component ${i + 1}`;
    if (c === "") throw bad(`${at} is empty`);
    if (/['hH]$/.test(c)) throw bad(`${at} (${c}): ${HARDENED_MESSAGE}`);
    if (c.length > 1 && c[0] === "0") throw bad(`${at} (${c}) has a leading zero`);
    if (!/^[0-9]+$/.test(c)) throw bad(`${at} (${c}) is not a decimal index`);
    if (c.length > 10 || Number(c) >= 2 ** 32) throw bad(`${at} (${c}) is out of range`);
    const n = Number(c);
    if (n >= HARDENED_OFFSET) throw bad(`${at} (${c}) is 2^31 or more: ${HARDENED_MESSAGE}`);
    return n;
  });
}

/** formatPath writes indices as "m/0/5" ("m" for none); it refuses what parsePath would. */
export function formatPath(indices: readonly number[]): string {
  if (!Array.isArray(indices)) throw new TsskitError("invalid_argument", "derivation path: want an array of indices");
  if (indices.length > MAX_PATH_DEPTH) {
    throw new TsskitError("invalid_argument", `derivation path: ${indices.length} components; at most ${MAX_PATH_DEPTH}`);
  }
  indices.forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 32) {
      throw new TsskitError("invalid_argument", `derivation path: component ${i + 1} (${String(n)}) is not an index in 0..2^31-1`);
    }
    if (n >= HARDENED_OFFSET) throw new TsskitError("invalid_argument", `derivation path: component ${i + 1} (${n}) is 2^31 or more: ${HARDENED_MESSAGE}`);
  });
  return ["m", ...indices.map(String)].join("/");
}

/** normalizePath is parsePath then formatPath: "M/0/5" and "0/5" become "m/0/5". */
export function normalizePath(path: string | undefined): string {
  return path === undefined ? "m" : formatPath(parsePath(path));
}

const LEGACY_DOMAIN = utf8ToBytes("tsskit/v1 bip32 chain code, legacy\x00");

/**
 * legacyChainCode is the chain code of a wallet stored before wallets
 * carried one:
 *
 *     SHA-256("tsskit/v1 bip32 chain code, legacy\x00" || u16be(len(id)) || id || public_key)
 *
 * with id the UTF-8 of the wallet id and public_key its 33 compressed
 * bytes. It must never change (funds may sit at its derived addresses).
 * Anyone who knows the wallet id and the public key can compute it, and so
 * link the wallet's derived addresses to it; a wallet's own chain code,
 * from its keygen, is not public that way.
 */
export function legacyChainCode(walletId: string, publicKeyHex: string): Uint8Array {
  const id = utf8ToBytes(walletId);
  if (id.length === 0 || id.length > 0xffff) throw new TsskitError("invalid_argument", "wallet id: want 1..65535 bytes of UTF-8");
  const pub = publicKeyBytes(publicKeyHex);
  const len = new Uint8Array([id.length >> 8, id.length & 0xff]);
  const msg = new Uint8Array(LEGACY_DOMAIN.length + 2 + id.length + pub.length);
  msg.set(LEGACY_DOMAIN, 0);
  msg.set(len, LEGACY_DOMAIN.length);
  msg.set(id, LEGACY_DOMAIN.length + 2);
  msg.set(pub, LEGACY_DOMAIN.length + 2 + id.length);
  return sha256(msg);
}

/**
 * walletChainCode is a stored wallet's chain code (hex): its own, or for a
 * wallet stored before wallets carried one, legacyChainCode.
 */
export function walletChainCode(wallet: { walletId: string; publicKey: string; chainCode?: string }): string {
  return wallet.chainCode ? wallet.chainCode.toLowerCase() : bytesToHex(legacyChainCode(wallet.walletId, wallet.publicKey));
}

/**
 * extendedPublicKey is the BIP32 serialization ("xpub…": mainnet public
 * version 0x0488B21E, depth 0, parent fingerprint 0, child index 0) of a
 * wallet key and its chain code. Wallet software that takes an xpub
 * derives the same non-hardened addresses as deriveAddress.
 */
export function extendedPublicKey(publicKeyHex: string, chainCodeHex: string): string {
  return rootKey(publicKeyHex, chainCodeHex).publicExtendedKey;
}

/** deriveAddress derives the key and Ethereum address at path (non-hardened) from a wallet key and chain code. */
export function deriveAddress(publicKeyHex: string, chainCodeHex: string, path: string): DerivedAddress {
  const indices = parsePath(path);
  const normalized = formatPath(indices);
  const root = rootKey(publicKeyHex, chainCodeHex);
  let child: HDKey;
  try {
    child = root.derive(normalized);
  } catch (e) {
    // An IL ≥ n or a point at infinity: BIP32 says use the next index.
    // The chance is below 2^-127.
    throw new TsskitError("invalid_argument", `derivation path ${JSON.stringify(normalized)}: no valid child at this path (${e instanceof Error ? e.message : String(e)}); use the next index`);
  }
  const publicKey = bytesToHex(child.publicKey!);
  return { path: normalized, publicKey, address: addressOf(publicKey)! };
}

function rootKey(publicKeyHex: string, chainCodeHex: string): HDKey {
  if (typeof chainCodeHex !== "string" || !/^[0-9a-fA-F]{64}$/.test(chainCodeHex)) {
    throw new TsskitError("invalid_argument", "chain code: want 32 bytes as 64 hex digits");
  }
  return new HDKey({ publicKey: publicKeyBytes(publicKeyHex), chainCode: hexToBytes(chainCodeHex) });
}

/** The 33 bytes of a compressed secp256k1 point given in hex; anything else is invalid_argument. */
function publicKeyBytes(publicKeyHex: string): Uint8Array {
  const hex = typeof publicKeyHex === "string" ? publicKeyHex.toLowerCase() : "";
  if (addressOf(hex) === undefined) throw new TsskitError("invalid_argument", "public key: want a compressed secp256k1 point, 66 hex digits");
  return hexToBytes(hex);
}
