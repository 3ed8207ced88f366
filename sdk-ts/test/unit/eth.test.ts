// Ethereum signing through a digest signer, checked independently with
// viem: signatures verify, transactions parse back to what was signed and
// recover to the signer, and bad input never reaches the signer.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { HDKey } from "@scure/bip32";
import {
  createWalletClient, custom, defineChain, parseTransaction, recoverTransactionAddress, serializeTransaction,
  verifyMessage, verifyTypedData, type Hex as ViemHex, type TransactionSerializable,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { mainnet } from "viem/chains";
import { describe, expect, it, vi } from "vitest";

import { TsskitError } from "../../src/errors.js";
import {
  EIP2294_MAX_CHAIN_ID, MAX_ACCESS_LIST_ENTRIES, MAX_ACCESS_LIST_STORAGE_KEYS, MAX_CHAIN_ID, MAX_LEGACY_CHAIN_ID,
  MAX_MESSAGE_BYTES, MAX_TRANSACTION_DATA_BYTES, MAX_TYPED_DATA_BYTES,
  checkTransaction, signMessageWith, signTransactionWith, signTypedDataWith,
  type DigestSigner, type EthTransaction, type TypedDataDefinition,
} from "../../src/eth.js";
import { deriveAddress } from "../../src/hd.js";
import type { StoredWallet } from "../../src/share-storage.js";
import { TssClient, type SignOptions, type SignatureHex } from "../../src/tss-client.js";
import { toViemAccount } from "../../src/viem.js";

const N = secp256k1.Point.CURVE().n;

const PRIV = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const account = privateKeyToAccount(`0x${PRIV}`);
const ADDRESS = account.address.toLowerCase();

/** Signs like the engine: low s, recovery id 0/1, r and s as 64 hex digits. */
function rawSign(priv: Uint8Array | string, digest: Uint8Array): { r: string; s: string; v: number } {
  const key = typeof priv === "string" ? hexToBytes(priv) : priv;
  const sig = secp256k1.Signature.fromBytes(secp256k1.sign(digest, key, { prehash: false, format: "recovered" }), "recovered");
  return { r: sig.r.toString(16).padStart(64, "0"), s: sig.s.toString(16).padStart(64, "0"), v: sig.recovery! };
}

function fakeSigner(priv: Uint8Array | string = PRIV) {
  return vi.fn<DigestSigner>(async (digest) => rawSign(priv, digest));
}

async function refused(p: Promise<unknown>, code: string, text: string): Promise<void> {
  const e = await p.then(() => undefined, (e: unknown) => e);
  expect(e, `want ${code}: ${text}`).toBeInstanceOf(TsskitError);
  expect((e as TsskitError).code).toBe(code);
  expect((e as TsskitError).message).toContain(text);
}

const mail: TypedDataDefinition = {
  domain: { name: "Ether Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" },
  types: {
    Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
    Mail: [{ name: "from", type: "Person" }, { name: "to", type: "Person" }, { name: "contents", type: "string" }],
  },
  primaryType: "Mail",
  message: {
    from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
    to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
    contents: "Hello, Bob!",
  },
};

const TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as const;
const to = TO.toLowerCase();
const txs: Record<string, EthTransaction> = {
  eip1559: {
    type: "eip1559", chainId: 1, nonce: 7, to: TO, value: 10n ** 18n, gas: 21000n,
    maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, data: "0x",
    accessList: [{ address: TO, storageKeys: [`0x${"11".repeat(32)}`] }],
  },
  eip2930: {
    type: "eip2930", chainId: 137, nonce: 0, to: TO, value: 1n, gas: 50000n, gasPrice: 20_000_000_000n,
    data: "0xa9059cbb", accessList: [{ address: TO, storageKeys: [] }],
  },
  legacy: { type: "legacy", chainId: 1, nonce: 300, to: TO, value: 5n, gas: 21000n, gasPrice: 1_000_000_000n },
  create: { chainId: 11155111, nonce: 1, gas: 500000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, data: "0x6080604052" },
};

describe("signMessageWith", () => {
  it("signs personal_sign messages that viem verifies, as viem's own account would", async () => {
    const messages = ["hello tsskit", "", "ünïcødé ✓", new Uint8Array([0, 1, 2, 255]), { raw: "0xdeadbeef" as const }, { raw: new Uint8Array(32).fill(7) }];
    for (const message of messages) {
      const signer = fakeSigner();
      const sig = await signMessageWith(signer, ADDRESS, message);
      expect(sig).toMatch(/^0x[0-9a-f]{128}(1b|1c)$/);
      const viemMessage = message instanceof Uint8Array ? { raw: message } : message;
      expect(await verifyMessage({ address: account.address, message: viemMessage, signature: sig })).toBe(true);
      expect(sig).toBe(await account.signMessage({ message: viemMessage }));
      expect(signer).toHaveBeenCalledTimes(1);
    }
  });

  it("takes a message of exactly the limit", async () => {
    const message = { raw: new Uint8Array(MAX_MESSAGE_BYTES).fill(0x61) };
    const sig = await signMessageWith(fakeSigner(), account.address, message);
    expect(await verifyMessage({ address: account.address, message, signature: sig })).toBe(true);
  });

  it("refuses oversize and malformed messages before signing", async () => {
    const signer = fakeSigner();
    await refused(signMessageWith(signer, ADDRESS, "a".repeat(MAX_MESSAGE_BYTES + 1)), "invalid_argument", `longer than ${MAX_MESSAGE_BYTES} bytes`);
    await refused(signMessageWith(signer, ADDRESS, "é".repeat(MAX_MESSAGE_BYTES / 2 + 1)), "invalid_argument", "longer than");
    await refused(signMessageWith(signer, ADDRESS, new Uint8Array(MAX_MESSAGE_BYTES + 1)), "invalid_argument", "longer than");
    await refused(signMessageWith(signer, ADDRESS, { raw: `0x${"00".repeat(MAX_MESSAGE_BYTES + 1)}` }), "invalid_argument", "longer than");
    await refused(signMessageWith(signer, ADDRESS, { raw: "0xabc" }), "invalid_argument", "message.raw");
    await refused(signMessageWith(signer, ADDRESS, { raw: "0xzz" }), "invalid_argument", "message.raw");
    await refused(signMessageWith(signer, ADDRESS, 42 as unknown as string), "invalid_argument", "message");
    await refused(signMessageWith(signer, "0x1234", "hi"), "invalid_argument", "expected address");
    expect(signer).not.toHaveBeenCalled();
  });
});

describe("the check after signing", () => {
  it("refuses a signature by another key", async () => {
    const other = fakeSigner("01".repeat(32));
    await refused(signMessageWith(other, ADDRESS, "hi"), "verify", "not the expected address");
    await refused(signTransactionWith(other, ADDRESS, txs.eip1559!), "verify", "not the expected address");
    expect(other).toHaveBeenCalledTimes(2);
  });

  it("refuses a malformed answer", async () => {
    const answers = [
      { r: "00".repeat(32), s: "11".repeat(32), v: 0 },
      { r: "11".repeat(32), s: "11".repeat(31), v: 0 },
      { r: "11".repeat(32), s: "11".repeat(32), v: 2 },
      { r: N.toString(16), s: "11".repeat(32), v: 0 },
    ];
    for (const a of answers) await refused(signMessageWith(async () => a, ADDRESS, "hi"), "verify", "");
  });

  it("lets the signer's own errors through as they are", async () => {
    class WrongPassword extends Error {}
    const failing: DigestSigner = async () => {
      throw new WrongPassword("wrong password");
    };
    for (const p of [signMessageWith(failing, ADDRESS, "hi"), signTypedDataWith(failing, ADDRESS, mail), signTransactionWith(failing, ADDRESS, txs.legacy!)]) {
      await expect(p).rejects.toBeInstanceOf(WrongPassword);
    }
  });

  it("turns a high s into the equivalent low one", async () => {
    const high: DigestSigner = async (digest) => {
      const { r, s, v } = rawSign(PRIV, digest);
      return { r: `0x${r}`, s: (N - BigInt(`0x${s}`)).toString(16).padStart(64, "0"), v: v ^ 1 };
    };
    const sig = await signMessageWith(high, ADDRESS, "hi");
    expect(sig).toBe(await account.signMessage({ message: "hi" }));
  });
});

describe("signTypedDataWith", () => {
  it("signs EIP-712 data that viem verifies", async () => {
    const sig = await signTypedDataWith(fakeSigner(), ADDRESS, mail);
    expect(await verifyTypedData({ ...(mail as Parameters<typeof verifyTypedData>[0]), address: account.address, signature: sig })).toBe(true);
    expect(sig).toBe(await account.signTypedData(mail as Parameters<typeof account.signTypedData>[0]));
  });

  it("refuses malformed or oversize typed data before signing", async () => {
    const signer = fakeSigner();
    const bad: [unknown, string][] = [
      [{ ...mail, primaryType: "Letter" }, "primaryType"],
      [{ ...mail, primaryType: "constructor" }, "primaryType"],
      [{ ...mail, types: { ...mail.types, Person: [{ name: "wallet", type: "address" }, { name: "age", type: "uint" }] } }, "typed data"],
      [{ ...mail, message: { ...mail.message, from: { name: "Cow", wallet: "0x1234" } } }, "typed data"],
      [{ ...mail, types: { ...mail.types, Person: "nope" } }, "types.Person"],
      [{ types: { T: [{ name: "n", type: "uint8" }] }, primaryType: "T", message: { n: 300 } }, "typed data"],
      [{ types: { T: [{ name: "b", type: "bytes4" }] }, primaryType: "T", message: { b: "0x0102" } }, "typed data"],
      [{ ...mail, message: undefined }, "message"],
      [null, "want an object"],
      [{ ...mail, message: { ...mail.message, contents: "x".repeat(MAX_TYPED_DATA_BYTES) } }, `longer than ${MAX_TYPED_DATA_BYTES} bytes`],
    ];
    for (const [typedData, why] of bad) {
      await refused(signTypedDataWith(signer, ADDRESS, typedData as TypedDataDefinition), "invalid_argument", why);
    }
    const cyclic: Record<string, unknown> = { ...mail };
    cyclic.self = cyclic;
    await refused(signTypedDataWith(signer, ADDRESS, cyclic as unknown as TypedDataDefinition), "invalid_argument", "JSON");
    expect(signer).not.toHaveBeenCalled();
  });
});

describe("signTransactionWith", () => {
  for (const [name, tx] of Object.entries(txs)) {
    it(`signs a${name === "eip1559" || name === "eip2930" ? "n" : ""} ${name} transaction viem parses back and recovers`, async () => {
      const signed = await signTransactionWith(fakeSigner(), ADDRESS, tx);
      expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
      const parsed = parseTransaction(signed);
      const want: Record<string, unknown> = { ...tx, type: tx.type ?? "eip1559" };
      for (const [k, v] of Object.entries(want)) {
        if (k === "data" && v === "0x") continue; // viem leaves empty data out
        if (k === "nonce") expect(parsed.nonce, k).toBe(Number(v));
        // Serialization keeps no checksum case.
        else if (k === "to") expect(parsed.to, k).toBe((v as string).toLowerCase());
        else if (k === "accessList") expect(parsed.accessList, k).toEqual((v as { address: string; storageKeys: string[] }[]).map((i) => ({ ...i, address: i.address.toLowerCase() })));
        else expect((parsed as Record<string, unknown>)[k], k).toEqual(v);
      }
      if (tx.type === "legacy") expect(parsed.v).toBe(BigInt(tx.chainId) * 2n + 35n + BigInt(parsed.yParity ?? (Number(parsed.v) - 35) % 2));
      // The same bytes as viem's own account (RFC 6979 signatures are deterministic).
      expect(signed).toBe(await account.signTransaction({ ...tx, type: tx.type ?? "eip1559" } as TransactionSerializable));
    });
  }

  it("refuses what it does not sign, before signing", async () => {
    const signer = fakeSigner();
    const base = txs.eip1559!;
    const bad: [unknown, string][] = [
      [{ ...base, chainId: undefined }, "chainId is required"],
      [{ ...txs.legacy, chainId: undefined }, "pre-EIP-155"],
      [{ ...base, chainId: 0 }, "chainId 0"],
      [{ ...base, chainId: -1 }, "chainId"],
      [{ ...base, chainId: 1.5 }, "chainId"],
      [{ ...base, type: "eip4844" }, "EIP-4844"],
      [{ ...base, type: undefined, blobVersionedHashes: [`0x01${"00".repeat(31)}`] }, "EIP-4844"],
      [{ ...base, type: "eip7702" }, "EIP-7702"],
      [{ ...base, authorizationList: [] }, "EIP-7702"],
      [{ ...base, type: "deposit" }, "not supported"],
      [{ ...base, data: `0x${"00".repeat(MAX_TRANSACTION_DATA_BYTES + 1)}` }, `longer than ${MAX_TRANSACTION_DATA_BYTES} bytes`],
      [{ ...base, data: "0x123" }, "data"],
      [{ ...base, data: "0x12", input: "0x34" }, "data and input differ"],
      [{ ...base, gasPrice: 1n }, "gasPrice is not a field of an EIP-1559"],
      [{ ...txs.legacy, maxFeePerGas: 1n }, "maxFeePerGas is not a field of a legacy"],
      [{ ...txs.legacy, accessList: [] }, "accessList is not a field of a legacy"],
      [{ ...base, value: -1n }, "value"],
      [{ ...base, nonce: 2n ** 64n }, "nonce"],
      [{ ...base, nonce: 2n ** 64n - 1n }, "EIP-2681"],
      [{ ...base, gas: 1.5 }, "gas"],
      [{ ...base, value: 2n ** 256n }, "value"],
      [{ ...base, maxPriorityFeePerGas: 10n ** 12n }, "transaction"],
      [{ ...base, to: "0x70997970c51812dc3a010c7d01b50e0d17dc79C8" }, "checksum"],
      [{ ...base, to: "0x1234" }, "not an address"],
      [{ ...base, from: "0x0000000000000000000000000000000000000001" }, "not the signing address"],
      [{ ...base, accessList: [{ address: TO, storageKeys: ["0x01"] }] }, "storageKeys[0]"],
      [null, "want an object"],
    ];
    for (const [tx, why] of bad) await refused(signTransactionWith(signer, ADDRESS, tx as EthTransaction), "invalid_argument", why);
    expect(signer).not.toHaveBeenCalled();
  });

  it("takes data of exactly the limit and a matching from", async () => {
    const tx = { ...txs.eip1559!, data: `0x${"ab".repeat(MAX_TRANSACTION_DATA_BYTES)}` as const, from: account.address };
    const signed = await signTransactionWith(fakeSigner(), ADDRESS, tx);
    expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
  });

  it("refuses an unknown field, naming it, before signing", async () => {
    const signer = fakeSigner();
    const bad: [unknown, string][] = [
      [{ ...txs.eip1559, gasLimit: 21000n }, 'unknown field "gasLimit"'],
      [{ ...txs.eip1559, chain_id: 1 }, 'unknown field "chain_id"'],
      [{ ...txs.legacy, v: 27n, r: 1n, s: 1n }, 'unknown field "v"'],
      [{ ...txs.eip2930, yParity: 0 }, 'unknown field "yParity"'],
      [{ ...txs.eip1559, gasLimit: null }, 'unknown field "gasLimit"'],
      [{ ...txs.eip1559, accessList: [{ address: TO, storageKeys: [], slot: 1 }] }, 'accessList[0] has an unknown field "slot"'],
      // viem's extras are checked where they could contradict the transaction.
      [{ ...txs.eip1559, account: { address: "0x0000000000000000000000000000000000000001", type: "local" } }, "account"],
      [{ ...txs.eip1559, account: {} }, "account without an address"],
      [{ ...txs.eip1559, chain: { id: 5 } }, "chain 5 is not chainId 1"],
    ];
    for (const [tx, why] of bad) await refused(signTransactionWith(signer, ADDRESS, tx as EthTransaction), "invalid_argument", why);
    expect(signer).not.toHaveBeenCalled();
  });

  it("takes from, viem's extras and keys set to undefined, and signs none of them", async () => {
    const want = await signTransactionWith(fakeSigner(), ADDRESS, txs.eip1559!);
    const extras = [
      { from: account.address },
      { from: ADDRESS as ViemHex, account: account.address },
      { account, chain: mainnet, nonceManager: undefined },
      { account: { address: account.address, type: "json-rpc" }, chain: null },
      { _capabilities: { paymasterService: { supported: false } } }, // from a node's eth_fillTransaction
      { gasLimit: undefined, blobs: undefined, authorizationList: undefined, gasPrice: undefined, input: undefined },
    ];
    for (const extra of extras) {
      expect(await signTransactionWith(fakeSigner(), ADDRESS, { ...txs.eip1559!, ...extra } as EthTransaction)).toBe(want);
    }
  });

  it("requires nonce and gas, which would otherwise be signed as 0", async () => {
    const signer = fakeSigner();
    for (const tx of Object.values(txs)) {
      await refused(signTransactionWith(signer, ADDRESS, { ...tx, nonce: undefined }), "invalid_argument", "nonce is required");
      await refused(signTransactionWith(signer, ADDRESS, { ...tx, nonce: null } as unknown as EthTransaction), "invalid_argument", "nonce is required");
      await refused(signTransactionWith(signer, ADDRESS, { ...tx, gas: undefined }), "invalid_argument", "gas is required");
      const { nonce: _n, gas: _g, ...neither } = tx;
      await refused(signTransactionWith(signer, ADDRESS, neither), "invalid_argument", "is required");
    }
    expect(signer).not.toHaveBeenCalled();
    // 0 given is 0.
    const signed = await signTransactionWith(fakeSigner(), ADDRESS, { ...txs.eip1559!, nonce: 0n });
    expect(parseTransaction(signed).nonce).toBe(0);
  });

  it("bounds the access list and checks its addresses and storage keys", async () => {
    const key = (i: number) => `0x${i.toString(16).padStart(64, "0")}` as const;
    const addr = (i: number) => `0x${i.toString(16).padStart(40, "0")}` as const;
    const eip2930 = txs.eip2930!;
    // Exactly the limits: signed, and viem reads the list back.
    const most = Array.from({ length: MAX_ACCESS_LIST_ENTRIES }, (_, i) => ({ address: addr(i + 1), storageKeys: [] as ViemHex[] }));
    const keys = [
      { address: TO, storageKeys: Array.from({ length: MAX_ACCESS_LIST_STORAGE_KEYS - 1 }, (_, i) => key(i)) },
      { address: addr(7), storageKeys: [key(MAX_ACCESS_LIST_STORAGE_KEYS)] },
    ];
    for (const accessList of [most, keys]) {
      const signed = await signTransactionWith(fakeSigner(), ADDRESS, { ...eip2930, accessList });
      expect(parseTransaction(signed).accessList).toHaveLength(accessList.length);
      expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
    }

    const signer = fakeSigner();
    const bad: [unknown, string][] = [
      [[...most, { address: TO, storageKeys: [] }], `at most ${MAX_ACCESS_LIST_ENTRIES}`],
      [[...keys, { address: TO, storageKeys: [key(0)] }], `more than ${MAX_ACCESS_LIST_STORAGE_KEYS} storage keys`],
      [[{ address: TO, storageKeys: Array.from({ length: MAX_ACCESS_LIST_STORAGE_KEYS + 1 }, () => 5) }], `more than ${MAX_ACCESS_LIST_STORAGE_KEYS} storage keys`],
      [[{ address: `0x${"11".repeat(19)}`, storageKeys: [] }], "accessList[0].address"],
      [[{ address: `0x${"11".repeat(21)}`, storageKeys: [] }], "accessList[0].address"],
      [[{ address: `0x${"zz".repeat(20)}`, storageKeys: [] }], "accessList[0].address"],
      [[{ address: "11".repeat(20), storageKeys: [] }], "accessList[0].address"],
      [[{ storageKeys: [] }], "accessList[0].address"],
      [[{ address: TO, storageKeys: [`0x${"11".repeat(31)}`] }], "accessList[0].storageKeys[0]"],
      [[{ address: TO, storageKeys: [key(1), `0x${"11".repeat(33)}`] }], "accessList[0].storageKeys[1]"],
      [[{ address: TO, storageKeys: [`0x${"gg".repeat(32)}`] }], "storageKeys[0]"],
      [[{ address: TO, storageKeys: [1n] }], "storageKeys[0]"],
      [[{ address: TO }], "storageKeys must be a list"],
      [[null], "accessList[0] must be"],
      [[[TO, []]], "accessList[0] must be"],
      [{ address: TO, storageKeys: [] }, "accessList must be a list"],
    ];
    for (const [accessList, why] of bad) {
      for (const tx of [eip2930, txs.eip1559!]) {
        await refused(signTransactionWith(signer, ADDRESS, { ...tx, accessList } as EthTransaction), "invalid_argument", why);
      }
    }
    expect(signer).not.toHaveBeenCalled();
  });

  it("refuses conflicting fields", async () => {
    const signer = fakeSigner();
    const bad: [unknown, string][] = [
      [{ ...txs.eip1559, gasPrice: 1n }, "gasPrice is not a field of an EIP-1559"],
      // Fee cap fields make it EIP-1559 when no type is given; gasPrice then conflicts.
      [{ ...txs.eip1559, type: undefined, gasPrice: 1n }, "gasPrice is not a field of an EIP-1559"],
      [{ ...txs.legacy, type: undefined, maxPriorityFeePerGas: 1n }, "gasPrice is not a field of an EIP-1559"],
      [{ ...txs.eip2930, maxFeePerGas: 1n }, "maxFeePerGas is not a field of an EIP-2930"],
      [{ ...txs.eip2930, maxPriorityFeePerGas: 1n }, "maxPriorityFeePerGas is not a field of an EIP-2930"],
      [{ ...txs.legacy, maxFeePerGas: 1n }, "maxFeePerGas is not a field of a legacy"],
      [{ ...txs.legacy, maxPriorityFeePerGas: 1n }, "maxPriorityFeePerGas is not a field of a legacy"],
      [{ ...txs.legacy, accessList: [] }, "accessList is not a field of a legacy"],
      [{ ...txs.eip2930, data: "0x12", input: "0x34" }, "data and input differ"],
      [{ ...txs.eip1559, data: "0x", input: "0x34" }, "data and input differ"],
    ];
    for (const [tx, why] of bad) await refused(signTransactionWith(signer, ADDRESS, tx as EthTransaction), "invalid_argument", why);
    expect(signer).not.toHaveBeenCalled();
    // The same data given twice, or as input only, is that data.
    const twice = await signTransactionWith(fakeSigner(), ADDRESS, { ...txs.eip1559!, data: "0xa9059cbb", input: "0xa9059cbb" });
    const asInput = await signTransactionWith(fakeSigner(), ADDRESS, { ...txs.eip1559!, data: undefined, input: "0xa9059cbb" });
    expect(twice).toBe(asInput);
    expect(parseTransaction(twice).data).toBe("0xa9059cbb");
  });

  it("bounds chainId: 1..MAX_CHAIN_ID (2^53 - 1, below EIP-2294's bound), legacy 1..MAX_LEGACY_CHAIN_ID", async () => {
    expect(MAX_CHAIN_ID).toBe(2 ** 53 - 1);
    expect(EIP2294_MAX_CHAIN_ID).toBe(9_223_372_036_854_775_771n); // floor(MAX_UINT64 / 2) - 36
    expect(BigInt(MAX_CHAIN_ID)).toBeLessThan(EIP2294_MAX_CHAIN_ID);
    // The largest legacy chain id whose v, chainId·2 + 35 + yParity, is a safe integer for either parity.
    expect(MAX_LEGACY_CHAIN_ID * 2 + 36).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    expect((MAX_LEGACY_CHAIN_ID + 1) * 2 + 36).toBeGreaterThan(Number.MAX_SAFE_INTEGER);

    // At the bounds: signed, as a number or a bigint, and parsed back.
    for (const chainId of [1, 1n, MAX_CHAIN_ID, BigInt(MAX_CHAIN_ID)]) {
      for (const tx of [txs.eip1559!, txs.eip2930!]) {
        const signed = await signTransactionWith(fakeSigner(), ADDRESS, { ...tx, chainId });
        expect(parseTransaction(signed).chainId).toBe(Number(chainId));
        expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
      }
    }
    // A legacy transaction at its bound, with both recovery ids (the nonce varies the signature).
    const parities = new Set<number>();
    for (let nonce = 0; nonce < 32 && parities.size < 2; nonce++) {
      const signed = await signTransactionWith(fakeSigner(), ADDRESS, { ...txs.legacy!, nonce, chainId: BigInt(MAX_LEGACY_CHAIN_ID) });
      const parsed = parseTransaction(signed);
      expect(parsed.chainId).toBe(MAX_LEGACY_CHAIN_ID);
      const yParity = Number(parsed.v! - BigInt(MAX_LEGACY_CHAIN_ID) * 2n - 35n);
      expect([0, 1]).toContain(yParity);
      parities.add(yParity);
      expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
    }
    expect(parities.size).toBe(2);

    // Past them, or not a positive integer: refused before signing.
    const signer = fakeSigner();
    const bad: [unknown, unknown, string][] = [
      [txs.eip1559, 0, "chainId 0 is not a positive integer"],
      [txs.eip1559, 0n, "chainId 0 is not a positive integer"],
      [txs.eip1559, -1, "chainId -1 is not a positive integer"],
      [txs.eip1559, -1n, "chainId -1 is not a positive integer"],
      [txs.eip1559, 1.5, "chainId 1.5"],
      [txs.eip1559, Number.NaN, "chainId NaN"],
      [txs.eip1559, Number.POSITIVE_INFINITY, "chainId Infinity"],
      [txs.eip1559, "1", "chainId 1 is not a positive integer"],
      [txs.eip1559, 2 ** 53, "not a safe integer"],
      [txs.eip1559, BigInt(MAX_CHAIN_ID) + 1n, `above ${MAX_CHAIN_ID}`],
      [txs.eip2930, EIP2294_MAX_CHAIN_ID, `above ${MAX_CHAIN_ID}`],
      [txs.eip1559, EIP2294_MAX_CHAIN_ID + 1n, "above EIP-2294's bound 9223372036854775771"],
      [txs.legacy, 2n ** 64n, "above EIP-2294's bound"],
      [txs.legacy, MAX_LEGACY_CHAIN_ID + 1, `above ${MAX_LEGACY_CHAIN_ID}, the largest of a legacy transaction`],
      [txs.legacy, BigInt(MAX_CHAIN_ID), "the largest of a legacy transaction"],
      [{ ...txs.legacy, type: undefined }, MAX_LEGACY_CHAIN_ID + 1, "the largest of a legacy transaction"],
    ];
    for (const [tx, chainId, why] of bad) {
      await refused(signTransactionWith(signer, ADDRESS, { ...(tx as EthTransaction), chainId } as EthTransaction), "invalid_argument", why);
    }
    // A chain's own serializer gets the same bounds, less the legacy one (viem computes v in bigints).
    expect(() => checkTransaction({ ...txs.eip1559, chainId: EIP2294_MAX_CHAIN_ID + 1n }, ADDRESS)).toThrow(/EIP-2294/);
    expect(() => checkTransaction({ ...txs.eip1559, chainId: BigInt(MAX_CHAIN_ID) + 1n }, ADDRESS)).toThrow(/above/);
    expect(() => checkTransaction({ ...txs.eip1559, chainId: 0n }, ADDRESS)).toThrow(/positive integer/);
    checkTransaction({ ...txs.eip1559, chainId: MAX_CHAIN_ID }, ADDRESS);
    expect(signer).not.toHaveBeenCalled();
  });
});

// A wallet whose key is the master of a seed: child private keys from
// @scure/bip32 stand in for the threshold signers of each path.
const master = HDKey.fromMasterSeed(Uint8Array.from({ length: 32 }, (_, i) => 255 - i));
const wallet: StoredWallet & { chainCode: string } = {
  walletId: "00000000-0000-4000-8000-0000000000aa",
  partyId: "browser-1",
  name: "",
  publicKey: bytesToHex(master.publicKey!),
  address: deriveAddress(bytesToHex(master.publicKey!), bytesToHex(master.chainCode!), "m").address,
  threshold: 2,
  parties: ["browser-1", "server-1", "server-2"],
  createdAt: 0,
  chainCode: bytesToHex(master.chainCode!),
};

/** What the engine does: sign with the wallet key's child at opts.path. */
function engineSign(calls: (SignOptions)[], ignorePath = false) {
  return async (opts: SignOptions): Promise<SignatureHex> => {
    calls.push(opts);
    const child = master.derive(ignorePath ? "m" : (opts.path ?? "m"));
    const { r, s, v } = rawSign(child.privateKey!, opts.message);
    return { r, s, v, signature: r + s, der: "" };
  };
}

/** A TssClient without workers or network: the real methods, a stub storage and sign. */
function stubClient(w: StoredWallet, sign: TssClient["sign"]): TssClient {
  const client = Object.create(TssClient.prototype) as TssClient;
  Object.assign(client, { closed: false, storage: { info: async (id: string) => (id === w.walletId ? w : Promise.reject(new TsskitError("share_not_found", id))) }, sign });
  return client;
}

describe("TssClient's Ethereum methods", () => {
  it("derive addresses from the stored wallet and sign for the path", async () => {
    const calls: (SignOptions)[] = [];
    const client = stubClient(wallet, engineSign(calls));
    const child = privateKeyToAccount(`0x${bytesToHex(master.derive("m/0/7").privateKey!)}`);
    expect(await client.getAddress({ walletId: wallet.walletId })).toEqual({ path: "m", publicKey: wallet.publicKey, address: wallet.address });
    expect((await client.getAddress({ walletId: wallet.walletId, path: "0/7" })).address).toBe(child.address.toLowerCase());
    expect(await client.getExtendedPublicKey({ walletId: wallet.walletId })).toBe(master.publicExtendedKey);

    const sig = await client.signMessage({ walletId: wallet.walletId, password: "pw", message: "hi", path: "m/0/7" });
    expect(await verifyMessage({ address: child.address, message: "hi", signature: sig })).toBe(true);
    expect(calls[0]).toMatchObject({ walletId: wallet.walletId, password: "pw", path: "m/0/7" });

    const td = await client.signTypedData({ walletId: wallet.walletId, password: "pw", typedData: mail });
    expect(await verifyTypedData({ ...(mail as Parameters<typeof verifyTypedData>[0]), address: wallet.address as ViemHex, signature: td })).toBe(true);
    expect(calls[1]!.path).toBeUndefined();

    const tx = await client.signTransaction({ walletId: wallet.walletId, password: "pw", transaction: txs.eip1559!, path: "M/0/7" });
    expect(await recoverTransactionAddress({ serializedTransaction: tx as never })).toBe(child.address);
    expect(calls[2]!.path).toBe("m/0/7");
  });

  it("use the legacy chain code for a wallet stored without one", async () => {
    const { chainCode: _, ...old } = wallet;
    const client = stubClient(old, engineSign([]));
    const xpub = await client.getExtendedPublicKey({ walletId: wallet.walletId });
    expect(xpub).not.toBe(master.publicExtendedKey);
    expect(HDKey.fromExtendedKey(xpub).publicKey).toEqual(master.publicKey);
  });

  it("refuse a bad path or input before any signing, and a signature for the wrong key after", async () => {
    const calls: (SignOptions)[] = [];
    const client = stubClient(wallet, engineSign(calls));
    const w = { walletId: wallet.walletId, password: "pw" };
    await refused(client.signMessage({ ...w, message: "hi", path: "m/44'/60'" }), "invalid_argument", "whole private key");
    await refused(client.getAddress({ walletId: wallet.walletId, path: "m/0h" }), "invalid_argument", "hardened");
    await refused(client.signTransaction({ ...w, transaction: { ...txs.eip1559!, chainId: undefined } as unknown as EthTransaction }), "invalid_argument", "chainId");
    await refused(client.signMessage({ ...w, message: "x".repeat(MAX_MESSAGE_BYTES + 1) }), "invalid_argument", "longer than");
    await refused(client.signTypedData({ ...w, typedData: { ...mail, primaryType: "Nope" } }), "invalid_argument", "primaryType");
    await refused(client.getAddress({ walletId: "missing" }), "share_not_found", "missing");
    expect(calls).toHaveLength(0);
    // An engine that ignored the path signs with the wallet key itself.
    const deaf = stubClient(wallet, engineSign([], true));
    await refused(deaf.signMessage({ ...w, message: "hi", path: "m/1" }), "verify", "not the expected address");
  });
});

describe("toViemAccount", () => {
  const rpc = (sent: string[]) =>
    custom({
      async request({ method, params }: { method: string; params?: unknown }) {
        switch (method) {
          case "eth_chainId": return "0x1";
          case "eth_getTransactionCount": return "0x5";
          case "eth_estimateGas": return "0x5208";
          case "eth_maxPriorityFeePerGas": return "0x3b9aca00";
          case "eth_gasPrice": return "0x77359400";
          case "eth_getBlockByNumber": return { number: "0x10", hash: `0x${"ab".repeat(32)}`, baseFeePerGas: "0x3b9aca00", timestamp: "0x0", transactions: [] };
          case "eth_sendRawTransaction": sent.push((params as string[])[0]!); return `0x${"cd".repeat(32)}`;
          // Not a node that fills transactions: viem falls back to the calls above.
          default: throw Object.assign(new Error(`method ${method} not found`), { code: -32601 });
        }
      },
    });

  it("is a viem account that signs messages and transactions for its path", async () => {
    const calls: (SignOptions)[] = [];
    const client = stubClient(wallet, engineSign(calls));
    const account = await toViemAccount({ client, walletId: wallet.walletId, password: async () => "pw", path: "m/3" });
    const child = privateKeyToAccount(`0x${bytesToHex(master.derive("m/3").privateKey!)}`);
    expect(account.address).toBe(child.address); // checksummed
    expect(account.publicKey).toBe(child.publicKey);
    const wc = createWalletClient({ account, chain: mainnet, transport: rpc([]) });

    const sig = await wc.signMessage({ message: "gm" });
    expect(await verifyMessage({ address: child.address, message: "gm", signature: sig })).toBe(true);

    const signed = await wc.signTransaction({ to: TO, value: 1n, nonce: 0, gas: 21000n, maxFeePerGas: 2n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n });
    expect(await recoverTransactionAddress({ serializedTransaction: signed })).toBe(child.address);
    expect(parseTransaction(signed)).toMatchObject({ type: "eip1559", chainId: 1, to, value: 1n, gas: 21000n });

    const td = await wc.signTypedData(mail as Parameters<typeof wc.signTypedData>[0]);
    expect(await verifyTypedData({ ...(mail as Parameters<typeof verifyTypedData>[0]), address: child.address, signature: td })).toBe(true);
    expect(calls.every((c) => c.path === "m/3" && c.password === "pw")).toBe(true);
  });

  it("sends an EIP-1559 transaction through createWalletClient", async () => {
    const sent: string[] = [];
    const client = stubClient(wallet, engineSign([]));
    const account = await toViemAccount({ client, walletId: wallet.walletId, password: "pw" });
    const wc = createWalletClient({ account, chain: mainnet, transport: rpc(sent) });
    await wc.sendTransaction({ to: TO, value: 10n ** 15n });
    expect(sent).toHaveLength(1);
    const raw = sent[0] as ViemHex;
    expect(await recoverTransactionAddress({ serializedTransaction: raw as never })).toBe(account.address);
    expect(parseTransaction(raw)).toMatchObject({ type: "eip1559", chainId: 1, nonce: 5, to, value: 10n ** 15n, gas: 21000n });
  });

  it("honours a chain's transaction serializer", async () => {
    const serializer = vi.fn((tx: TransactionSerializable, sig?: Parameters<typeof serializeTransaction>[1]) => serializeTransaction(tx, sig));
    const chain = defineChain({ ...mainnet, serializers: { transaction: serializer as never } });
    const client = stubClient(wallet, engineSign([]));
    const account = await toViemAccount({ client, walletId: wallet.walletId, password: "pw" });
    const wc = createWalletClient({ account, chain, transport: rpc([]) });
    const signed = await wc.signTransaction({ to: TO, value: 1n, nonce: 0, gas: 21000n, gasPrice: 10n ** 9n, type: "legacy" });
    expect(serializer).toHaveBeenCalledTimes(2);
    expect(serializer.mock.calls[0]![1]).toBeUndefined();
    expect(serializer.mock.calls[1]![1]).toMatchObject({ yParity: expect.any(Number) });
    expect(await recoverTransactionAddress({ serializedTransaction: signed })).toBe(account.address);
    expect(parseTransaction(signed)).toMatchObject({ type: "legacy", chainId: 1, gasPrice: 10n ** 9n });
    // The same limits apply with a serializer.
    await refused(account.signTransaction({ to: TO, type: "eip1559", maxFeePerGas: 1n } as never, { serializer: serializer as never }), "invalid_argument", "chainId");
    expect(serializer).toHaveBeenCalledTimes(2);
  });
});
