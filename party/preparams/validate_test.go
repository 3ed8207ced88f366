package preparams_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/preparams"
)

var one = big.NewInt(1)

func add(x *big.Int, d int64) *big.Int { return new(big.Int).Add(x, big.NewInt(d)) }

// paillierKey computes a consistent Paillier key from two primes.
func paillierKey(P, Q *big.Int) *paillier.PrivateKey {
	pm1, qm1 := new(big.Int).Sub(P, one), new(big.Int).Sub(Q, one)
	phi := new(big.Int).Mul(pm1, qm1)
	gcd := new(big.Int).GCD(nil, nil, pm1, qm1)
	return &paillier.PrivateKey{
		PublicKey: paillier.PublicKey{N: new(big.Int).Mul(P, Q)},
		PhiN:      phi,
		LambdaN:   new(big.Int).Div(phi, gcd),
		P:         P,
		Q:         Q,
	}
}

func TestValidateCatchesCorruption(t *testing.T) {
	all := allFixturePrimes(t)
	sets := fixture(t)
	// Two fixture primes less than 2^1020 apart, and a safe prime far from
	// the first NTilde factor of set 0.
	limit := new(big.Int).Lsh(one, preparams.SafePrimeBits-4)
	var closeP, closeQ, farFromNP *big.Int
	NP := safePrimesOf(sets[0])[2]
	for i, P := range all {
		for _, Q := range all[i+1:] {
			if closeP == nil && new(big.Int).Sub(P, Q).CmpAbs(limit) < 0 {
				closeP, closeQ = P, Q
			}
		}
		if farFromNP == nil && new(big.Int).Sub(P, NP).CmpAbs(limit) >= 0 {
			farFromNP = P
		}
	}
	if closeP == nil || farFromNP == nil {
		t.Fatal("fixture lacks close or far primes")
	}

	cases := []struct {
		name   string
		tamper func(pp *keygen.LocalPreParams)
		msg    string
	}{
		{"PaillierSK nil", func(pp *keygen.LocalPreParams) { pp.PaillierSK = nil }, "missing"},
		{"NTilde nil", func(pp *keygen.LocalPreParams) { pp.NTildei = nil }, "missing"},
		{"h1 nil", func(pp *keygen.LocalPreParams) { pp.H1i = nil }, "missing"},
		{"h2 nil", func(pp *keygen.LocalPreParams) { pp.H2i = nil }, "missing"},
		{"alpha nil", func(pp *keygen.LocalPreParams) { pp.Alpha = nil }, "missing"},
		{"beta nil", func(pp *keygen.LocalPreParams) { pp.Beta = nil }, "missing"},
		{"P nil", func(pp *keygen.LocalPreParams) { pp.P = nil }, "missing"},
		{"Q nil", func(pp *keygen.LocalPreParams) { pp.Q = nil }, "missing"},
		{"Paillier P nil", func(pp *keygen.LocalPreParams) { pp.PaillierSK.P = nil }, "missing"},
		{"Paillier N nil", func(pp *keygen.LocalPreParams) { pp.PaillierSK.N = nil }, "missing"},
		{"LambdaN nil", func(pp *keygen.LocalPreParams) { pp.PaillierSK.LambdaN = nil }, "missing"},
		{"PhiN nil", func(pp *keygen.LocalPreParams) { pp.PaillierSK.PhiN = nil }, "missing"},

		{"N 2047 bits", func(pp *keygen.LocalPreParams) { pp.PaillierSK.N.Rsh(pp.PaillierSK.N, 1) }, "N has 2047 bits"},
		{"N wrong", func(pp *keygen.LocalPreParams) { pp.PaillierSK.N = add(pp.PaillierSK.N, 2) }, "N != P·Q"},
		{"PhiN wrong", func(pp *keygen.LocalPreParams) { pp.PaillierSK.PhiN = add(pp.PaillierSK.PhiN, 2) }, "PhiN"},
		{"LambdaN = PhiN", func(pp *keygen.LocalPreParams) { pp.PaillierSK.LambdaN = pp.PaillierSK.PhiN }, "LambdaN"},
		{"Paillier P not prime", func(pp *keygen.LocalPreParams) {
			pp.PaillierSK = paillierKey(add(pp.PaillierSK.P, 2), pp.PaillierSK.Q)
		}, "Paillier P"},
		{"Paillier P, Q too close", func(pp *keygen.LocalPreParams) { pp.PaillierSK = paillierKey(closeP, closeQ) }, "|P-Q|"},
		{"Paillier shares NTilde factor", func(pp *keygen.LocalPreParams) { pp.PaillierSK = paillierKey(NP, farFromNP) }, "share a factor"},

		{"NTilde 2047 bits", func(pp *keygen.LocalPreParams) { pp.NTildei.Rsh(pp.NTildei, 1) }, "NTilde has 2047 bits"},
		{"NTilde wrong", func(pp *keygen.LocalPreParams) { pp.NTildei = add(pp.NTildei, 2) }, "NTilde != (2P+1)(2Q+1)"},
		{"P = Q", func(pp *keygen.LocalPreParams) { pp.P = pp.Q }, "P = Q"},
		{"P not prime", func(pp *keygen.LocalPreParams) { pp.P = add(pp.P, 2) }, "2P+1"},
		{"P from another set", func(pp *keygen.LocalPreParams) { pp.P = sets[1].P }, "NTilde != (2P+1)(2Q+1)"},

		{"h1 = 1", func(pp *keygen.LocalPreParams) { pp.H1i = big.NewInt(1) }, "[2, NTilde)"},
		{"h1 = NTilde", func(pp *keygen.LocalPreParams) { pp.H1i = pp.NTildei }, "[2, NTilde)"},
		{"h2 negative", func(pp *keygen.LocalPreParams) { pp.H2i = big.NewInt(-5) }, "[2, NTilde)"},
		{"h1 = h2", func(pp *keygen.LocalPreParams) { pp.H2i = pp.H1i }, "h1 = h2"},
		{"h1 = -1", func(pp *keygen.LocalPreParams) { pp.H1i = add(pp.NTildei, -1) }, "quadratic residues"},
		{"h1 non-residue", func(pp *keygen.LocalPreParams) {
			pp.H1i = new(big.Int).Mod(new(big.Int).Neg(pp.H1i), pp.NTildei)
		}, "quadratic residues"},
		{"h1 not a unit", func(pp *keygen.LocalPreParams) { pp.H1i = safePrimesOf(pp)[2] }, "quadratic residues"},
		{"h2 wrong", func(pp *keygen.LocalPreParams) {
			pp.H2i = new(big.Int).Mod(new(big.Int).Mul(pp.H2i, pp.H1i), pp.NTildei)
		}, "h2 != h1^alpha"},
		{"beta wrong", func(pp *keygen.LocalPreParams) { pp.Beta = add(pp.Beta, 1) }, "alpha·beta"},
		{"alpha wrong", func(pp *keygen.LocalPreParams) { pp.Alpha = add(pp.Alpha, 1) }, "alpha·beta"},
		{"alpha zero", func(pp *keygen.LocalPreParams) { pp.Alpha = new(big.Int) }, "positive"},
		{"alpha and beta swapped with set 1", func(pp *keygen.LocalPreParams) {
			pp.Alpha, pp.Beta = sets[1].Alpha, sets[1].Beta
		}, "alpha·beta"},
	}
	for _, c := range cases {
		pp := fixture(t)[0]
		c.tamper(pp)
		err := preparams.Validate(pp)
		if !errors.Is(err, preparams.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.msg)
		}
	}
	if err := preparams.Validate(nil); !errors.Is(err, preparams.ErrInvalid) {
		t.Errorf("nil: got %v", err)
	}
}

func TestValidateWithProofsRejects(t *testing.T) {
	pp := fixture(t)[0]
	pp.H2i = pp.H1i
	if err := preparams.ValidateWithProofs(pp, nil); !errors.Is(err, preparams.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	pp := fixture(t)[2]
	data, err := preparams.Marshal(pp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := preparams.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]*big.Int{
		{pp.PaillierSK.N, got.PaillierSK.N}, {pp.PaillierSK.LambdaN, got.PaillierSK.LambdaN},
		{pp.PaillierSK.PhiN, got.PaillierSK.PhiN}, {pp.PaillierSK.P, got.PaillierSK.P},
		{pp.PaillierSK.Q, got.PaillierSK.Q}, {pp.NTildei, got.NTildei}, {pp.H1i, got.H1i},
		{pp.H2i, got.H2i}, {pp.Alpha, got.Alpha}, {pp.Beta, got.Beta}, {pp.P, got.P}, {pp.Q, got.Q},
	}
	for i, p := range pairs {
		if p[0].Cmp(p[1]) != 0 {
			t.Fatalf("field %d changed in the round trip", i)
		}
	}
	again, err := preparams.Marshal(got)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("re-marshalling differs (err %v)", err)
	}
}

func TestMarshalRejects(t *testing.T) {
	if _, err := preparams.Marshal(nil); !errors.Is(err, preparams.ErrInvalid) {
		t.Fatalf("nil: got %v", err)
	}
	if _, err := preparams.Marshal(&keygen.LocalPreParams{}); !errors.Is(err, preparams.ErrInvalid) {
		t.Fatalf("empty: got %v", err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := preparams.Marshal(fixture(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(good, &fields); err != nil {
		t.Fatal(err)
	}
	fields["H2i"] = json.RawMessage("12345")
	tampered, _ := json.Marshal(fields)
	fields["Extra"] = json.RawMessage("1")
	extra, _ := json.Marshal(fields)

	for name, data := range map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("not json"),
		"truncated":     good[:len(good)/2],
		"null":          []byte("null"),
		"empty object":  []byte("{}"),
		"array":         []byte("[]"),
		"string number": []byte(`{"NTildei":"123"}`),
		"trailing":      append(append([]byte(nil), good...), []byte(" {}")...),
		"unknown field": extra,
		"tampered h2":   tampered,
	} {
		if _, err := preparams.Unmarshal(data); !errors.Is(err, preparams.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestErrorMatching(t *testing.T) {
	cause := errors.New("cause")
	err := error(&preparams.Error{Code: preparams.CodeRandom, Msg: "x", Err: cause})
	if !errors.Is(err, preparams.ErrRandom) || !errors.Is(err, cause) || errors.Is(err, preparams.ErrInvalid) {
		t.Fatal("errors.Is does not match by code and cause")
	}
	if s := err.Error(); !strings.Contains(s, "x") || !strings.Contains(s, "cause") {
		t.Fatalf("message %q", s)
	}
}
