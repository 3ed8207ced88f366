import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { afterEach, describe, expect, test, vi } from "vitest";

import {
  BACKUP_FORMAT,
  BackupFormatError,
  EmptyPasswordError,
  MAX_BACKUP_SIZE,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  WrongPasswordError,
  deriveKey,
  inspectRecord,
  parseBackup,
  protect,
  unprotect,
} from "../../src/backup.js";

// This workspace has no @types/node: Node's modules are loaded untyped and
// given the few types used here.
interface NodeCipher {
  setAAD(aad: Uint8Array): void;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
interface NodeCrypto {
  pbkdf2(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    keylen: number,
    digest: "sha256",
    done: (err: Error | null, key: Uint8Array) => void,
  ): void;
  createCipheriv(algorithm: "aes-256-gcm", key: Uint8Array, iv: Uint8Array): NodeCipher;
  createHash(algorithm: "sha256"): { update(data: Uint8Array): { digest(): Uint8Array } };
}
const nodeCrypto = (await import(/* @vite-ignore */ "node:crypto" as string)) as NodeCrypto;
const { readFileSync } = (await import(/* @vite-ignore */ "node:fs" as string)) as {
  readFileSync(path: URL, encoding?: "utf8"): Uint8Array & string;
};

/** Node's PBKDF2-HMAC-SHA256 (OpenSSL), off the main thread. */
function pbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    nodeCrypto.pbkdf2(utf8(password), salt, iterations, 32, "sha256", (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Node's AES-256-GCM: the ciphertext, then the 16-byte tag. */
function gcmSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, aad?: Uint8Array): Uint8Array {
  const c = nodeCrypto.createCipheriv("aes-256-gcm", key, nonce);
  if (aad) c.setAAD(aad);
  return concat(c.update(plain), c.final(), c.getAuthTag());
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const hex = (b: Uint8Array) => bytesToHex(b);
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

// The Go package's cross-implementation vectors (party/share/testdata).
const testdata = new URL("../../../party/share/testdata/", import.meta.url);
const GOLDEN_RECORD = new Uint8Array(readFileSync(new URL("v1.json", testdata)));
const GOLDEN_BACKUP = readFileSync(new URL("backup_v1.json", testdata), "utf8");
const GOLDEN_PASSWORD = "correct horse battery staple";
const GOLDEN_WALLET = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const GOLDEN_ADDRESS = "0xe9592e530063bcffa8d989733f9e99de5c66d010"; // party/share/golden_test.go

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A share record as Go's share.Encode writes it, with a made-up save_data. */
function record(o: { walletId?: string; partyId?: string; parties?: string[]; threshold?: number } = {}): Uint8Array {
  // Roster key order: by SHA-256 of the id.
  const parties = [...(o.parties ?? ["server-1", "server-2", "browser-1"])].sort((a, b) =>
    hex(sha256(utf8(a))) < hex(sha256(utf8(b))) ? -1 : 1,
  );
  const pub = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
  const secret = BigInt("0x" + hex(random(64))).toString();
  return utf8(
    JSON.stringify({
      format: "tsskit.share",
      version: 1,
      wallet_id: o.walletId ?? crypto.randomUUID(),
      party_id: o.partyId ?? parties[0],
      threshold: o.threshold ?? 2,
      parties,
    }).slice(0, -1) + `,"public_key":"${pub}","save_data":{"Xi":${secret},"ShareID":${secret}1}}`,
  );
}

/** A backup made with Node's crypto alone, as the Go package writes it. */
async function nodeBackup(
  plain: Uint8Array,
  password: string,
  h: { walletId: string; partyId: string; iterations: number; salt: Uint8Array; nonce: Uint8Array },
): Promise<string> {
  const key = await pbkdf2(password, h.salt, h.iterations);
  const ct = gcmSeal(key, h.nonce, plain, utf8(`${h.walletId}|${h.partyId}|1`));
  return (
    JSON.stringify(
      {
        format: "tsskit.share.backup",
        version: 1,
        wallet_id: h.walletId,
        party_id: h.partyId,
        kdf: "pbkdf2-sha256",
        iterations: h.iterations,
        salt: b64(h.salt),
        cipher: "aes-256-gcm",
        nonce: b64(h.nonce),
        ciphertext: b64(ct),
      },
      null,
      2,
    ) + "\n"
  );
}

/** The golden backup with one key's value replaced (raw JSON text) or removed. */
function edit(key: string, raw: string | undefined): string {
  const o = JSON.parse(GOLDEN_BACKUP) as Record<string, unknown>;
  const entries = Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)] as const);
  return (
    "{\n" +
    entries
      .filter(([k]) => k !== key || raw !== undefined)
      .map(([k, v]) => `  ${JSON.stringify(k)}: ${k === key ? raw : v}`)
      .join(",\n") +
    "\n}\n"
  );
}

/** Counts key derivations, to show a check comes before one. */
function spyDerivations() {
  return [vi.spyOn(crypto.subtle, "importKey"), vi.spyOn(crypto.subtle, "deriveKey")] as const;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("Go golden vector", () => {
  test("decrypts to the exact bytes of v1.json", async () => {
    const plain = await unprotect(GOLDEN_BACKUP, GOLDEN_PASSWORD);
    expect(hex(plain)).toBe(hex(GOLDEN_RECORD));
  });

  test("protect with the golden salt and nonce writes backup_v1.json byte for byte", async () => {
    const h = parseBackup(GOLDEN_BACKUP);
    const text = await protect(GOLDEN_RECORD, GOLDEN_PASSWORD, { salt: h.salt, nonce: h.nonce, iterations: 600_000 });
    expect(text).toBe(GOLDEN_BACKUP);
  });

  test("parseBackup reads the header without the password", () => {
    const h = parseBackup(GOLDEN_BACKUP);
    expect(h.walletId).toBe(GOLDEN_WALLET);
    expect(h.partyId).toBe("server-2");
    expect(h.iterations).toBe(600_000);
    expect(b64(h.salt)).toBe("l0ULXoOGsf4L60tRKJragg==");
    expect(b64(h.nonce)).toBe("X/RXPij4R6nN4emZ");
    // The vector's salt and nonce: SHA-256("tsskit.share.backup test vector" || 00 00 00 00).
    const seed = nodeCrypto.createHash("sha256").update(concat(utf8("tsskit.share.backup test vector"), new Uint8Array(4))).digest();
    expect(hex(h.salt)).toBe(hex(seed.subarray(0, 16)));
    expect(hex(h.nonce)).toBe(hex(seed.subarray(16, 28)));
    expect(h.ciphertext.length).toBe(GOLDEN_RECORD.length + 16);
  });

  test("inspectRecord returns the public fields and the Go address", () => {
    const info = inspectRecord(GOLDEN_RECORD);
    expect(info).toEqual({
      walletId: GOLDEN_WALLET,
      partyId: "server-2",
      threshold: 2,
      parties: ["server-2", "browser-0b8e5f3a-7c21-4d9e-a6f0-3e2d1c4b5a69", "server-1"],
      publicKey: "0310d55b4891a67b48f597ad1d0f0f0ef5205c1fce2e7d0f480009df0114b6f89b",
      address: GOLDEN_ADDRESS,
      epoch: 0,
      holders: [],
      clientRequired: false,
      identityKey: "",
      chainCode: "",
    });
    expect(JSON.stringify(info)).not.toMatch(/save_data|Paillier|Xi/);
  });

  test("inspectRecord reads a version 3 record's chain code", () => {
    const v3 = new Uint8Array(readFileSync(new URL("v3.json", testdata)));
    const info = inspectRecord(v3);
    expect(info.walletId).toBe(GOLDEN_WALLET);
    expect(info.chainCode).toBe("c3".repeat(32));
    expect(info.clientRequired).toBe(true);
    const text = new TextDecoder().decode(v3);
    expect(() => inspectRecord(new TextEncoder().encode(text.replace('"chain_code":"c3', '"chain_code":"')))).toThrow(/chain_code: want 32 bytes/);
    const v2 = new TextDecoder().decode(readFileSync(new URL("v2.json", testdata)));
    expect(() => inspectRecord(new TextEncoder().encode(v2.replace('"version":2', '"version":3')))).toThrow(/chain_code: missing/);
  });

  test("inspectRecord reads a version 2 record's holders and policy, not its identity key", () => {
    const v2 = new Uint8Array(readFileSync(new URL("v2.json", testdata)));
    const info = inspectRecord(v2);
    expect(info.walletId).toBe(GOLDEN_WALLET);
    expect(info.address).toBe(GOLDEN_ADDRESS);
    expect(info.clientRequired).toBe(true);
    expect(info.holders.map((h) => [h.partyId, h.kind])).toEqual([
      ["server-2", "server"],
      ["browser-0b8e5f3a-7c21-4d9e-a6f0-3e2d1c4b5a69", "client"],
      ["server-1", "server"],
    ]);
    expect(info.identityKey).toBe(info.holders[0]!.identityKey);
    expect(info.identityKey).toMatch(/^[0-9a-f]{64}$/);
  });

  test("a wrong password and each changed field fail to decrypt", async () => {
    const h = parseBackup(GOLDEN_BACKUP);
    const flip = (b: Uint8Array, i: number) => {
      const c = new Uint8Array(b);
      c[i]! ^= 1;
      return JSON.stringify(b64(c));
    };
    const cases: Array<[string, string]> = [
      ["wrong password", GOLDEN_BACKUP],
      ["salt", edit("salt", flip(h.salt, 0))],
      ["iterations", edit("iterations", "600001")],
      ["nonce", edit("nonce", flip(h.nonce, 11))],
      ["ciphertext", edit("ciphertext", flip(h.ciphertext, 100))],
      ["tag", edit("ciphertext", flip(h.ciphertext, h.ciphertext.length - 1))],
      ["wallet_id", edit("wallet_id", JSON.stringify("7f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"))],
      ["party_id", edit("party_id", JSON.stringify("server-1"))],
    ];
    const results = await Promise.allSettled(
      cases.map(([what, text]) => unprotect(text, what === "wrong password" ? "Correct horse battery staple" : GOLDEN_PASSWORD)),
    );
    results.forEach((r, i) => {
      expect(r.status, cases[i]![0]).toBe("rejected");
      const e = (r as PromiseRejectedResult).reason as Error;
      expect(e, cases[i]![0]).toBeInstanceOf(WrongPasswordError);
      expect(e.name).toBe("WrongPasswordError");
      expect(e.message).toBe("wrong password or corrupted data");
    });
  });
});

describe("against Node's crypto", () => {
  const cases = [
    { password: "hunter2", iterations: 600_000 },
    { password: "pässwörd 🔑 ключ 密码", iterations: 600_001 },
    { password: "x".repeat(300), iterations: 700_000 },
  ];

  test.each(cases)("PBKDF2 + AES-GCM, password $password.length chars, $iterations iterations", async ({ password, iterations }) => {
    const salt = random(16);
    const nonce = random(12);
    const plain = record({ partyId: "browser-1" });
    const { walletId } = inspectRecord(plain);
    const header = { walletId, partyId: "browser-1", iterations, salt, nonce };
    const [ours, theirs] = await Promise.all([protect(plain, password, { iterations, salt, nonce }), nodeBackup(plain, password, header)]);
    expect(ours).toBe(theirs);
    // And what Node wrote opens here (a second derivation, in case protect
    // and unprotect shared a mistake).
    const back = await unprotect(theirs, password);
    expect(hex(back)).toBe(hex(plain));
  });

  test("deriveKey is PBKDF2-HMAC-SHA256 of the UTF-8 password, and not extractable", async () => {
    const password = "ünïcödé";
    const salt = random(16);
    const [key, raw] = await Promise.all([deriveKey(password, salt, MIN_ITERATIONS), pbkdf2(password, salt, MIN_ITERATIONS)]);
    expect(key.extractable).toBe(false);
    expect(key.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
    expect([...key.usages].sort()).toEqual(["decrypt", "encrypt"]);
    await expect(crypto.subtle.exportKey("raw", key)).rejects.toThrow();
    const iv = random(12);
    const msg = random(50);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, msg));
    expect(hex(ct)).toBe(hex(gcmSeal(raw, iv, msg)));
  });
});

describe("protect and unprotect", () => {
  test("round trip with random salt and nonce; a wrong password fails", async () => {
    const plain = record();
    const [a, b] = await Promise.all([protect(plain, "pw one"), protect(plain, "pw one")]);
    const ha = parseBackup(a);
    const hb = parseBackup(b);
    expect(b64(ha.salt)).not.toBe(b64(hb.salt));
    expect(b64(ha.nonce)).not.toBe(b64(hb.nonce));
    expect(ha.iterations).toBe(MIN_ITERATIONS);
    expect(ha.partyId).toBe(inspectRecord(plain).partyId);
    expect(a.endsWith("}\n")).toBe(true);
    expect(Object.keys(JSON.parse(a))).toEqual([
      "format", "version", "wallet_id", "party_id", "kdf", "iterations", "salt", "cipher", "nonce", "ciphertext",
    ]);
    const [ok, wrong] = await Promise.allSettled([unprotect(a, "pw one"), unprotect(b, "pw one ")]);
    expect(ok.status).toBe("fulfilled");
    expect(hex((ok as PromiseFulfilledResult<Uint8Array>).value)).toBe(hex(plain));
    expect((wrong as PromiseRejectedResult).reason).toBeInstanceOf(WrongPasswordError);
  });

  test("iterations outside MIN_ITERATIONS..MAX_ITERATIONS are refused before deriving", async () => {
    const [importKey, derive] = spyDerivations();
    for (const iterations of [0, 1000, MIN_ITERATIONS - 1, MAX_ITERATIONS + 1, 600_000.5, Number.NaN]) {
      await expect(protect(GOLDEN_RECORD, "pw", { iterations })).rejects.toThrow(RangeError);
      await expect(deriveKey("pw", new Uint8Array(16), iterations)).rejects.toThrow(RangeError);
    }
    for (const raw of ["599999", "10000001", "0", "-600000"]) {
      await expect(unprotect(edit("iterations", raw), GOLDEN_PASSWORD)).rejects.toThrow(/iterations: .*want 600000\.\.10000000/);
    }
    expect(importKey).not.toHaveBeenCalled();
    expect(derive).not.toHaveBeenCalled();
  });

  test("an empty password is refused", async () => {
    const [importKey] = spyDerivations();
    await expect(protect(GOLDEN_RECORD, "")).rejects.toThrow(EmptyPasswordError);
    await expect(unprotect(GOLDEN_BACKUP, "")).rejects.toThrow(EmptyPasswordError);
    await expect(deriveKey("", new Uint8Array(16), MIN_ITERATIONS)).rejects.toThrow(EmptyPasswordError);
    await expect(protect(GOLDEN_RECORD, "\uD800")).rejects.toThrow(/lone surrogate/);
    expect(importKey).not.toHaveBeenCalled();
  });

  test("protect refuses a bad salt or nonce length and a bad record", async () => {
    await expect(protect(GOLDEN_RECORD, "pw", { salt: new Uint8Array(15) })).rejects.toThrow(RangeError);
    await expect(protect(GOLDEN_RECORD, "pw", { nonce: new Uint8Array(16) })).rejects.toThrow(RangeError);
    await expect(protect(utf8("{}"), "pw")).rejects.toThrow(BackupFormatError);
  });

  test("a backup whose record is of another wallet than its header is refused", async () => {
    const [, derive] = spyDerivations();
    const plain = record({ partyId: "server-1" });
    const text = await nodeBackup(plain, "pw", {
      walletId: "another-wallet",
      partyId: "server-1",
      iterations: MIN_ITERATIONS,
      salt: new Uint8Array(16),
      nonce: new Uint8Array(12),
    });
    await expect(unprotect(text, "pw")).rejects.toThrow(/holds a record of wallet .* not of wallet "another-wallet"/);
    expect(derive).toHaveBeenCalledTimes(1); // the spies do see derivations
  });
});

describe("malformed backups are refused before deriving", () => {
  const golden = JSON.parse(GOLDEN_BACKUP) as Record<string, unknown>;
  const cases: Array<[string, string, RegExp]> = [
    ["not JSON", "{", /not valid JSON/],
    ["empty", "", /not valid JSON/],
    ["an array", "[]", /want a JSON object/],
    ["null", "null", /want a JSON object/],
    ["data after the object", GOLDEN_BACKUP + "{}", /not valid JSON/],
    ["a BOM", "\uFEFF" + GOLDEN_BACKUP, /not valid JSON/],
    ["duplicate key", GOLDEN_BACKUP.replace('"kdf"', '"salt": "AAAAAAAAAAAAAAAAAAAAAA==",\n  "kdf"'), /salt: duplicate key/],
    ["unknown key", GOLDEN_BACKUP.replace('"kdf"', '"comment": "hi",\n  "kdf"'), /comment: unknown key/],
    ["key of another case", GOLDEN_BACKUP.replace('"kdf"', '"KDF"'), /KDF: unknown key/],
    ["null value", edit("nonce", "null"), /nonce: null/],
    ["another format", edit("format", '"tsskit.share"'), /format: want "tsskit.share.backup"/],
    ["version 2", edit("version", "2"), /unsupported version 2/],
    ["version as a string", edit("version", '"1"'), /version: want an integer/],
    ["version 1.0", edit("version", "1.0"), /version: want an integer/],
    ["iterations 6e5", edit("iterations", "6e5"), /iterations: want an integer/],
    ["iterations as a string", edit("iterations", '"600000"'), /iterations: want an integer/],
    ["another kdf", edit("kdf", '"argon2id"'), /kdf: want "pbkdf2-sha256"/],
    ["another cipher", edit("cipher", '"aes-128-gcm"'), /cipher: want "aes-256-gcm"/],
    ["a short salt", edit("salt", JSON.stringify(b64(new Uint8Array(15)))), /salt: 15 bytes; want 16/],
    ["a long nonce", edit("nonce", JSON.stringify(b64(new Uint8Array(16)))), /nonce: 16 bytes; want 12/],
    ["salt without padding", edit("salt", '"l0ULXoOGsf4L60tRKJragg"'), /salt: want padded standard base64/],
    ["salt with nonzero padding bits", edit("salt", '"l0ULXoOGsf4L60tRKJragh=="'), /salt: want padded standard base64/],
    ["nonce in the URL alphabet", edit("nonce", '"X_RXPij4R6nN4emZ"'), /nonce: want padded standard base64/],
    ["ciphertext with a line break", edit("ciphertext", JSON.stringify(`${String(golden.ciphertext).slice(0, 76)}\n${String(golden.ciphertext).slice(76)}`)), /ciphertext: want padded standard base64/],
    ["a ciphertext shorter than the tag", edit("ciphertext", JSON.stringify(b64(new Uint8Array(15)))), /ciphertext: 15 bytes; want at least/],
    ["missing ciphertext", edit("ciphertext", undefined), /ciphertext: missing/],
    ["missing salt", edit("salt", undefined), /salt: missing/],
    ["missing format", edit("format", undefined), /format: missing/],
    ["an empty wallet_id", edit("wallet_id", '""'), /wallet_id: 0 bytes/],
    ["a wallet_id with a space", edit("wallet_id", '"my wallet"'), /wallet_id: want printable, non-space/],
    ["a wallet_id of 129 bytes", edit("wallet_id", JSON.stringify("w".repeat(129))), /wallet_id: 129 bytes/],
    ["a party_id with a control character", edit("party_id", '"server\\u00002"'), /party_id: want printable/],
    ["a party_id with a lone surrogate", edit("party_id", '"server\\ud800"'), /party_id: want printable/],
  ];

  test.each(cases)("%s", async (_what, text, message) => {
    const [importKey, derive] = spyDerivations();
    expect(() => parseBackup(text)).toThrow(message);
    const err = await unprotect(text, GOLDEN_PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupFormatError);
    expect((err as Error).name).toBe("BackupFormatError");
    expect((err as Error).message).toMatch(message);
    expect(importKey).not.toHaveBeenCalled();
    expect(derive).not.toHaveBeenCalled();
  });

  test("more than 2 MiB is refused before parsing", async () => {
    const parse = vi.spyOn(JSON, "parse");
    const big = GOLDEN_BACKUP.replace('"kdf"', `"pad": "${"A".repeat(MAX_BACKUP_SIZE)}",\n  "kdf"`);
    await expect(unprotect(big, GOLDEN_PASSWORD)).rejects.toThrow(/more than 2097152 bytes/);
    // Counted in UTF-8 bytes, not UTF-16 code units.
    const wide = GOLDEN_BACKUP.replace('"kdf"', `"pad": "${"é".repeat(MAX_BACKUP_SIZE / 2)}",\n  "kdf"`);
    expect(() => parseBackup(wide)).toThrow(/more than 2097152 bytes/);
    expect(parse).not.toHaveBeenCalled();
  });

  test("error messages do not quote the input", () => {
    const secret = "hunter2-9b1f";
    const err = (() => {
      try {
        parseBackup(`{"format": "${BACKUP_FORMAT}", "x": ${secret}}`);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toBe("backup: not valid JSON");
  });
});

describe("inspectRecord", () => {
  const golden = new TextDecoder().decode(GOLDEN_RECORD);
  const cases: Array<[string, string, RegExp]> = [
    ["another format", golden.replace('"tsskit.share"', '"tsskit.share.backup"'), /format: want "tsskit.share"/],
    ["version 4", golden.replace('"version":1', '"version":4'), /unsupported version 4/],
    ["version 2 without its keys", golden.replace('"version":1', '"version":2'), /epoch: missing/],
    ["an unknown key", golden.replace('"threshold"', '"extra":1,"threshold"'), /extra: unknown key/],
    ["a duplicate key", golden.replace('"threshold":2', '"threshold":2,"threshold":3'), /threshold: duplicate key/],
    ["missing save_data", golden.slice(0, golden.indexOf(',"save_data"')) + "}", /save_data: missing/],
    ["save_data not an object", golden.slice(0, golden.indexOf(',"save_data"')) + ',"save_data":[]}', /save_data: want an object/],
    ["threshold 1", golden.replace('"threshold":2', '"threshold":1'), /threshold: 1; want 2\.\.3/],
    ["threshold 4", golden.replace('"threshold":2', '"threshold":4'), /threshold: 4; want 2\.\.3/],
    ["parties out of order", golden.replace('["server-2","browser-0b8e5f3a-7c21-4d9e-a6f0-3e2d1c4b5a69","server-1"]', '["server-1","server-2","browser-0b8e5f3a-7c21-4d9e-a6f0-3e2d1c4b5a69"]'), /not in roster key order/],
    ["a party twice", golden.replace('"server-1"]', '"server-2"]'), /"server-2" appears twice/],
    ["party_id not a party", golden.replace('"party_id":"server-2"', '"party_id":"server-9"'), /"server-9" is not one of parties/],
    ["not a point", golden.replace('"public_key":"03', '"public_key":"05'), /public_key: want a compressed secp256k1 point/],
    ["public key too short", golden.replace(/"public_key":"[0-9a-f]+"/, '"public_key":"0310"'), /public_key: 2 bytes; want 33/],
    ["truncated", golden.slice(0, 5000), /not valid JSON/],
  ];
  test.each(cases)("refuses %s", (_what, text, message) => {
    const err = (() => {
      try {
        inspectRecord(utf8(text));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(BackupFormatError);
    expect(err?.message).toMatch(message);
    // No secret of save_data in any message.
    expect(err?.message).not.toMatch(/\d{12}/);
  });

  test("refuses bytes that are not UTF-8, and oversized records", () => {
    expect(() => inspectRecord(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(/not UTF-8/);
    expect(() => inspectRecord(new Uint8Array((1 << 20) + 1))).toThrow(/want at most 1048576/);
  });
});
