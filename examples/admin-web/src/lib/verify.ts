import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { Hex } from "@tsskit/sdk";
import { keccak256, recoverMessageAddress, recoverTransactionAddress, recoverTypedDataAddress, type TypedDataDefinition } from "viem";

import type { EthRequest } from "./ethRequest";
import { fromHex } from "./hex";

/** Checks r||s (64 bytes, low S) over digest against a compressed public key. */
export function verifySignature(signatureHex: string, digest: Uint8Array, publicKeyHex: string): boolean {
  try {
    return secp256k1.verify(fromHex(signatureHex), digest, fromHex(publicKeyHex), { prehash: false, lowS: true, format: "compact" });
  } catch {
    return false;
  }
}

/**
 * The address that signed request, recovered with viem from what the SDK
 * returned: a 65-byte signature, or for a transaction the signed
 * transaction (with its hash). The SDK checks the same before it returns;
 * this is the app's own check, with another library.
 */
export async function recoverEthSigner(request: EthRequest, signed: Hex): Promise<{ address: string; txHash?: string }> {
  switch (request.mode) {
    case "eth-message":
      return { address: await recoverMessageAddress({ message: request.message, signature: signed }) };
    case "typed-data":
      return { address: await recoverTypedDataAddress({ ...(request.typedData as unknown as TypedDataDefinition), signature: signed }) };
    case "eth-tx":
      return { address: await recoverTransactionAddress({ serializedTransaction: signed as Parameters<typeof recoverTransactionAddress>[0]["serializedTransaction"] }), txHash: keccak256(signed) };
  }
}
