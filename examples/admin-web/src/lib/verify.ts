import { secp256k1 } from "@noble/curves/secp256k1.js";

import { fromHex } from "./hex";

/** Checks r||s (64 bytes, low S) over digest against a compressed public key. */
export function verifySignature(signatureHex: string, digest: Uint8Array, publicKeyHex: string): boolean {
  try {
    return secp256k1.verify(fromHex(signatureHex), digest, fromHex(publicKeyHex), { prehash: false, lowS: true, format: "compact" });
  } catch {
    return false;
  }
}
