package preparams_test

import (
	"context"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/preparams"
)

var updateFixture = flag.Bool("update-fixture", false, "regenerate the shared pre-parameters fixture (five sets, takes a minute)")

// fixturePath is the shared fixture of ready pre-parameters, used by the
// tests of other packages to avoid generating primes.
var fixturePath = filepath.Join("..", "..", "internal", "testkit", "preparams.json")

const fixtureSets = 5

func TestWriteFixture(t *testing.T) {
	if !*updateFixture {
		t.Skip("run with -update-fixture to regenerate " + fixturePath)
	}
	sets := make([]json.RawMessage, fixtureSets)
	for i := range sets {
		pp, err := preparams.Generate(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := preparams.ValidateWithProofs(pp, nil); err != nil {
			t.Fatal(err)
		}
		if sets[i], err = preparams.Marshal(pp); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.MarshalIndent(sets, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(fixturePath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixturePath, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	fixtureOnce sync.Once
	fixtureRaw  []json.RawMessage
	fixtureErr  error
)

// fixture returns fresh copies of the fixture's pre-parameters, decoded
// with Unmarshal (so each has passed Validate once per test binary).
func fixture(t *testing.T) []*keygen.LocalPreParams {
	t.Helper()
	fixtureOnce.Do(func() {
		var data []byte
		if data, fixtureErr = os.ReadFile(fixturePath); fixtureErr != nil {
			return
		}
		if fixtureErr = json.Unmarshal(data, &fixtureRaw); fixtureErr != nil {
			return
		}
		for _, raw := range fixtureRaw {
			if _, fixtureErr = preparams.Unmarshal(raw); fixtureErr != nil {
				return
			}
		}
	})
	if fixtureErr != nil {
		t.Fatalf("fixture %s: %v", fixturePath, fixtureErr)
	}
	out := make([]*keygen.LocalPreParams, len(fixtureRaw))
	for i, raw := range fixtureRaw {
		out[i] = new(keygen.LocalPreParams)
		if err := json.Unmarshal(raw, out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// safePrimesOf returns the four safe primes of a set: the Paillier primes
// and the factors of NTilde.
func safePrimesOf(pp *keygen.LocalPreParams) []*big.Int {
	safe := func(p *big.Int) *big.Int {
		P := new(big.Int).Lsh(p, 1)
		return P.SetBit(P, 0, 1)
	}
	return []*big.Int{pp.PaillierSK.P, pp.PaillierSK.Q, safe(pp.P), safe(pp.Q)}
}

func TestFixture(t *testing.T) {
	sets := fixture(t)
	if len(sets) != fixtureSets {
		t.Fatalf("fixture has %d sets, want %d", len(sets), fixtureSets)
	}
	seen := map[string]bool{}
	for i, pp := range sets {
		if err := preparams.Validate(pp); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		for _, x := range append(safePrimesOf(pp), pp.H1i, pp.H2i) {
			if seen[x.String()] {
				t.Fatalf("set %d repeats a value of an earlier set", i)
			}
			seen[x.String()] = true
		}
	}
}
