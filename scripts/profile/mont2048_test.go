//go:build profile

package profile_test

import (
	"math/big"
	"math/bits"
	mathrand "math/rand"
	"testing"
)

// Option (c) of docs/performance-plan.md at the size tss-lib's proofs use:
// a modular exponentiation mod a 2048-bit N on 28-bit limbs (74 of them),
// the technique of party/preparams/mont28.go (a limb product below 2^56 in
// one native 64-bit multiply, each column summed in one uint64 without
// carries) generalised from base-2 Fermat tests to any base: a Montgomery
// multiplication as well as a squaring, and big.Int.Exp's 4-bit fixed
// window. Two builds of the kernel: with loops (dot28l, unrolled by 8),
// and straight-line code for 74 limbs written by gen_mont2048.go into
// mont2048_unrolled_test.go (not kept in the repository: about 0.6 MB of
// source; scripts/profile/README.md says how to make it).

const (
	r28    = 28
	m28    = 1<<r28 - 1
	limbsN = 74 // ceil(2048/28); columns hold at most 2·74 products < 2^56 and a carry: < 2^64
)

// mont2048 holds a modulus of at most limbsN·28 bits in 28-bit limbs.
type mont2048 struct {
	n     int
	m, mr []uint32 // modulus and its limbs reversed
	k0    uint32   // -m^-1 mod 2^28
	big   *big.Int
	// buffers
	yr, u, t []uint32
}

func newMont2048(m *big.Int) *mont2048 {
	if m.Bit(0) == 0 || m.BitLen() > limbsN*r28 {
		panic("mont2048: modulus must be odd and fit")
	}
	n := limbsN
	z := &mont2048{n: n, m: make([]uint32, n), mr: make([]uint32, n), big: new(big.Int).Set(m),
		yr: make([]uint32, n), u: make([]uint32, n), t: make([]uint32, n)}
	toLimbs(z.m, m)
	for i, w := range z.m {
		z.mr[n-1-i] = w
	}
	inv := z.m[0]
	for range 4 {
		inv *= 2 - z.m[0]*inv
	}
	z.k0 = -inv & m28
	return z
}

func toLimbs(dst []uint32, x *big.Int) {
	clear(dst)
	for i := range dst {
		var w uint32
		for b := range r28 {
			w |= uint32(x.Bit(i*r28+b)) << b
		}
		dst[i] = w
	}
}

func fromLimbs(x []uint32) *big.Int {
	z := new(big.Int)
	for i := len(x) - 1; i >= 0; i-- {
		z.Lsh(z, r28)
		z.Or(z, big.NewInt(int64(x[i])))
	}
	return z
}

// toMont writes x·R mod m, R = 2^(28n).
func (z *mont2048) toMont(dst []uint32, x *big.Int) {
	t := new(big.Int).Lsh(x, uint(r28*z.n))
	toLimbs(dst, t.Mod(t, z.big))
}

// dot28l is sum x_i·y_i, unrolled by 8 (as party/preparams's dot28).
func dot28l(x, y []uint32) (s uint64) {
	y = y[:len(x)]
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xx := x[i : i+8 : i+8]
		yy := y[i : i+8 : i+8]
		s += uint64(xx[0])*uint64(yy[0]) + uint64(xx[1])*uint64(yy[1]) +
			uint64(xx[2])*uint64(yy[2]) + uint64(xx[3])*uint64(yy[3]) +
			uint64(xx[4])*uint64(yy[4]) + uint64(xx[5])*uint64(yy[5]) +
			uint64(xx[6])*uint64(yy[6]) + uint64(xx[7])*uint64(yy[7])
	}
	for ; i < len(x); i++ {
		s += uint64(x[i]) * uint64(y[i])
	}
	return s
}

// mulLoops sets out = x·y·R^-1 mod m (x, y < m) by product scanning:
// column k of x·y + U·m is sum_{i+j=k} x_i y_j + sum_{i+j=k} u_i m_j plus
// the carry, u_k (k < n) chosen to make it ≡ 0 mod 2^28.
func (z *mont2048) mulLoops(out, x, y []uint32) {
	n, yr, u, mr, t := z.n, z.yr, z.u, z.mr, z.t
	for i, w := range y {
		yr[n-1-i] = w
	}
	var acc uint64
	for k := 0; k < n; k++ {
		acc += dot28l(x[:k+1], yr[n-1-k:n])
		acc += dot28l(u[:k], mr[n-1-k:n-1])
		uk := uint32(acc) * z.k0 & m28
		u[k] = uk
		acc = (acc + uint64(uk)*uint64(z.m[0])) >> r28
	}
	for k := n; k < 2*n-1; k++ {
		lo := k - n + 1
		acc += dot28l(x[lo:n], yr[0:2*n-1-k])
		acc += dot28l(u[lo:n], mr[0:2*n-1-k])
		t[k-n] = uint32(acc) & m28
		acc >>= r28
	}
	t[n-1] = uint32(acc) & m28
	z.reduce(t, uint32(acc>>r28))
	copy(out, t)
}

// reduce subtracts m from hi·R + a if that is >= m.
func (z *mont2048) reduce(a []uint32, hi uint32) {
	if hi == 0 {
		for i := len(a) - 1; i >= 0; i-- {
			if a[i] != z.m[i] {
				if a[i] < z.m[i] {
					return
				}
				break
			}
		}
	}
	var borrow uint32
	for i, w := range a {
		d := w - z.m[i] - borrow
		a[i] = d & m28
		borrow = d >> 31
	}
}

// kernel is a Montgomery multiplication and squaring on 74 limbs.
type kernel struct {
	mul func(z *mont2048, out, x, y []uint32)
	sqr func(z *mont2048, out, x []uint32)
}

var loopsKernel = kernel{
	mul: (*mont2048).mulLoops,
	sqr: func(z *mont2048, out, x []uint32) { z.mulLoops(out, x, x) },
}

// unrolledKernel is set by mont2048_unrolled_test.go when it was generated.
var unrolledKernel *kernel

// exp is b^e mod m with a 4-bit fixed window, as big.Int.Exp's Montgomery
// path: 16 table entries, then per 4 exponent bits 4 squarings and a
// multiplication.
func (z *mont2048) exp(k kernel, b, e *big.Int) *big.Int {
	n := z.n
	var table [16][]uint32
	for i := range table {
		table[i] = make([]uint32, n)
	}
	z.toMont(table[0], big.NewInt(1))
	z.toMont(table[1], new(big.Int).Mod(b, z.big))
	for i := 2; i < 16; i++ {
		k.mul(z, table[i], table[i-1], table[1])
	}
	acc := make([]uint32, n)
	copy(acc, table[0])
	ew := e.Bits()
	for i := len(ew) - 1; i >= 0; i-- {
		w := ew[i]
		for j := bits.UintSize - 4; j >= 0; j -= 4 {
			for range 4 {
				k.sqr(z, acc, acc)
			}
			k.mul(z, acc, acc, table[(w>>uint(j))&15])
		}
	}
	// Out of Montgomery form: multiply by 1.
	one := make([]uint32, n)
	one[0] = 1
	k.mul(z, acc, acc, one)
	return fromLimbs(acc)
}

func testKernel(t *testing.T, k kernel) {
	key := fixtureKey(t)
	z := newMont2048(key.n)
	bs, es := operands(key, 6)
	rng := mathrand.New(mathrand.NewSource(7))
	// Edge operands: 0, 1, m-1, and small exponents.
	bs = append(bs, big.NewInt(0), big.NewInt(1), new(big.Int).Sub(key.n, big.NewInt(1)), new(big.Int).Rand(rng, key.n))
	es = append(es, big.NewInt(5), big.NewInt(0), new(big.Int).Sub(key.n, big.NewInt(2)), big.NewInt(1))
	for i := range bs {
		got, want := z.exp(k, bs[i], es[i]), new(big.Int).Exp(bs[i], es[i], key.n)
		if got.Cmp(want) != 0 {
			t.Fatalf("operand %d: mont28 %x, Exp %x", i, got, want)
		}
	}
	// Products near the column bound: every limb of x, y and m at its
	// largest that keeps x, y < m.
	mx := new(big.Int).Lsh(big.NewInt(1), limbsN*r28-1)
	mx.Sub(mx, big.NewInt(1)) // odd, 2071 bits: all limbs full but the top
	zx := newMont2048(mx)
	x := new(big.Int).Sub(mx, big.NewInt(2))
	if got, want := zx.exp(k, x, mx), new(big.Int).Exp(x, mx, mx); got.Cmp(want) != 0 {
		t.Fatalf("full limbs: mont28 %x, Exp %x", got, want)
	}
}

// TestOptionMont2048: both kernels give big.Int.Exp's results.
func TestOptionMont2048(t *testing.T) {
	t.Run("impl=loops", func(t *testing.T) { testKernel(t, loopsKernel) })
	t.Run("impl=unrolled", func(t *testing.T) {
		if unrolledKernel == nil {
			t.Skip("mont2048_unrolled_test.go not generated (scripts/profile/README.md)")
		}
		testKernel(t, *unrolledKernel)
	})
}

// BenchmarkOptionMont2048 is one exponentiation mod the fixture's 2048-bit
// NTilde with a 2048-bit exponent: big.Int.Exp (what tss-lib calls)
// against the 28-bit-limb kernels (option c).
func BenchmarkOptionMont2048(b *testing.B) {
	key := fixtureKey(b)
	z := newMont2048(key.n)
	bs, es := operands(key, 16)
	b.Run("impl=exp", func(b *testing.B) {
		i := 0
		for b.Loop() {
			new(big.Int).Exp(bs[i%16], es[i%16], key.n)
			i++
		}
	})
	run := func(name string, k *kernel) {
		b.Run("impl="+name, func(b *testing.B) {
			if k == nil {
				b.Skip("mont2048_unrolled_test.go not generated (scripts/profile/README.md)")
			}
			i := 0
			for b.Loop() {
				z.exp(*k, bs[i%16], es[i%16])
				i++
			}
		})
	}
	run("loops", &loopsKernel)
	run("unrolled", unrolledKernel)
}
