package share

import (
	"github.com/rwadurian/tsskit/party/hd"

	"errors"
	"fmt"
	"math/big"
	"unicode"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
)

// MaxWalletIDLen bounds a wallet id in bytes.
const MaxWalletIDLen = 128

// curveN is the order of the secp256k1 group.
var curveN = secp256k1.S256().N

// Validate runs the consistency checks listed in the package comment and
// returns an *Error with CodeInconsistent naming the first field that fails.
func (r *Record) Validate() error {
	if r == nil {
		return inconsistent("", "no record")
	}
	if err := checkWalletID(r.WalletID); err != nil {
		return err
	}
	if err := roster.CheckID(r.PartyID); err != nil {
		return inconsistent("party_id", "%w", err)
	}
	if r.Epoch < 0 || r.Epoch > MaxEpoch {
		return inconsistent("epoch", "%d; want 0..%d", r.Epoch, MaxEpoch)
	}
	rs, err := roster.NewAt(r.Parties, r.Epoch)
	if err != nil {
		return inconsistent("parties", "%w", err)
	}
	if !roster.SortedAt(r.Parties, r.Epoch) {
		return inconsistent("parties", "not in roster key order")
	}
	own := rs.Index(r.PartyID)
	if own < 0 {
		return inconsistent("party_id", "%q is not one of parties", r.PartyID)
	}
	if r.Threshold < 2 || r.Threshold > rs.Len() {
		return inconsistent("threshold", "%d; want 2..%d (the number of parties)", r.Threshold, rs.Len())
	}
	if len(r.PublicKey) != secp256k1.PubKeyBytesLenCompressed {
		return inconsistent("public_key", "%d bytes; want %d (compressed SEC1)", len(r.PublicKey), secp256k1.PubKeyBytesLenCompressed)
	}
	pub, err := secp256k1.ParsePubKey(r.PublicKey)
	if err != nil {
		return inconsistent("public_key", "want a compressed secp256k1 point")
	}
	if err := r.checkHolders(); err != nil {
		return err
	}
	if len(r.ChainCode) != hd.ChainCodeSize {
		return inconsistent("chain_code", "%d bytes; want %d", len(r.ChainCode), hd.ChainCodeSize)
	}
	if r.SaveData == nil {
		return inconsistent("save_data", "missing")
	}
	return checkSaveData(r.SaveData, r.Parties, r.Epoch, own, r.Threshold, pub)
}

// MaxEpoch bounds the epoch.
const MaxEpoch = 1<<31 - 1

// checkHolders checks the version 2 fields: the epoch, one holder per
// party in roster order with a holder kind and a distinct identity key,
// a policy that the holders can meet, and the party's own identity key
// where its kind keeps one in the record.
func (r *Record) checkHolders() error {
	if r.Epoch < 0 || r.Epoch > MaxEpoch {
		return inconsistent("epoch", "%d; want 0..%d", r.Epoch, MaxEpoch)
	}
	if r.Legacy() {
		if r.Policy.ClientRequired {
			return inconsistent("policy.client_required", "a record without holders cannot require a client")
		}
		if !r.Policy.Recovery.IsZero() {
			return inconsistent("policy.recovery_kit", "a record without holders has no recovery policy")
		}
		if len(r.IdentitySeed) != 0 {
			return inconsistent("identity", "a record without holders has no identity key")
		}
		return nil
	}
	if len(r.Holders) != len(r.Parties) {
		return inconsistent("holders", "%d entries; want %d, one per party", len(r.Holders), len(r.Parties))
	}
	seen := make(map[identity.PublicKey]bool, len(r.Holders))
	clients := 0
	for i, h := range r.Holders {
		name := fmt.Sprintf("holders[%d]", i)
		if h.PartyID != r.Parties[i] {
			return inconsistent(name+".party_id", "want %q, the party in the same place of parties", r.Parties[i])
		}
		switch h.Kind {
		case identity.KindServer, identity.KindUser:
		case identity.KindClient:
			clients++
		default:
			return inconsistent(name+".kind", "want server, client or user")
		}
		if h.Identity.IsZero() || seen[h.Identity] {
			return inconsistent(name+".identity_key", "want a distinct identity key per holder")
		}
		seen[h.Identity] = true
	}
	if r.Policy.ClientRequired && clients == 0 {
		return inconsistent("policy.client_required", "the wallet has no client holder")
	}
	if !r.Policy.Recovery.IsZero() && !r.Policy.ClientRequired {
		// Recovery replaces a lost client: a wallet without one has none.
		return inconsistent("policy.recovery_kit", "only a wallet that requires a client has a recovery policy")
	}
	own := r.Own()
	if own.Kind == identity.KindServer {
		if len(r.IdentitySeed) != 0 {
			return inconsistent("identity", "a server party keeps its identity key in its vault, not in a record")
		}
		return nil
	}
	k, err := identity.KeyFromSeed(r.IdentitySeed)
	if err != nil {
		return inconsistent("identity", "a %s holder's record carries its %d-byte identity key", own.Kind, identity.KeySize)
	}
	defer k.Destroy()
	if !k.Public().Equal(own.Identity) {
		return inconsistent("identity", "does not match holders' identity key of party_id")
	}
	return nil
}

func checkWalletID(id string) error {
	if id == "" || len(id) > MaxWalletIDLen {
		return inconsistent("wallet_id", "%d bytes; want 1..%d", len(id), MaxWalletIDLen)
	}
	for _, c := range id {
		if c == unicode.ReplacementChar || !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return inconsistent("wallet_id", "want printable, non-space characters")
		}
	}
	return nil
}

// named is a value with the name Validate reports it under.
type named struct {
	name string
	v    *big.Int
}

func checkSaveData(sd *keygen.LocalPartySaveData, parties []string, epoch, own, threshold int, pub *secp256k1.PublicKey) error {
	n := len(parties)
	for _, l := range []struct {
		name string
		len  int
	}{
		{"Ks", len(sd.Ks)}, {"NTildej", len(sd.NTildej)}, {"H1j", len(sd.H1j)},
		{"H2j", len(sd.H2j)}, {"BigXj", len(sd.BigXj)}, {"PaillierPKs", len(sd.PaillierPKs)},
	} {
		if l.len != n {
			return inconsistent("save_data."+l.name, "%d entries; want %d, one per party", l.len, n)
		}
	}

	// tss-lib sorts the keygen parties by key, so Ks is in roster order.
	for j, id := range parties {
		if sd.Ks[j] == nil || sd.Ks[j].Cmp(roster.KeyAt(id, epoch)) != 0 {
			return inconsistent(fmt.Sprintf("save_data.Ks[%d]", j), "want the roster key of %q at epoch %d", id, epoch)
		}
	}
	if sd.ShareID == nil || sd.ShareID.Cmp(sd.Ks[own]) != 0 {
		return inconsistent("save_data.ShareID", "want the roster key of party_id")
	}
	for j := range parties {
		var pk *big.Int
		if sd.PaillierPKs[j] != nil {
			pk = sd.PaillierPKs[j].N
		}
		for _, v := range []named{{"NTildej", sd.NTildej[j]}, {"H1j", sd.H1j[j]}, {"H2j", sd.H2j[j]}, {"PaillierPKs", pk}} {
			if v.v == nil || v.v.Sign() <= 0 {
				return inconsistent(fmt.Sprintf("save_data.%s[%d]", v.name, j), "want a positive integer")
			}
		}
	}
	if err := checkPreParams(&sd.LocalPreParams); err != nil {
		return err
	}
	for _, v := range []struct {
		name      string
		got, want *big.Int
	}{
		{"PaillierPKs", sd.PaillierPKs[own].N, sd.PaillierSK.N},
		{"NTildej", sd.NTildej[own], sd.NTildei},
		{"H1j", sd.H1j[own], sd.H1i},
		{"H2j", sd.H2j[own], sd.H2i},
	} {
		if v.got.Cmp(v.want) != 0 {
			return inconsistent(fmt.Sprintf("save_data.%s[%d]", v.name, own), "want the party's own pre-parameter")
		}
	}

	bigX := make([]*secp256k1.PublicKey, n)
	for j, p := range sd.BigXj {
		var err error
		if bigX[j], err = pointKey(p); err != nil {
			return inconsistent(fmt.Sprintf("save_data.BigXj[%d]", j), "%w", err)
		}
	}
	y, err := pointKey(sd.ECDSAPub)
	if err != nil {
		return inconsistent("save_data.ECDSAPub", "%w", err)
	}
	if !y.IsEqual(pub) {
		return inconsistent("public_key", "does not match save_data.ECDSAPub")
	}
	if sd.Xi == nil || sd.Xi.Sign() <= 0 || sd.Xi.Cmp(curveN) >= 0 {
		return inconsistent("save_data.Xi", "want 0 < Xi < the secp256k1 group order")
	}
	if !baseMult(sd.Xi).IsEqual(bigX[own]) {
		return inconsistent("save_data.Xi", "Xi·G does not match save_data.BigXj[%d]", own)
	}
	if !sharesOf(y, threshold, sd.Ks, bigX) {
		return inconsistent("save_data.BigXj", "not the threshold-%d shares of save_data.ECDSAPub", threshold)
	}
	return nil
}

// checkPreParams checks the party's Paillier key and range-proof
// parameters: all present (what tss-lib's ValidateWithProof checks, and
// the Paillier key's own fields) and related as tss-lib generates them.
func checkPreParams(pp *keygen.LocalPreParams) error {
	sk := pp.PaillierSK
	if sk == nil {
		return inconsistent("save_data.PaillierSK", "missing")
	}
	for _, v := range []named{
		{"PaillierSK.N", sk.N}, {"PaillierSK.LambdaN", sk.LambdaN}, {"PaillierSK.PhiN", sk.PhiN},
		{"PaillierSK.P", sk.P}, {"PaillierSK.Q", sk.Q},
		{"NTildei", pp.NTildei}, {"H1i", pp.H1i}, {"H2i", pp.H2i},
		{"Alpha", pp.Alpha}, {"Beta", pp.Beta}, {"P", pp.P}, {"Q", pp.Q},
	} {
		if v.v == nil || v.v.Sign() <= 0 {
			return inconsistent("save_data."+v.name, "want a positive integer")
		}
	}
	one := big.NewInt(1)
	p1, q1 := new(big.Int).Sub(sk.P, one), new(big.Int).Sub(sk.Q, one)
	phi := new(big.Int).Mul(p1, q1)
	switch {
	case new(big.Int).Mul(sk.P, sk.Q).Cmp(sk.N) != 0:
		return inconsistent("save_data.PaillierSK.N", "want P·Q")
	case phi.Cmp(sk.PhiN) != 0:
		return inconsistent("save_data.PaillierSK.PhiN", "want (P-1)(Q-1)")
	case new(big.Int).Div(phi, new(big.Int).GCD(nil, nil, p1, q1)).Cmp(sk.LambdaN) != 0:
		return inconsistent("save_data.PaillierSK.LambdaN", "want lcm(P-1, Q-1)")
	}
	// P and Q are Sophie Germain primes; NTilde is the product of the safe
	// primes 2P+1 and 2Q+1.
	safe := func(p *big.Int) *big.Int { return new(big.Int).Add(new(big.Int).Lsh(p, 1), one) }
	if new(big.Int).Mul(safe(pp.P), safe(pp.Q)).Cmp(pp.NTildei) != 0 {
		return inconsistent("save_data.NTildei", "want (2P+1)(2Q+1)")
	}
	return nil
}

// pointKey converts a tss-lib point into a secp256k1 public key, rejecting
// what tss-lib lets through: other curves, missing coordinates, and
// coordinates outside [0, p) that its curve check silently reduces.
func pointKey(p *crypto.ECPoint) (*secp256k1.PublicKey, error) {
	if p == nil {
		return nil, errors.New("missing")
	}
	if !tss.SameCurve(p.Curve(), tss.S256()) {
		return nil, errors.New("want a secp256k1 point")
	}
	c, err := crypto.FlattenECPoints([]*crypto.ECPoint{p})
	if err != nil {
		return nil, errors.New("missing coordinates")
	}
	x, y := c[0], c[1]
	if x.Sign() < 0 || y.Sign() < 0 || x.BitLen() > 256 || y.BitLen() > 256 {
		return nil, errors.New("coordinates out of range")
	}
	var b [secp256k1.PubKeyBytesLenUncompressed]byte
	b[0] = secp256k1.PubKeyFormatUncompressed
	x.FillBytes(b[1:33])
	y.FillBytes(b[33:])
	key, err := secp256k1.ParsePubKey(b[:]) // checks x, y < p and the curve equation
	if err != nil {
		return nil, errors.New("not a point on secp256k1 in canonical coordinates")
	}
	return key, nil
}

// scalar reduces k modulo the group order.
func scalar(k *big.Int) *secp256k1.ModNScalar {
	var b [32]byte
	new(big.Int).Mod(k, curveN).FillBytes(b[:])
	var s secp256k1.ModNScalar
	s.SetBytes(&b)
	clear(b[:]) // k may be a secret
	return &s
}

func baseMult(k *big.Int) *secp256k1.PublicKey {
	var p secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(scalar(k), &p)
	p.ToAffine()
	return secp256k1.NewPublicKey(&p.X, &p.Y)
}

// sharesOf reports whether the points xs, taken at ks, lie on a polynomial
// of degree t-1 whose value at 0 is y. The first t points fix the
// polynomial; y and the remaining points must agree with it.
func sharesOf(y *secp256k1.PublicKey, t int, ks []*big.Int, xs []*secp256k1.PublicKey) bool {
	want := append([]*secp256k1.PublicKey{y}, xs[t:]...)
	at := append([]*big.Int{new(big.Int)}, ks[t:]...)
	for i := range want {
		p, ok := interpolate(at[i], ks[:t], xs[:t])
		if !ok || !p.IsEqual(want[i]) {
			return false
		}
	}
	return true
}

// interpolate returns the value at x of the polynomial through the points
// (ks[i], xs[i]) in the exponent: Σ λ_i(x)·xs[i] with Lagrange coefficients
// λ_i(x) = Π_{m≠i} (x-ks[m])/(ks[i]-ks[m]) mod the group order. It fails if
// two ks are equal mod the order.
func interpolate(x *big.Int, ks []*big.Int, xs []*secp256k1.PublicKey) (*secp256k1.PublicKey, bool) {
	var sum secp256k1.JacobianPoint // the point at infinity
	for i := range xs {
		num, den := big.NewInt(1), big.NewInt(1)
		for m := range ks {
			if m == i {
				continue
			}
			num.Mod(num.Mul(num, new(big.Int).Sub(x, ks[m])), curveN)
			den.Mod(den.Mul(den, new(big.Int).Sub(ks[i], ks[m])), curveN)
		}
		if den.ModInverse(den, curveN) == nil {
			return nil, false
		}
		var p, term, next secp256k1.JacobianPoint
		xs[i].AsJacobian(&p)
		secp256k1.ScalarMultNonConst(scalar(num.Mul(num, den)), &p, &term)
		secp256k1.AddNonConst(&sum, &term, &next)
		sum = next
	}
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return nil, false
	}
	sum.ToAffine()
	return secp256k1.NewPublicKey(&sum.X, &sum.Y), true
}
