#!/usr/bin/env python3
"""Writes vectors.json: recovery-kit keys and signed authorizations, computed
outside tsskit's Go code, from the formats documented in party/recovery:

  kit key:  seed = HKDF-SHA256(ikm = the code's 16 entropy bytes,
                               salt = "tsskit/v1 recovery kit",
                               info = wallet id, L = 32)
            key  = Ed25519 (RFC 8032) key of seed
  authorization: Ed25519 over "tsskit/v1 recovery\\x00" || encoding, the
            encoding built here field by field from Authorization's doc.

HKDF is RFC 5869 in a few lines of hmac/hashlib (Python's standard
library), cross-checked with the `cryptography` package's HKDF; Ed25519 is
`cryptography`'s. The entropies are BIP39's published test vectors
(trezor/python-mnemonic vectors.json), so the codes are those vectors'
mnemonics.

Run: python3 vectors.py > vectors.json   (Python 3, cryptography >= 2.6)
"""
import hashlib
import hmac
import json
import struct
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()  # extract
    okm, t, i = b"", b"", 1
    while len(okm) < length:  # expand
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm, i = okm + t, i + 1
    return okm[:length]


# RFC 5869 test case 1 checks the few lines above.
assert hkdf_sha256(bytes([0x0b] * 22), bytes(range(13)), bytes(range(0xf0, 0xfa)), 42).hex() == (
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def kit_seed(entropy, wallet_id):
    seed = hkdf_sha256(entropy, b"tsskit/v1 recovery kit", wallet_id.encode(), 32)
    other = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tsskit/v1 recovery kit",
                 info=wallet_id.encode()).derive(entropy)
    assert seed == other
    return seed


def public(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def str16(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


KINDS = {"kit": 1, "backend": 2}


def encoding(kind, wallet_id, epoch, party_id, ident, expires_ms):
    return (bytes([1, KINDS[kind]]) + str16(wallet_id) + struct.pack(">I", epoch) + str16(party_id)
            + ident + struct.pack(">q", expires_ms))


def ms_rfc3339(ms):
    t = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


KIT = [
    # (BIP39 entropy, its mnemonic from vectors.json, wallet id)
    ("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank yellow",
     "8d5e3f0c-2b7a-4c1e-9a55-1f0e6c3b2d71"),
    ("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
     "legal winner thank year wave sausage worth useful legal winner thank yellow",
     "wallet-2"),
    ("9e885d952ad362caeb4efe34a8e91bd2",
     "ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic",
     "8d5e3f0c-2b7a-4c1e-9a55-1f0e6c3b2d71"),
]

out = {"kit": [], "authorization": []}
for ent, code, wallet in KIT:
    seed = kit_seed(bytes.fromhex(ent), wallet)
    out["kit"].append({"entropy": ent, "code": code, "wallet_id": wallet,
                       "seed": seed.hex(), "public_key": public(seed).hex()})

# The new device's identity key, and the backend's key: fixed seeds.
device = public(hashlib.sha256(b"tsskit test vector: device").digest())
backend_seed = hashlib.sha256(b"tsskit test vector: backend").digest()
AUTH = [
    # (kind, signer seed, wallet, epoch, party id, expires ms)
    ("kit", bytes.fromhex(out["kit"][0]["seed"]), KIT[0][2], 0, "browser-5b1c", 1788264000123),
    ("backend", backend_seed, KIT[0][2], 3, "cli-\u00e9t\u00e9-7", 1788264000000),
]
for kind, seed, wallet, epoch, party, exp in AUTH:
    m = encoding(kind, wallet, epoch, party, device, exp)
    priv = Ed25519PrivateKey.from_private_bytes(seed)
    sig = priv.sign(b"tsskit/v1 recovery\x00" + m)
    signer = public(seed)
    priv.public_key().verify(sig, b"tsskit/v1 recovery\x00" + m)
    f = {"format": "tsskit-recovery-authorization", "version": 1, "kind": kind, "wallet_id": wallet,
         "epoch": epoch, "party_id": party, "identity": device.hex(), "expires_at": ms_rfc3339(exp),
         "signer": signer.hex(), "signature": sig.hex()}
    out["authorization"].append({
        "signer_seed": seed.hex(), "kind": kind, "wallet_id": wallet, "epoch": epoch, "party_id": party,
        "identity": device.hex(), "expires_ms": exp, "encoding": m.hex(), "signature": sig.hex(),
        "wire": (m + signer + sig).hex(), "file": json.dumps(f, indent=2, ensure_ascii=False) + "\n"})

print(json.dumps(out, indent=2, ensure_ascii=False))
