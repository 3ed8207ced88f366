import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { HDKey } from "@scure/bip32";
import { privateKeyToAccount, publicKeyToAddress } from "viem/accounts";
import { describe, expect, it } from "vitest";

import { TsskitError } from "../../src/errors.js";
import {
  deriveAddress, extendedPublicKey, formatPath, legacyChainCode, normalizePath, parsePath, walletChainCode,
} from "../../src/hd.js";

/** The public key of private key 1: the generator G, compressed. */
const G = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

function refused(f: () => unknown, code: string, text: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TsskitError);
    expect((e as TsskitError).code).toBe(code);
    expect((e as TsskitError).message).toContain(text);
    return;
  }
  throw new Error(`not refused (want ${code}: ${text})`);
}

describe("legacyChainCode", () => {
  it("matches the vector shared with the Go engine", () => {
    // SHA-256("tsskit/v1 bip32 chain code, legacy\0" || u16be(36) || wallet id || G).
    // party/hd checks the same value.
    const got = bytesToHex(legacyChainCode("00000000-0000-4000-8000-000000000001", G));
    expect(got).toBe("a2c2c0aeab525d2e8f403a6228d8704847b76ac3b71c509b1308eaabe2dd88e8");
  });

  it("depends on the wallet id and the key", () => {
    const a = bytesToHex(legacyChainCode("w1", G));
    expect(bytesToHex(legacyChainCode("w2", G))).not.toBe(a);
    expect(bytesToHex(legacyChainCode("w1", "03" + G.slice(2)))).not.toBe(a);
  });

  it("refuses a key that is not a compressed point, and an empty id", () => {
    refused(() => legacyChainCode("w", G.slice(0, 64)), "invalid_argument", "public key");
    refused(() => legacyChainCode("w", "04" + G.slice(2)), "invalid_argument", "public key");
    refused(() => legacyChainCode("", G), "invalid_argument", "wallet id");
  });

  it("is the chain code of a stored wallet without its own", () => {
    const legacy = bytesToHex(legacyChainCode("w", G));
    expect(walletChainCode({ walletId: "w", publicKey: G })).toBe(legacy);
    expect(walletChainCode({ walletId: "w", publicKey: G, chainCode: "AB".repeat(32) })).toBe("ab".repeat(32));
  });
});

// BIP-0032 test vector 2, its non-hardened steps: the published extended
// public keys of a parent and of its child at the index given.
const vector2 = [
  { // m → m/0
    parent: "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
    index: 0,
    child: "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
  },
  { // m/0/2147483647H → m/0/2147483647H/1
    parent: "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
    index: 1,
    child: "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
  },
  { // m/0/2147483647H/1/2147483646H → …/2
    parent: "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
    index: 2,
    child: "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
  },
];

describe("BIP32 public derivation", () => {
  it("derives BIP-0032 test vector 2's non-hardened children from their parents' public keys", () => {
    for (const v of vector2) {
      const parent = HDKey.fromExtendedKey(v.parent);
      const want = HDKey.fromExtendedKey(v.child);
      const got = deriveAddress(bytesToHex(parent.publicKey!), bytesToHex(parent.chainCode!), `m/${v.index}`);
      expect(got.path).toBe(`m/${v.index}`);
      expect(got.publicKey).toBe(bytesToHex(want.publicKey!));
      expect(got.address).toBe(addressOfKey(want.publicKey!));
    }
  });

  it("serializes vector 2's master as its published xpub", () => {
    const m = HDKey.fromExtendedKey(vector2[0]!.parent);
    expect(extendedPublicKey(bytesToHex(m.publicKey!), bytesToHex(m.chainCode!))).toBe(vector2[0]!.parent);
  });

  it("gives the addresses of the private keys derived from a seed", () => {
    const master = HDKey.fromMasterSeed(Uint8Array.from({ length: 32 }, (_, i) => i + 1));
    const pub = bytesToHex(master.publicKey!);
    const cc = bytesToHex(master.chainCode!);
    for (const path of ["m", "m/0", "m/0/5", "m/44/60/0/0/7", "m/2147483647"]) {
      const child = master.derive(path);
      const want = privateKeyToAccount(`0x${bytesToHex(child.privateKey!)}`);
      const got = deriveAddress(pub, cc, path);
      expect(got.address).toBe(want.address.toLowerCase());
      expect(got.publicKey).toBe(bytesToHex(child.publicKey!));
    }
    expect(deriveAddress(pub, cc, "M/0/5").path).toBe("m/0/5");
    expect(deriveAddress(pub, cc, "m").publicKey).toBe(pub);
  });

  it("refuses a bad chain code or key", () => {
    refused(() => deriveAddress(G, "00".repeat(31), "m/0"), "invalid_argument", "chain code");
    refused(() => extendedPublicKey(G, "zz".repeat(32)), "invalid_argument", "chain code");
    refused(() => deriveAddress("02" + "00".repeat(32), "00".repeat(32), "m/0"), "invalid_argument", "public key");
  });
});

describe("parsePath", () => {
  it("reads non-hardened paths", () => {
    const good: Record<string, number[]> = {
      m: [], M: [], "m/0": [0], "m/0/5": [0, 5], "0/5": [0, 5], "M/1": [1],
      "m/2147483647": [2147483647], "m/44/60/0/0/7": [44, 60, 0, 0, 7],
    };
    for (const [path, want] of Object.entries(good)) expect(parsePath(path), path).toEqual(want);
    expect(parsePath("m/" + Array(255).fill("1").join("/"))).toHaveLength(255);
  });

  it("refuses hardened components, saying why", () => {
    for (const path of ["m/0'", "m/0h", "m/44H/0", "m/1/2/3'", "m/2147483648", "m/4294967295"]) {
      refused(() => parsePath(path), "invalid_argument", "hardened derivation needs the whole private key");
    }
    refused(() => parsePath("m/1/2/3'"), "invalid_argument", "component 3 (3')");
  });

  it("refuses malformed paths, naming the problem", () => {
    const bad: Record<string, string> = {
      "": "empty",
      "m/": "component 1 is empty",
      "m//1": "component 1 is empty",
      "m/1/": "component 2 is empty",
      "m/4294967296": "component 1 (4294967296) is out of range",
      "m/99999999999999999999": "out of range",
      "m/01": "component 1 (01) has a leading zero",
      "m/-1": "not a decimal index",
      "m/1a": "component 1 (1a) is not a decimal index",
      "x/1": "not a decimal index",
      "m/ 1": "not a decimal index",
      "m/1.5": "not a decimal index",
      ["m/" + Array(256).fill("1").join("/")]: "at most 255",
      ["m/" + "1".repeat(5000)]: "too long",
    };
    for (const [path, why] of Object.entries(bad)) refused(() => parsePath(path), "invalid_argument", why);
    refused(() => parsePath(5 as unknown as string), "invalid_argument", "want a string");
  });
});

describe("formatPath", () => {
  it("writes paths parsePath reads back", () => {
    expect(formatPath([])).toBe("m");
    expect(formatPath([0, 5])).toBe("m/0/5");
    expect(parsePath(formatPath([44, 60, 0, 0, 7]))).toEqual([44, 60, 0, 0, 7]);
    expect(normalizePath(undefined)).toBe("m");
    expect(normalizePath("0/5")).toBe("m/0/5");
  });

  it("refuses what parsePath would", () => {
    refused(() => formatPath([2 ** 31]), "invalid_argument", "hardened");
    refused(() => formatPath([-1]), "invalid_argument", "component 1");
    refused(() => formatPath([1.5]), "invalid_argument", "component 1");
    refused(() => formatPath(Array(256).fill(0)), "invalid_argument", "at most 255");
  });
});

/** The Ethereum address of a compressed public key, computed by viem. */
function addressOfKey(pub: Uint8Array): string {
  return publicKeyToAddress(`0x${secp256k1.Point.fromBytes(pub).toHex(false)}`).toLowerCase();
}
