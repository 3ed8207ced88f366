// What the app signs: a 32-byte digest, either given as hex or computed from
// a text message. The UI always says which.
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";

import { fromHex } from "./hex";

export type DigestMode = "keccak256" | "sha256" | "raw";

export const digestModes: { mode: DigestMode; label: string; hint: string }[] = [
  { mode: "keccak256", label: "Text, hashed with Keccak-256", hint: "Ethereum-style Keccak-256 of the UTF-8 text, with no message prefix." },
  { mode: "sha256", label: "Text, hashed with SHA-256", hint: "SHA-256 of the UTF-8 text." },
  { mode: "raw", label: "32-byte digest (hex), signed as is", hint: "64 hex digits, optionally starting with 0x. Nothing is hashed." },
];

/** How the signed digest was made, in words. */
export function describeDigest(mode: DigestMode): string {
  switch (mode) {
    case "keccak256":
      return "the Keccak-256 hash of the text";
    case "sha256":
      return "the SHA-256 hash of the text";
    case "raw":
      return "the raw digest, as given";
  }
}

export type DigestResult = { ok: true; digest: Uint8Array } | { ok: false; problem: string };

export function computeDigest(mode: DigestMode, input: string): DigestResult {
  if (mode === "raw") {
    const h = input.trim().replace(/^0x/i, "");
    if (h === "") return { ok: false, problem: "Enter a digest: 64 hex digits." };
    if (!/^[0-9a-fA-F]*$/.test(h)) return { ok: false, problem: "A digest is written in hex digits only (0-9, a-f)." };
    if (h.length !== 64) return { ok: false, problem: `A digest is 64 hex digits (32 bytes); this is ${h.length}.` };
    return { ok: true, digest: fromHex(h) };
  }
  if (input === "") return { ok: false, problem: "Enter the message to sign." };
  const bytes = new TextEncoder().encode(input);
  return { ok: true, digest: mode === "keccak256" ? keccak_256(bytes) : sha256(bytes) };
}
