/**
 * A tsskit wallet as a viem account: `@tsskit/sdk/viem`. viem is a peer
 * dependency of this entry only; the rest of the SDK does not load it.
 *
 *     const account = await toViemAccount({ client, walletId, password });
 *     const wallet = createWalletClient({ account, chain: mainnet, transport: http() });
 *     await wallet.sendTransaction({ to, value });
 *
 * Every signing is a threshold signing session (TssClient.sign), checked
 * to recover to the account's address before viem gets it.
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { getAddress, hexToBytes, keccak256, numberToHex } from "viem";
import { toAccount, type LocalAccount } from "viem/accounts";

import {
  checkTransaction, signDigestWith, signMessageWith, signTransactionWith, signTypedDataWith,
  type DigestSigner, type EthTransaction, type TypedDataDefinition,
} from "./eth.js";
import type { RetryPolicy } from "./errors.js";
import type { ClientProgress } from "./progress.js";
import type { TssClient } from "./tss-client.js";

export interface ToViemAccountOptions {
  /** A TssClient (only getAddress and sign are used). */
  client: Pick<TssClient, "getAddress" | "sign">;
  walletId: string;
  /**
   * The share's password, or a function that returns it for each signing
   * (so that the account need not keep it).
   */
  password: string | (() => string | Promise<string>);
  /** A non-hardened BIP32 path from the wallet key ("m/0/5"); default "m", the wallet's own key. */
  path?: string;
  /** Progress of each signing. */
  onProgress?(p: ClientProgress): void;
  /** Retry a signing refused for overload; default: no retry. */
  retry?: RetryPolicy;
}

/**
 * toViemAccount is the wallet (or its child at path) as a viem local
 * account: signMessage, signTypedData and signTransaction, each one
 * threshold signing. A transaction is serialized by the chain's serializer
 * when viem passes one (a chain with its own transaction types), by ox
 * otherwise; either way a transaction without chainId, an EIP-4844 or
 * EIP-7702 transaction and oversize data are refused before anything is
 * signed.
 */
export async function toViemAccount(opts: ToViemAccountOptions): Promise<LocalAccount> {
  const { client, walletId, onProgress, retry } = opts;
  const derived = await client.getAddress({ walletId, path: opts.path });
  const address = derived.address;
  const signer: DigestSigner = async (digest) => {
    const password = typeof opts.password === "function" ? await opts.password() : opts.password;
    return client.sign({ walletId, password, message: digest, path: derived.path === "m" ? undefined : derived.path, onProgress, retry });
  };

  const account = toAccount({
    address: getAddress(address),
    async signMessage({ message }) {
      return signMessageWith(signer, address, message);
    },
    async signTypedData(typedData) {
      return signTypedDataWith(signer, address, typedData as unknown as TypedDataDefinition);
    },
    async signTransaction(transaction, options) {
      const serializer = options?.serializer;
      if (!serializer) return signTransactionWith(signer, address, transaction as unknown as EthTransaction);
      // As viem's own accounts do: sign the hash of the unsigned
      // serialization, then serialize again with the signature.
      checkTransaction(transaction as unknown as Record<string, unknown>, address);
      const digest = hexToBytes(keccak256(await serializer(transaction)));
      const sig = await signDigestWith(signer, address, digest);
      return serializer(transaction, {
        r: numberToHex(sig.r, { size: 32 }),
        s: numberToHex(sig.s, { size: 32 }),
        v: sig.yParity === 1 ? 28n : 27n,
        yParity: sig.yParity,
      });
    },
  });
  // viem's accounts carry the uncompressed public key, as privateKeyToAccount's do.
  const publicKey = `0x${secp256k1.Point.fromHex(derived.publicKey).toHex(false)}` as const;
  return { ...account, publicKey };
}
