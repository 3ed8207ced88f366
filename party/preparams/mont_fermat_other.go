//go:build !wasm

package preparams

import "math/big"

// fermat2State is the state of the searcher's base-2 Fermat test. Natively
// it is big.Int.Exp: with math/big's assembly (64x64->128 multiplies) it
// is faster than mont28, on amd64 0.38 against 0.57 ms at 1024 bits
// (BenchmarkFermat2; mont28 is chosen under GOARCH=wasm only, see
// mont_fermat_wasm.go).
type fermat2State struct{ e, r big.Int }

// test reports whether 2^(x-1) ≡ 1 (mod x), for an odd x > 1.
func (f *fermat2State) test(x *big.Int) bool {
	f.e.Sub(x, one)
	f.r.Exp(two, &f.e, x)
	return f.r.Cmp(one) == 0
}
