//go:build wasm

package preparams

import "math/big"

// fermat2State is the state of the searcher's base-2 Fermat test. Under
// GOARCH=wasm it is mont28, which in Chromium measured 2.7 times faster
// than big.Int.Exp at 1024 bits and 3.8 times at 512 (BenchmarkFermat2),
// since math/big emulates the 64x64->128 multiply there; a 1024-bit safe
// prime took 2.2 times less time (BenchmarkSafePrimeSeeded). big.Int.Exp
// remains for moduli too large for mont28 (over 3556 bits).
type fermat2State struct {
	m    mont28
	e, r big.Int
}

// test reports whether 2^(x-1) ≡ 1 (mod x), for an odd x > 1.
func (f *fermat2State) test(x *big.Int) bool {
	if x.BitLen() <= maxBits28 {
		return f.m.fermat2(x)
	}
	f.e.Sub(x, one)
	f.r.Exp(two, &f.e, x)
	return f.r.Cmp(one) == 0
}
