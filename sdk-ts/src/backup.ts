/**
 * The password backup of a key share record, with Web Crypto.
 *
 * The format is the one of the Go package party/share (backup.go), which
 * specifies it; the CLI reads what the browser writes and the other way
 * round. A backup is one JSON object with exactly these keys, in this
 * order, indented by two spaces and followed by a newline:
 *
 *     {
 *       "format": "tsskit.share.backup",
 *       "version": 1,
 *       "wallet_id": "<uuid>",          // the record's wallet_id
 *       "party_id": "browser-<uuid>",   // the record's party_id
 *       "kdf": "pbkdf2-sha256",
 *       "iterations": 600000,           // MIN_ITERATIONS..MAX_ITERATIONS
 *       "salt": "<base64>",             // 16 random bytes
 *       "cipher": "aes-256-gcm",
 *       "nonce": "<base64>",            // 12 random bytes
 *       "ciphertext": "<base64>"        // AES-GCM ciphertext, then its 16-byte tag
 *     }
 *
 * The key is PBKDF2-HMAC-SHA256(UTF-8 password, salt, iterations), 32 bytes;
 * the plaintext is the share record exactly as given (the bytes of Go's
 * share.Encode); the additional authenticated data is the UTF-8 of
 * `${wallet_id}|${party_id}|1`, so a header edited to name another wallet
 * or party does not decrypt. Base64 is the standard alphabet with padding
 * and only its canonical spelling is accepted.
 *
 * Nothing here logs, and no error message holds a password, a key or any
 * part of a decrypted record other than its public ids.
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** The tag every backup carries in its "format" key. */
export const BACKUP_FORMAT = "tsskit.share.backup";
/** The backup format version this SDK writes and reads. */
export const BACKUP_VERSION = 1;
/** The least PBKDF2 iteration count written or accepted (OWASP 2023). */
export const MIN_ITERATIONS = 600_000;
/** The largest iteration count accepted, so a file cannot make us compute for minutes. */
export const MAX_ITERATIONS = 10_000_000;
/** The tag every share record carries in its "format" key. */
export const RECORD_FORMAT = "tsskit.share";
/** The newest share record version this SDK reads (it reads 1, 2 and 3). */
export const RECORD_VERSION = 3;
/** The largest share record, in bytes (Go's share.MaxRecordSize). */
export const MAX_RECORD_SIZE = 1 << 20;
/** The largest backup, in bytes (Go's share.MaxBackupSize); longer input is refused before parsing. */
export const MAX_BACKUP_SIZE = 2 * MAX_RECORD_SIZE;

const KDF = "pbkdf2-sha256";
const CIPHER = "aes-256-gcm";
const SALT_SIZE = 16;
const NONCE_SIZE = 12;
const TAG_SIZE = 16;
const MAX_ID_LEN = 128; // bytes, Go's share.MaxWalletIDLen and roster.MaxIDLen
const MIN_PARTIES = 2;
const MAX_PARTIES = 16;
const MAX_EPOCH = 2 ** 31 - 1;

/**
 * The backup does not decrypt: the password is wrong, or the salt,
 * iterations, nonce, ciphertext, wallet_id or party_id were changed.
 * AES-GCM cannot tell these apart.
 */
export class WrongPasswordError extends Error {
  override readonly name = "WrongPasswordError";
  constructor(message = "wrong password or corrupted data") {
    super(message);
  }
}

/** A stored record is damaged or unreadable by this SDK. */
export class CorruptRecordError extends Error {
  override readonly name = "CorruptRecordError";
  readonly walletId?: string;
  constructor(message: string, walletId?: string, options?: { cause?: unknown }) {
    super(message, options);
    if (walletId !== undefined) this.walletId = walletId;
  }
}

/**
 * Input that is not a backup (or a share record) this SDK reads: bad JSON,
 * a missing, unknown or duplicate key, a value of the wrong type or out of
 * range, another format or version, non-canonical base64, too large.
 */
export class BackupFormatError extends Error {
  override readonly name = "BackupFormatError";
}

/** An empty password was given; backups are never made or opened without one. */
export class EmptyPasswordError extends Error {
  override readonly name = "EmptyPasswordError";
  constructor() {
    super("empty password");
  }
}

/** The clear-text part of a backup, and its ciphertext (with the GCM tag). */
export interface BackupHeader {
  walletId: string;
  partyId: string;
  iterations: number;
  salt: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** One holder of a wallet as a version 2 share record names it. */
export interface HolderInfo {
  partyId: string;
  kind: "server" | "client" | "user";
  /** Its identity public key, 64 lowercase hex. */
  identityKey: string;
}

/** The public fields of a share record. */
export interface ShareRecordInfo {
  walletId: string;
  partyId: string;
  threshold: number;
  /** The keygen roster, in roster key order. */
  parties: string[];
  /** The wallet public key, 33-byte compressed SEC1, lowercase hex. */
  publicKey: string;
  /** "0x" and the last 20 bytes of Keccak-256 of the uncompressed point, lowercase (no EIP-55). */
  address: string;
  /** Key refreshes so far (0 for a record of version 1). */
  epoch: number;
  /** Every holder's kind and identity key; empty for a record of version 1, which named none. */
  holders: HolderInfo[];
  /** The wallet signs only with one of its client holders taking part. */
  clientRequired: boolean;
  /** This party's identity public key, "" if the record names none. */
  identityKey: string;
  /** The wallet's BIP32 chain code, 64 lowercase hex; "" for a record of version 1 or 2 (the legacy rule applies). */
  chainCode: string;
}

export interface ProtectOptions {
  /** PBKDF2 iteration count, MIN_ITERATIONS..MAX_ITERATIONS; default MIN_ITERATIONS. */
  iterations?: number;
  /** 16 bytes; default random. Only for test vectors. */
  salt?: Uint8Array;
  /** 12 bytes; default random. Only for test vectors: a nonce reused under one key breaks AES-GCM. */
  nonce?: Uint8Array;
}

/**
 * Encrypts a share record (the bytes of Go's share.Encode, as the wasm
 * engine returns them) under password and returns the backup text. The
 * record's public fields are checked as by inspectRecord; its wallet_id and
 * party_id go into the header. The password is used as given: do not trim
 * or normalise it, or the CLI will not open the backup.
 */
export async function protect(share: Uint8Array, password: string, opts: ProtectOptions = {}): Promise<string> {
  checkPassword(password);
  const iterations = opts.iterations ?? MIN_ITERATIONS;
  checkIterationsArg(iterations);
  const salt = opts.salt ? copy(opts.salt) : crypto.getRandomValues(new Uint8Array(SALT_SIZE));
  const nonce = opts.nonce ? copy(opts.nonce) : crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
  if (salt.length !== SALT_SIZE) throw new RangeError(`protect: salt of ${salt.length} bytes; want ${SALT_SIZE}`);
  if (nonce.length !== NONCE_SIZE) throw new RangeError(`protect: nonce of ${nonce.length} bytes; want ${NONCE_SIZE}`);
  const info = inspectRecord(share);
  const key = await deriveKey(password, salt, iterations);
  const plain = copy(share);
  let ct: Uint8Array;
  try {
    ct = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce, additionalData: aad(info.walletId, info.partyId), tagLength: TAG_SIZE * 8 },
        key,
        plain,
      ),
    );
  } finally {
    plain.fill(0);
  }
  const text = serializeBackup({
    walletId: info.walletId,
    partyId: info.partyId,
    iterations,
    salt,
    nonce,
    ciphertext: ct,
  });
  if (utf8Length(text) > MAX_BACKUP_SIZE) throw new BackupFormatError(`backup: more than ${MAX_BACKUP_SIZE} bytes`);
  return text;
}

/**
 * Decrypts a backup and returns the share record's bytes, exactly as they
 * were protected. The header is checked before the key is derived
 * (BackupFormatError); a backup that does not decrypt is WrongPasswordError;
 * a decrypted record that is not a share record of the wallet and party the
 * header names is BackupFormatError.
 */
export async function unprotect(text: string, password: string): Promise<Uint8Array> {
  return (await openBackup(text, password)).plaintext;
}

/**
 * Like unprotect, and also returns the record's public fields. For
 * share-storage; not part of the package's API.
 * @internal
 */
export async function openBackup(
  text: string,
  password: string,
): Promise<{ header: BackupHeader; plaintext: Uint8Array<ArrayBuffer>; info: ShareRecordInfo }> {
  checkPassword(password);
  const header = parseBackup(text);
  const key = await deriveKey(password, header.salt, header.iterations);
  let plaintext: Uint8Array<ArrayBuffer>;
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: copy(header.nonce),
          additionalData: aad(header.walletId, header.partyId),
          tagLength: TAG_SIZE * 8,
        },
        key,
        copy(header.ciphertext),
      ),
    );
  } catch {
    throw new WrongPasswordError();
  }
  let info: ShareRecordInfo;
  try {
    info = inspectRecord(plaintext);
  } catch (e) {
    plaintext.fill(0);
    throw new BackupFormatError(`backup: decrypts to an invalid share record (${(e as Error).message})`);
  }
  if (info.walletId !== header.walletId || info.partyId !== header.partyId) {
    plaintext.fill(0);
    throw new BackupFormatError(
      `backup: holds a record of wallet ${JSON.stringify(info.walletId)} party ${JSON.stringify(info.partyId)}, ` +
        `not of wallet ${JSON.stringify(header.walletId)} party ${JSON.stringify(header.partyId)} as its header says`,
    );
  }
  return { header, plaintext, info };
}

/**
 * Checks a backup as unprotect does before decrypting it and returns its
 * header, e.g. to list backups without their password. It does not tell
 * whether the backup will decrypt.
 */
export function parseBackup(text: string): BackupHeader {
  if (typeof text !== "string") throw new BackupFormatError("backup: want a string");
  // A UTF-16 code unit is at least one UTF-8 byte, so the first test spares
  // counting a huge input.
  if (text.length > MAX_BACKUP_SIZE || utf8Length(text) > MAX_BACKUP_SIZE) {
    throw new BackupFormatError(`backup: more than ${MAX_BACKUP_SIZE} bytes`);
  }
  const bad = (key: string, msg: string) => new BackupFormatError(`backup: ${key}: ${msg}`);
  const fields = readObject(text, "backup");
  const format = stringField(fields, "format", "backup");
  if (format !== BACKUP_FORMAT) throw bad("format", `want ${JSON.stringify(BACKUP_FORMAT)}`);
  const version = intField(fields, "version", "backup");
  if (version !== BACKUP_VERSION) {
    throw new BackupFormatError(`backup: unsupported version ${version} (this SDK reads version ${BACKUP_VERSION})`);
  }
  const keys = ["format", "version", "wallet_id", "party_id", "kdf", "iterations", "salt", "cipher", "nonce", "ciphertext"];
  for (const key of [...fields.keys()].sort()) {
    if (!keys.includes(key)) throw bad(JSON.stringify(key).slice(1, -1), "unknown key");
  }
  const walletId = stringField(fields, "wallet_id", "backup");
  const partyId = stringField(fields, "party_id", "backup");
  const kdf = stringField(fields, "kdf", "backup");
  const iterations = intField(fields, "iterations", "backup");
  const saltB64 = stringField(fields, "salt", "backup");
  const cipher = stringField(fields, "cipher", "backup");
  const nonceB64 = stringField(fields, "nonce", "backup");
  const ctB64 = stringField(fields, "ciphertext", "backup");

  checkId(walletId, "backup", "wallet_id");
  checkId(partyId, "backup", "party_id");
  if (kdf !== KDF) throw bad("kdf", `want ${JSON.stringify(KDF)}`);
  if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw bad("iterations", `${iterations}; want ${MIN_ITERATIONS}..${MAX_ITERATIONS}`);
  }
  const salt = fromBase64(saltB64, "salt");
  if (salt.length !== SALT_SIZE) throw bad("salt", `${salt.length} bytes; want ${SALT_SIZE}`);
  if (cipher !== CIPHER) throw bad("cipher", `want ${JSON.stringify(CIPHER)}`);
  const nonce = fromBase64(nonceB64, "nonce");
  if (nonce.length !== NONCE_SIZE) throw bad("nonce", `${nonce.length} bytes; want ${NONCE_SIZE}`);
  const ciphertext = fromBase64(ctB64, "ciphertext");
  if (ciphertext.length < TAG_SIZE) {
    throw bad("ciphertext", `${ciphertext.length} bytes; want at least the ${TAG_SIZE} of the GCM tag`);
  }
  return { walletId, partyId, iterations, salt, nonce, ciphertext };
}

/**
 * Writes a backup header as its text, byte for byte as Go's share.Protect
 * does. The header is not checked; parseBackup reads the result back.
 */
export function serializeBackup(h: BackupHeader): string {
  // Go writes with SetEscapeHTML(false) and JSON.stringify escapes the same
  // way for the printable ids a backup may hold.
  return (
    JSON.stringify(
      {
        format: BACKUP_FORMAT,
        version: BACKUP_VERSION,
        wallet_id: h.walletId,
        party_id: h.partyId,
        kdf: KDF,
        iterations: h.iterations,
        salt: toBase64(h.salt),
        cipher: CIPHER,
        nonce: toBase64(h.nonce),
        ciphertext: toBase64(h.ciphertext),
      },
      null,
      2,
    ) + "\n"
  );
}

/**
 * Reads the public fields of a share record (Go's share.Encode JSON) and
 * checks them: format, version 1, 2 or 3, exactly the keys of its version, wallet and
 * party ids, the roster (2..16 distinct ids in roster key order, holding
 * party_id), the threshold and the public key. save_data is neither
 * checked beyond being an object nor returned; the wasm engine and the Go
 * side validate it. Throws BackupFormatError.
 */
export function inspectRecord(share: Uint8Array): ShareRecordInfo {
  if (!(share instanceof Uint8Array)) throw new BackupFormatError("share record: want a Uint8Array");
  if (share.length > MAX_RECORD_SIZE) {
    throw new BackupFormatError(`share record: ${share.length} bytes; want at most ${MAX_RECORD_SIZE}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(share);
  } catch {
    throw new BackupFormatError("share record: not UTF-8");
  }
  const what = "share record";
  const bad = (key: string, msg: string) => new BackupFormatError(`${what}: ${key}: ${msg}`);
  const fields = readObject(text, what);
  const format = stringField(fields, "format", what);
  if (format !== RECORD_FORMAT) throw bad("format", `want ${JSON.stringify(RECORD_FORMAT)}`);
  const version = intField(fields, "version", what);
  if (version !== 1 && version !== 2 && version !== 3) {
    throw new BackupFormatError(`${what}: unsupported version ${version} (this SDK reads versions 1..${RECORD_VERSION})`);
  }
  const keys = ["format", "version", "wallet_id", "party_id", "threshold", "parties", "public_key", "save_data"];
  if (version >= 2) keys.push("epoch", "holders", "policy", "identity");
  if (version >= 3) keys.push("chain_code");
  for (const key of [...fields.keys()].sort()) {
    if (!keys.includes(key)) throw bad(JSON.stringify(key).slice(1, -1), "unknown key");
  }
  const walletId = stringField(fields, "wallet_id", what);
  const partyId = stringField(fields, "party_id", what);
  const threshold = intField(fields, "threshold", what);
  const parties = rawField(fields, "parties", what);
  const publicKey = stringField(fields, "public_key", what);
  const saveData = rawField(fields, "save_data", what);
  if (!saveData.startsWith("{")) throw bad("save_data", "want an object");

  if (!parties.startsWith("[")) throw bad("parties", "want an array of strings");
  const list: unknown = JSON.parse(parties);
  if (!Array.isArray(list) || !list.every((p) => typeof p === "string")) {
    throw bad("parties", "want an array of strings");
  }
  checkId(walletId, what, "wallet_id");
  checkId(partyId, what, "party_id");
  // Records of epoch e keep their parties in the order of their keys at e.
  const epoch = version >= 2 ? intField(fields, "epoch", what) : 0;
  if (epoch < 0 || epoch > MAX_EPOCH) throw bad("epoch", `${epoch}; want 0..${MAX_EPOCH}`);
  checkRoster(list as string[], what, epoch);
  if (!list.includes(partyId)) throw bad("party_id", `${JSON.stringify(partyId)} is not one of parties`);
  if (threshold < 2 || threshold > list.length) throw bad("threshold", `${threshold}; want 2..${list.length} (the number of parties)`);
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(publicKey)) throw bad("public_key", "want hex");
  if (publicKey.length !== 66) throw bad("public_key", `${publicKey.length / 2} bytes; want 33 (compressed SEC1)`);
  const pub = publicKey.toLowerCase();
  const address = addressOf(pub);
  if (address === undefined) throw bad("public_key", "want a compressed secp256k1 point");
  const info: ShareRecordInfo = {
    walletId, partyId, threshold, parties: list as string[], publicKey: pub, address,
    epoch: 0, holders: [], clientRequired: false, identityKey: "", chainCode: "",
  };
  if (version >= 3) {
    const cc = stringField(fields, "chain_code", what);
    if (!/^[0-9a-f]{64}$/.test(cc)) throw bad("chain_code", "want 32 bytes in lowercase hex");
    info.chainCode = cc;
  }
  if (version >= 2) {
    // The public fields only; "identity" (the private key) is never read here.
    info.epoch = epoch;
    const holders: unknown = JSON.parse(rawField(fields, "holders", what));
    if (!Array.isArray(holders) || (holders.length !== 0 && holders.length !== list.length)) {
      throw bad("holders", "want one entry per party, or none");
    }
    holders.forEach((h: unknown, i) => {
      const o = h as Record<string, unknown>;
      if (!o || typeof o !== "object" || o.party_id !== list[i] || !["server", "client", "user"].includes(o.kind as string) ||
        typeof o.identity_key !== "string" || !/^[0-9a-f]{64}$/.test(o.identity_key)) {
        throw bad(`holders[${i}]`, "want {party_id, kind, identity_key} of the party in the same place");
      }
      info.holders.push({ partyId: o.party_id as string, kind: o.kind as HolderInfo["kind"], identityKey: o.identity_key });
    });
    const policy: unknown = JSON.parse(rawField(fields, "policy", what));
    const cr = (policy as Record<string, unknown> | null)?.client_required;
    if (typeof cr !== "boolean") throw bad("policy", "want {client_required: boolean}");
    info.clientRequired = cr;
    info.identityKey = info.holders.find((h) => h.partyId === partyId)?.identityKey ?? "";
  }
  return info;
}

/**
 * The wallet address of a compressed secp256k1 public key in hex, or
 * undefined if it is not one.
 */
export function addressOf(publicKeyHex: string): string | undefined {
  if (!/^0[23][0-9a-f]{64}$/.test(publicKeyHex)) return undefined;
  let uncompressed: Uint8Array;
  try {
    uncompressed = secp256k1.Point.fromHex(publicKeyHex).toBytes(false);
  } catch {
    return undefined;
  }
  return "0x" + bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12));
}

/**
 * Derives the AES-256-GCM key of a backup: PBKDF2-HMAC-SHA256 of the
 * password's UTF-8 bytes, 32 bytes. The key cannot be exported. iterations
 * must be in MIN_ITERATIONS..MAX_ITERATIONS.
 */
export async function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  checkPassword(password);
  checkIterationsArg(iterations);
  const pw = new TextEncoder().encode(password);
  let base: CryptoKey;
  try {
    base = await crypto.subtle.importKey("raw", pw, "PBKDF2", false, ["deriveKey"]);
  } finally {
    pw.fill(0);
  }
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: copy(salt), iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

// ---------------------------------------------------------------------------

/**
 * Throws EmptyPasswordError for "", TypeError for what is not a string of
 * valid Unicode.
 * @internal
 */
export function checkPassword(password: string): void {
  if (typeof password !== "string") throw new TypeError("password: want a string");
  if (password === "") throw new EmptyPasswordError();
  // TextEncoder would turn a lone surrogate into U+FFFD silently, and the
  // backup would then open with another password than the one typed.
  if (/[\uD800-\uDFFF]/u.test(password)) throw new TypeError("password: not valid Unicode (a lone surrogate)");
}

function checkIterationsArg(n: number): void {
  if (!Number.isSafeInteger(n) || n < MIN_ITERATIONS || n > MAX_ITERATIONS) {
    throw new RangeError(`iterations: ${n}; want an integer in ${MIN_ITERATIONS}..${MAX_ITERATIONS}`);
  }
}

function aad(walletId: string, partyId: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${walletId}|${partyId}|${BACKUP_VERSION}`);
}

/** A copy backed by an ArrayBuffer, as Web Crypto's BufferSource wants. */
function copy(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

/** Go's unicode.IsPrint minus the space: letters, marks, numbers, punctuation, symbols. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u;

/** Checks a wallet or party id as Go's checkWalletID and roster.CheckID do. */
function checkId(id: string, what: string, key: string): void {
  const n = utf8Length(id);
  if (n < 1 || n > MAX_ID_LEN) throw new BackupFormatError(`${what}: ${key}: ${n} bytes; want 1..${MAX_ID_LEN}`);
  if (!PRINTABLE.test(id) || id.includes("\uFFFD")) {
    throw new BackupFormatError(`${what}: ${key}: want printable, non-space characters`);
  }
}

/**
 * A party's roster key at an epoch (Go's roster.KeyAt), as 32 big-endian
 * bytes: SHA-256(id) at epoch 0, SHA-256(id || 0x00 || epoch as 4
 * big-endian bytes) after.
 */
function rosterKey(id: string, epoch: number): Uint8Array {
  const b = new TextEncoder().encode(id);
  if (epoch === 0) return sha256(b);
  const m = new Uint8Array(b.length + 5);
  m.set(b);
  new DataView(m.buffer).setUint32(b.length + 1, epoch);
  return sha256(m);
}

function checkRoster(parties: string[], what: string, epoch: number): void {
  if (parties.length < MIN_PARTIES || parties.length > MAX_PARTIES) {
    throw new BackupFormatError(`${what}: parties: ${parties.length} parties; want ${MIN_PARTIES}..${MAX_PARTIES}`);
  }
  let prev: Uint8Array | undefined;
  const seen = new Set<string>();
  for (const id of parties) {
    checkId(id, what, "parties");
    if (seen.has(id)) throw new BackupFormatError(`${what}: parties: ${JSON.stringify(id)} appears twice`);
    seen.add(id);
    // The roster key of a party is a big-endian integer (rosterKey).
    const key = rosterKey(id, epoch);
    if (prev && compareBytes(prev, key) >= 0) {
      throw new BackupFormatError(`${what}: parties: not in roster key order`);
    }
    prev = key;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/** The number of UTF-8 bytes of s (a lone surrogate counts as U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

// --- strict JSON objects ----------------------------------------------------

/**
 * Splits text, which must be exactly one JSON object, into the raw text of
 * its values by key, refusing duplicate keys (which JSON.parse would let
 * the last one win). Parse errors are reported without the input: V8's
 * messages quote it, and a record holds secrets.
 */
function readObject(text: string, what: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupFormatError(`${what}: not valid JSON`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new BackupFormatError(`${what}: want a JSON object`);
  }
  // text is valid JSON holding one object, so the scan below need not
  // check the grammar.
  const fields = new Map<string, string>();
  let i = skipSpace(text, 0) + 1; // past '{'
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] === "}") break;
    const keyEnd = endOfString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd) + 1; // past ':'
    i = skipSpace(text, i);
    const valueEnd = endOfValue(text, i);
    if (fields.has(key)) throw new BackupFormatError(`${what}: ${JSON.stringify(key).slice(1, -1)}: duplicate key`);
    fields.set(key, text.slice(i, valueEnd));
    i = skipSpace(text, valueEnd);
    if (text[i] === ",") i++;
  }
  return fields;
}

function skipSpace(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
    i++;
  }
}

/** The index after the string literal starting at s[i] === '"'. */
function endOfString(s: string, i: number): number {
  for (i++; ; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
}

/** The index after the JSON value starting at s[i]. */
function endOfValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return endOfString(s, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    for (;;) {
      const d = s[i];
      if (d === '"') {
        i = endOfString(s, i);
        continue;
      }
      if (d === "{" || d === "[") depth++;
      else if (d === "}" || d === "]") {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
  }
  while (i < s.length && !",}] \t\n\r".includes(s[i]!)) i++;
  return i;
}

function rawField(fields: Map<string, string>, key: string, what: string): string {
  const raw = fields.get(key);
  if (raw === undefined) throw new BackupFormatError(`${what}: ${key}: missing`);
  if (raw === "null") throw new BackupFormatError(`${what}: ${key}: null; want a value`);
  return raw;
}

function stringField(fields: Map<string, string>, key: string, what: string): string {
  const raw = rawField(fields, key, what);
  if (!raw.startsWith('"')) throw new BackupFormatError(`${what}: ${key}: want a string`);
  return JSON.parse(raw) as string;
}

/** An integer written as Go's encoding/json reads one into an int: no fraction, no exponent. */
function intField(fields: Map<string, string>, key: string, what: string): number {
  const raw = rawField(fields, key, what);
  const n = Number(raw);
  if (!/^-?(?:0|[1-9][0-9]*)$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new BackupFormatError(`${what}: ${key}: want an integer`);
  }
  return n;
}

// --- base64 (RFC 4648 §4, padded) -------------------------------------------

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Standard base64 with padding, without line breaks (what btoa writes). */
function toBase64(b: Uint8Array): string {
  let out = "";
  for (let i = 0; i < b.length; i += 3) {
    const rem = b.length - i;
    const n = (b[i]! << 16) | ((rem > 1 ? b[i + 1]! : 0) << 8) | (rem > 2 ? b[i + 2]! : 0);
    out +=
      B64.charAt((n >> 18) & 63) +
      B64.charAt((n >> 12) & 63) +
      (rem > 1 ? B64.charAt((n >> 6) & 63) : "=") +
      (rem > 2 ? B64.charAt(n & 63) : "=");
  }
  return out;
}

/**
 * Decodes standard padded base64 in its canonical spelling only (no line
 * breaks, no missing padding, zero padding bits), as Go's backup reader
 * does, so that one value has one spelling.
 */
function fromBase64(s: string, key: string): Uint8Array<ArrayBuffer> {
  const bad = () => new BackupFormatError(`backup: ${key}: want padded standard base64 without line breaks`);
  if (s.length % 4 !== 0) throw bad();
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      let v: number;
      if (c === 0x3d && last && j >= 4 - pad) v = 0;
      else {
        v = c < 128 ? B64_INDEX[c]! : -1;
        if (v < 0) throw bad();
      }
      n = (n << 6) | v;
    }
    const bytes = last ? 3 - pad : 3;
    if (last && pad > 0 && (n & (pad === 2 ? 0xffff : 0xff)) !== 0) throw bad(); // nonzero padding bits
    out[o++] = (n >> 16) & 0xff;
    if (bytes > 1) out[o++] = (n >> 8) & 0xff;
    if (bytes > 2) out[o++] = n & 0xff;
  }
  return out;
}
