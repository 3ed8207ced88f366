package preparams

import (
	"math/big"
	"math/bits"
)

const (
	radix28    = 28
	mask28     = 1<<radix28 - 1
	maxLimbs28 = 127 // column sums stay below 2^64, see sqr
	maxBits28  = radix28 * maxLimbs28
)

// mont28 computes powers of two modulo an odd m > 1 in Montgomery form on
// 28-bit limbs (held in uint32s), for the base-2 Fermat test of the safe
// prime search under GOARCH=wasm (mont_fermat_*.go choose it there
// and keep big.Int.Exp elsewhere).
//
// Why: wasm has no 64x64->128 multiply, so math/big's bits.Mul64 is
// emulated. Here a limb product is below 2^56 and fits a native 64-bit
// multiply, and each column of the square and of the reduction (at most
// 2n+1 such products, n <= 127) is summed in one uint64 without any carry
// handling (product scanning), one shift per column. A product costs two
// loads, a multiply and an add, with no carry chain between products.
// A first version on 32-bit limbs (operand scanning, a carry per product,
// rows unrolled by 8) measured only 1.3x faster than big.Int.Exp at 1024
// bits and 1.06x at 512 in Chromium, and was dropped. For the sizes of the
// search the squaring is unrolled (mont28_sqr.go, generated): in Go's wasm
// code a loop iteration or a call costs about as much as a dozen
// products; with loops this code was no faster than big.Int.Exp.
//
// Why base 2: 2^e is computed left to right with one Montgomery squaring
// per exponent bit and, for a set bit, a modular doubling (a shift and a
// conditional subtraction) instead of a Montgomery multiplication.
//
// R = 2^(28n) for n = ceil(bitlen(m)/28).
//
// Not constant-time, on purpose: the running time depends on the modulus
// (conditional subtractions) and on the exponent's bits (doublings). The
// candidates are random and most are discarded, but the safe primes found
// become Paillier and NTilde secrets. big.Int.Exp, which this replaces
// under GOARCH=wasm, is not constant-time either (its windowed
// exponentiation, table lookups and final reduction depend on the exponent
// and the modulus), so this is no regression.
type mont28 struct {
	n     int
	m     []uint32 // modulus, little-endian
	mr    []uint32 // m reversed: mr[i] = m[n-1-i], for sqrLoops
	n0inv uint32   // -m^-1 mod 2^28
	a     []uint32 // accumulator, Montgomery form, fully reduced (< m)
	ar    []uint32 // a reversed, during sqrLoops
	u     []uint32 // reduction multipliers, during sqr
	one   []uint32 // R mod m (1 in Montgomery form), set by fermat2
}

// setModulus prepares z for the odd modulus x > 1 of at most maxBits28
// bits, reusing its buffers.
func (z *mont28) setModulus(x *big.Int) {
	if x.Sign() <= 0 || x.Bit(0) == 0 || x.BitLen() < 2 {
		panic("preparams: mont28 modulus must be odd and > 1")
	}
	n := (x.BitLen() + radix28 - 1) / radix28
	if n > maxLimbs28 {
		panic("preparams: mont28 modulus too large")
	}
	if cap(z.m) < n {
		z.m = make([]uint32, n)
		z.mr = make([]uint32, n)
		z.a = make([]uint32, n)
		z.ar = make([]uint32, n)
		z.u = make([]uint32, n)
		z.one = make([]uint32, n)
	}
	z.n = n
	z.m, z.mr, z.a, z.ar, z.u, z.one = z.m[:n], z.mr[:n], z.a[:n], z.ar[:n], z.u[:n], z.one[:n]
	limbs28(z.m, x)
	for i, w := range z.m {
		z.mr[n-1-i] = w
	}
	// Newton's iteration for m0^-1 mod 2^32 (3, 6, 12, 24, 48 bits).
	m0 := z.m[0]
	inv := m0
	for range 4 {
		inv *= 2 - m0*inv
	}
	z.n0inv = -inv & mask28
}

// limbs28 writes x (which must fit) into dst, little-endian 28-bit limbs.
func limbs28(dst []uint32, x *big.Int) {
	clear(dst)
	var buf uint64 // pending bits, nbuf of them
	nbuf, j := 0, 0
	for _, w := range x.Bits() {
		for k := 0; k < bits.UintSize; k += 32 {
			buf |= uint64(uint32(uint64(w)>>k)) << nbuf
			nbuf += 32
			for nbuf >= radix28 && j < len(dst) {
				dst[j] = uint32(buf) & mask28
				buf >>= radix28
				nbuf -= radix28
				j++
			}
		}
	}
	if j < len(dst) {
		dst[j] = uint32(buf) & mask28
	}
}

// fermat2 reports whether 2^(x-1) ≡ 1 (mod x), for an odd x > 1.
func (z *mont28) fermat2(x *big.Int) bool {
	z.setModulus(x)
	// x is odd: x-1 is x with bit 0 cleared.
	z.expBase2(x.Bits(), true)
	z.setPow2(z.one, radix28*z.n)
	for i, w := range z.a {
		if w != z.one[i] {
			return false
		}
	}
	return true
}

// expBase2 leaves 2^e·R mod m in z.a (Montgomery form), e given by its
// words, little-endian, bit 0 taken as 0 when clearBit0.
func (z *mont28) expBase2(e []big.Word, clearBit0 bool) {
	bit := func(i int) uint {
		if i == 0 && clearBit0 {
			return 0
		}
		return uint(e[i/bits.UintSize]>>(i%bits.UintSize)) & 1
	}
	eBits := 0
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] != 0 {
			eBits = bits.UintSize*i + bits.Len(uint(e[i]))
			break
		}
	}
	if eBits == 1 && clearBit0 {
		eBits = 0
	}
	// Start from 2^v·R mod m, v the top k bits of e: v doublings are
	// cheaper than k squarings for 2^k <= about n.
	k := min(eBits, bits.Len(uint(z.n)))
	v := 0
	for i := eBits - 1; i >= eBits-k; i-- {
		v = v<<1 | int(bit(i))
	}
	z.setPow2(z.a, radix28*z.n+v)
	for i := eBits - k - 1; i >= 0; i-- {
		z.sqr()
		if bit(i) == 1 {
			z.double(z.a)
		}
	}
}

// setPow2 sets a = 2^k mod m, k >= bitlen(m)-1, by doubling
// 2^(bitlen(m)-1) < m.
func (z *mont28) setPow2(a []uint32, k int) {
	n := z.n
	top := bits.Len32(z.m[n-1]) - 1 + radix28*(n-1) // bitlen(m)-1
	clear(a)
	a[top/radix28] = 1 << (top % radix28)
	for range k - top {
		z.double(a)
	}
}

// double sets a = 2a mod m, for a < m.
func (z *mont28) double(a []uint32) {
	var c uint32
	for i, w := range a {
		w = w<<1 | c
		a[i] = w & mask28
		c = w >> radix28
	}
	z.reduceOnce(a, c)
}

// reduceOnce subtracts m from hi·R + a if that is >= m (hi <= 1).
func (z *mont28) reduceOnce(a []uint32, hi uint32) {
	m := z.m[:len(a)]
	if hi == 0 {
		for i := len(a) - 1; i >= 0; i-- {
			if a[i] != m[i] {
				if a[i] < m[i] {
					return
				}
				break
			}
		}
	}
	var borrow uint32
	for i, w := range a {
		d := w - m[i] - borrow
		a[i] = d & mask28
		borrow = d >> 31
	}
}

// sqr sets a = a²·R^-1 mod m (Montgomery squaring), for a < m, by product
// scanning. Column k of a² + U·m (U = sum u_i 2^(28i)) is
//
//	2·sum_{i<j, i+j=k} a_i a_j  +  a_{k/2}² (k even)  +  sum_{i+j=k} u_i m_j
//
// plus the carry from column k-1: at most 2n+1 products below 2^56 and a
// carry below 2^37, below 2^64 for n <= 127. u_k, chosen for columns k < n,
// makes the column ≡ 0 (mod 2^28); columns n.. are the result, which is
// below 2m and written over a (column k reads a_i only for i > k-n).
func (z *mont28) sqr() {
	if !z.sqrUnrolled() {
		z.sqrLoops()
	}
}

// sqrLoops is sqr with loops, for any n.
func (z *mont28) sqrLoops() {
	a, ar, u, m, mr := z.a, z.ar, z.u, z.m, z.mr
	n := len(a)
	ar, u, m, mr = ar[:n], u[:n], m[:n], mr[:n]
	for i, w := range a {
		ar[n-1-i] = w
	}
	k0 := z.n0inv
	m0 := uint64(m[0])
	var acc uint64
	for k := 0; k < n; k++ {
		// a_i a_{k-i} for i < k-i: a_{k-i} = ar[n-1-k+i].
		mid := (k + 1) / 2
		acc += dot28(a[:mid], ar[n-1-k:n-1-k+mid]) << 1
		if k&1 == 0 {
			d := uint64(a[k/2])
			acc += d * d
		}
		// u_i m_{k-i} for i < k: m_{k-i} = mr[n-1-k+i].
		acc += dot28(u[:k], mr[n-1-k:n-1])
		uk := uint32(acc) * k0 & mask28
		u[k] = uk
		acc += uint64(uk) * m0
		acc >>= radix28
	}
	for k := n; k < 2*n-1; k++ {
		lo := k - n + 1
		mid := (k + 1) / 2
		acc += dot28(a[lo:mid], ar[n-1-k+lo:n-1-k+mid]) << 1
		if k&1 == 0 {
			d := uint64(a[k/2])
			acc += d * d
		}
		acc += dot28(u[lo:], mr[n-1-k+lo:2*n-1-k])
		a[k-n] = uint32(acc) & mask28
		acc >>= radix28
	}
	a[n-1] = uint32(acc) & mask28
	z.reduceOnce(a, uint32(acc>>radix28))
}

// dot28 returns sum x_i·y_i for len(y) >= len(x), the terms below 2^56.
// Unrolled by 8: under GOOS=js every backward branch of a loop goes
// through the function's block dispatcher.
func dot28(x, y []uint32) (s uint64) {
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
