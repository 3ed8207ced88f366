// Package hd is BIP32 public (non-hardened) derivation on a threshold
// wallet's key: derivation paths, the wallet's chain code, the extended
// public key, and the key derivation delta every signer adds to its share.
//
// A threshold wallet has no private key anywhere, so only non-hardened
// children exist: a non-hardened child key is parent + IL·G where IL comes
// from the parent public key and the chain code (public data), so every
// holder derives it alone, and each adds the same IL to its share when it
// signs (tss-lib's key derivation delta). A hardened child needs the parent
// private key in the HMAC input, which no party has: hd refuses hardened
// path components.
package hd

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/crypto/ckd"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

const (
	// ChainCodeSize is the size of a BIP32 chain code.
	ChainCodeSize = 32
	// MaxDepth is the longest path BIP32 serializes (its depth is a byte).
	MaxDepth = 255
	// Hardened is the first hardened index (2^31).
	Hardened = ckd.HardenedKeyStart
)

// xpubVersion is BIP32's mainnet public version bytes ("xpub").
var xpubVersion = []byte{0x04, 0x88, 0xb2, 0x1e}

// Error is a bad path or key; its message names the problem.
type Error struct {
	Path string // the path as given, when a path is at fault
	Err  error
}

func (e *Error) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("derivation path %q: %v", e.Path, e.Err)
	}
	return "derivation: " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrHardened is wrapped by the error for a hardened path component.
var ErrHardened = errors.New("hardened derivation needs the whole private key, which no party of a threshold wallet holds; use non-hardened indices (no ' or h)")

// Path is a derivation path: child indices from the wallet key (m).
type Path []uint32

// ParsePath parses "m", "m/0/5" (or "0/5"): decimal indices below 2^31,
// without leading zeros, at most MaxDepth of them. A hardened component
// ("0'", "0h" or an index of 2^31 or more) is refused with ErrHardened.
func ParsePath(s string) (Path, error) {
	bad := func(err error) (Path, error) { return nil, &Error{Path: s, Err: err} }
	if len(s) > 16*MaxDepth {
		return bad(errors.New("too long"))
	}
	rest := s
	switch {
	case s == "m" || s == "M":
		return Path{}, nil
	case strings.HasPrefix(s, "m/") || strings.HasPrefix(s, "M/"):
		rest = s[2:]
	case s == "":
		return bad(errors.New("empty; want m or m/i/j/…"))
	}
	parts := strings.Split(rest, "/")
	if len(parts) > MaxDepth {
		return bad(fmt.Errorf("%d components; at most %d", len(parts), MaxDepth))
	}
	p := make(Path, 0, len(parts))
	for i, c := range parts {
		if c == "" {
			return bad(fmt.Errorf("component %d is empty", i+1))
		}
		if last := c[len(c)-1]; last == '\'' || last == 'h' || last == 'H' {
			return bad(fmt.Errorf("component %d (%s): %w", i+1, c, ErrHardened))
		}
		if len(c) > 1 && c[0] == '0' {
			return bad(fmt.Errorf("component %d (%s) has a leading zero", i+1, c))
		}
		for _, r := range c {
			if r < '0' || r > '9' {
				return bad(fmt.Errorf("component %d (%s) is not a decimal index", i+1, c))
			}
		}
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil || n >= 1<<32 {
			return bad(fmt.Errorf("component %d (%s) is out of range", i+1, c))
		}
		if n >= Hardened {
			return bad(fmt.Errorf("component %d (%s) is 2^31 or more: %w", i+1, c, ErrHardened))
		}
		p = append(p, uint32(n))
	}
	return p, nil
}

// Check refuses a path that ParsePath would not give: hardened or too deep.
func (p Path) Check() error {
	if len(p) > MaxDepth {
		return &Error{Path: p.String(), Err: fmt.Errorf("%d components; at most %d", len(p), MaxDepth)}
	}
	for i, n := range p {
		if n >= Hardened {
			return &Error{Path: p.String(), Err: fmt.Errorf("component %d: %w", i+1, ErrHardened)}
		}
	}
	return nil
}

// String is the path as "m/0/5" ("m" for the wallet key itself).
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("m")
	for _, n := range p {
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// Child is a derived key.
type Child struct {
	Path      Path
	PublicKey []byte   // 33-byte compressed SEC1
	ChainCode []byte   // the child's chain code
	Delta     *big.Int // sum of the IL values: child = wallet key + Delta·G; nil for the empty path
}

// Derive derives the child of the wallet key pub (33-byte compressed) with
// chain code cc along path, with tss-lib's BIP32 public derivation.
func Derive(pub, cc []byte, path Path) (*Child, error) {
	if err := path.Check(); err != nil {
		return nil, err
	}
	parent, err := extended(pub, cc)
	if err != nil {
		return nil, err
	}
	if len(path) == 0 {
		return &Child{Path: Path{}, PublicKey: append([]byte(nil), pub...), ChainCode: append([]byte(nil), cc...)}, nil
	}
	delta, child, err := ckd.DeriveChildKeyFromHierarchy(path, parent, tss.S256().Params().N, tss.S256())
	if err != nil {
		// An IL ≥ n or a point at infinity: BIP32 says skip to the next
		// index; the probability is below 2^-127.
		return nil, &Error{Path: path.String(), Err: fmt.Errorf("no valid child at this path (%v); use the next index", err)}
	}
	return &Child{Path: append(Path{}, path...), PublicKey: Compress(child.X, child.Y), ChainCode: append([]byte(nil), child.ChainCode...), Delta: delta}, nil
}

// ExtendedPublicKey is the BIP32 serialization ("xpub…", mainnet version,
// depth 0) of the wallet key pub with chain code cc.
func ExtendedPublicKey(pub, cc []byte) (string, error) {
	k, err := extended(pub, cc)
	if err != nil {
		return "", err
	}
	return k.String(), nil
}

func extended(pub, cc []byte) (*ckd.ExtendedKey, error) {
	if len(cc) != ChainCodeSize {
		return nil, &Error{Err: fmt.Errorf("chain code is %d bytes; want %d", len(cc), ChainCodeSize)}
	}
	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("wallet public key: %v", err)}
	}
	return &ckd.ExtendedKey{
		PublicKey:  ecdsa.PublicKey{Curve: tss.S256(), X: pk.X(), Y: pk.Y()},
		ChainCode:  append([]byte(nil), cc...),
		ParentFP:   []byte{0, 0, 0, 0},
		Version:    xpubVersion,
		Depth:      0,
		ChildIndex: 0,
	}, nil
}

// Compress is the 33-byte SEC1 compressed encoding of the point (x, y).
func Compress(x, y *big.Int) []byte {
	out := make([]byte, 33)
	out[0] = 0x02 | byte(y.Bit(0))
	x.FillBytes(out[1:])
	return out
}

const (
	keygenDomain = "tsskit/v1 bip32 chain code\x00"
	legacyDomain = "tsskit/v1 bip32 chain code, legacy\x00"
)

// KeygenChainCode is the chain code keygen records for a new wallet:
//
//	SHA-256("tsskit/v1 bip32 chain code\x00" || str(wallet_id) ||
//	        str(session_id) || public_key || u8(n) || X_1 || … || X_n)
//
// where str is a 2-byte big-endian length and the bytes, public_key and
// each X_j (every holder's public share x_j·G, in roster order) are
// 33-byte compressed points. The X_j are evaluations of the sum of every
// party's secret polynomial; tss-lib's keygen has each party commit to its
// polynomial (round 1) before any is opened (round 2), so no single party
// chooses them, and the chain code, after seeing the others'. Every holder
// computes the same value from its own keygen output.
func KeygenChainCode(walletID, sessionID string, pub []byte, shares [][]byte) []byte {
	h := sha256.New()
	h.Write([]byte(keygenDomain))
	str16(h, walletID)
	str16(h, sessionID)
	h.Write(pub)
	h.Write([]byte{byte(len(shares))})
	for _, x := range shares {
		h.Write(x)
	}
	return h.Sum(nil)
}

// LegacyChainCode is the chain code of a wallet whose share records were
// written before records carried one (share record versions 1 and 2):
//
//	SHA-256("tsskit/v1 bip32 chain code, legacy\x00" || str(wallet_id) || public_key)
//
// Every holder, and the coordinator, computes it from what it already
// has; it must never change, since funds may sit at its derived
// addresses. Unlike a keygen chain code, anyone who learns the wallet id
// and public key can compute it and so link the wallet's derived
// addresses to it (see docs/protocol.md).
func LegacyChainCode(walletID string, pub []byte) []byte {
	h := sha256.New()
	h.Write([]byte(legacyDomain))
	str16(h, walletID)
	h.Write(pub)
	return h.Sum(nil)
}

func str16(h interface{ Write([]byte) (int, error) }, s string) {
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(s)))
	h.Write(l[:])
	h.Write([]byte(s))
}
