/**
 * Lost-device recovery (docs/lifecycle.md): the types a recovery request
 * and its approval have in the SDK, its errors, and the encrypted form in
 * which a new device keeps its identity key while the app backend's
 * approval is awaited.
 *
 * The sealed device key is a small JSON text, like a share backup:
 *
 *     { "format": "tsskit.recovery.device", "version": 1,
 *       "wallet_id", "party_id", "epoch", "identity" (64 hex),
 *       "kdf": "pbkdf2-sha256", "iterations", "salt" (16 bytes, base64),
 *       "cipher": "aes-256-gcm", "nonce" (12 bytes, base64),
 *       "ciphertext" (the 32-byte Ed25519 seed and the tag, base64) }
 *
 * The key is PBKDF2-HMAC-SHA256(password, salt, iterations) as for shares
 * (backup.ts deriveKey); the additional data is
 * "tsskit.recovery.device|wallet_id|party_id|epoch|identity|1", so a
 * sealed key moved to another request does not open. Only the worker
 * seals and opens it (the seed never reaches the page); the wasm checks
 * that an opened seed is the key of `identity`.
 */
// Only backup.ts: the worker bundles this module, and the RPC errors' code
// (errors.ts) has no business there.
import { CorruptRecordError, MAX_ITERATIONS, MIN_ITERATIONS, WrongPasswordError, checkPassword, deriveKey } from "./backup.js";

export const DEVICE_FORMAT = "tsskit.recovery.device";
export const DEVICE_VERSION = 1;
const SEED_SIZE = 32;
const SALT_SIZE = 16;
const NONCE_SIZE = 12;
const MAX_SEALED_SIZE = 4096;

/**
 * What a new device asks the app backend to approve (TssClient.requestRecovery):
 * the app's backend checks the user by its own means and signs an
 * approval of exactly these fields (`tsskit recovery approve --wallet
 * --epoch --party-id --identity`, or recovery.Sign in Go).
 */
export interface RecoveryRequest {
  walletId: string;
  /** The wallet's epoch when the request was made: the approval must name it. */
  epoch: number;
  /** The new device's party id. */
  partyId: string;
  /** The new device's identity public key, 64 hex. */
  identity: string;
  /** The wallet's recovery policy as the coordinator records it (the server holders decide from their own records). */
  recovery: { kit: boolean; backend: boolean };
  /** When the request was made, in milliseconds since 1970. */
  createdAt: number;
}

/** A sealed device key's clear-text fields. */
export interface SealedDeviceInfo {
  walletId: string;
  partyId: string;
  epoch: number;
  identity: string;
}

const enc = new TextEncoder();

function aad(i: SealedDeviceInfo): Uint8Array<ArrayBuffer> {
  return enc.encode(`${DEVICE_FORMAT}|${i.walletId}|${i.partyId}|${i.epoch}|${i.identity}|${DEVICE_VERSION}`);
}

/** Encrypts a device seed under password; the caller zeroes the seed. */
export async function sealDevice(seed: Uint8Array, password: string, info: SealedDeviceInfo, iterations = MIN_ITERATIONS): Promise<string> {
  checkPassword(password);
  if (seed.length !== SEED_SIZE) throw new RangeError(`device seed of ${seed.length} bytes; want ${SEED_SIZE}`);
  checkInfo(info);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_SIZE));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
  const key = await deriveKey(password, salt, iterations);
  const plain = new Uint8Array(seed);
  let ct: Uint8Array;
  try {
    ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad(info), tagLength: 128 }, key, plain));
  } finally {
    plain.fill(0);
  }
  return JSON.stringify({
    format: DEVICE_FORMAT, version: DEVICE_VERSION, wallet_id: info.walletId, party_id: info.partyId, epoch: info.epoch, identity: info.identity,
    kdf: "pbkdf2-sha256", iterations, salt: b64(salt), cipher: "aes-256-gcm", nonce: b64(nonce), ciphertext: b64(ct),
  });
}

/** The clear-text fields of a sealed device key, checked; CorruptRecordError otherwise. */
export function parseSealedDevice(text: string): SealedDeviceInfo & { iterations: number; salt: Uint8Array; nonce: Uint8Array; ciphertext: Uint8Array } {
  const bad = (what: string) => new CorruptRecordError(`the stored recovery device key is damaged: ${what}`);
  if (typeof text !== "string" || text.length > MAX_SEALED_SIZE) throw bad("not a string of at most 4096 characters");
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    throw bad("not JSON");
  }
  if (!o || typeof o !== "object" || Array.isArray(o)) throw bad("not an object");
  if (o.format !== DEVICE_FORMAT || o.version !== DEVICE_VERSION || o.kdf !== "pbkdf2-sha256" || o.cipher !== "aes-256-gcm") throw bad("unknown format");
  const info = { walletId: o.wallet_id, partyId: o.party_id, epoch: o.epoch, identity: o.identity } as SealedDeviceInfo;
  try {
    checkInfo(info);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const it = o.iterations;
  if (typeof it !== "number" || !Number.isSafeInteger(it) || it < MIN_ITERATIONS || it > MAX_ITERATIONS) throw bad("iterations");
  const salt = unb64(o.salt), nonce = unb64(o.nonce), ciphertext = unb64(o.ciphertext);
  if (salt?.length !== SALT_SIZE || nonce?.length !== NONCE_SIZE || ciphertext?.length !== SEED_SIZE + 16) throw bad("salt, nonce or ciphertext");
  return { ...info, iterations: it, salt, nonce, ciphertext };
}

/** Decrypts a sealed device key: its seed (the caller zeroes it) and clear-text fields. WrongPasswordError when it does not open. */
export async function openSealedDevice(text: string, password: string): Promise<{ seed: Uint8Array; info: SealedDeviceInfo }> {
  checkPassword(password);
  const s = parseSealedDevice(text);
  const key = await deriveKey(password, s.salt, s.iterations);
  let seed: Uint8Array;
  try {
    seed = new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(s.nonce), additionalData: aad(s), tagLength: 128 }, key, new Uint8Array(s.ciphertext)),
    );
  } catch {
    throw new WrongPasswordError();
  }
  return { seed, info: { walletId: s.walletId, partyId: s.partyId, epoch: s.epoch, identity: s.identity } };
}

function checkInfo(i: SealedDeviceInfo): void {
  if (typeof i.walletId !== "string" || i.walletId === "" || i.walletId.length > 128 || i.walletId.includes("|")) throw new TypeError("walletId");
  if (typeof i.partyId !== "string" || i.partyId === "" || i.partyId.length > 128 || i.partyId.includes("|")) throw new TypeError("partyId");
  if (!Number.isSafeInteger(i.epoch) || i.epoch < 0 || i.epoch > 2 ** 31 - 1) throw new TypeError("epoch");
  if (typeof i.identity !== "string" || !/^[0-9a-f]{64}$/.test(i.identity)) throw new TypeError("identity: want 64 lowercase hex");
}

function b64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

function unb64(v: unknown): Uint8Array | undefined {
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  try {
    const s = atob(v);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}
