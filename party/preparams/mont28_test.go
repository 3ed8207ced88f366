package preparams

import (
	cryptorand "crypto/rand"
	"math/big"
	mathrand "math/rand/v2"
	"testing"
)

// montRandom returns a random number of exactly bits bits (bits >= 1), odd
// when odd is true.
func montRandom(rng *mathrand.ChaCha8, bits int, odd bool) *big.Int {
	buf := make([]byte, (bits+7)/8)
	_, _ = rng.Read(buf)
	x := new(big.Int).SetBytes(buf)
	x.Rsh(x, uint(8*len(buf)-bits))
	x.SetBit(x, bits-1, 1)
	if odd {
		x.SetBit(x, 0, 1)
	}
	return x
}

// value28 is the number with the given little-endian 28-bit limbs.
func value28(d []uint32) *big.Int {
	x := new(big.Int)
	for i := len(d) - 1; i >= 0; i-- {
		x.Lsh(x, radix28)
		x.Or(x, big.NewInt(int64(d[i])))
	}
	return x
}

// fromMont28 returns a·R^-1 mod m for z's modulus m.
func fromMont28(z *mont28, a []uint32) *big.Int {
	m := value28(z.m)
	rInv := new(big.Int).Lsh(one, uint(radix28*z.n))
	rInv.ModInverse(rInv, m)
	x := value28(a)
	return x.Mul(x, rInv).Mod(x, m)
}

// checkExp28 compares 2^e mod m from z (reused across calls) with
// big.Int.Exp, and checks that z's result is fully reduced.
func checkExp28(t *testing.T, z *mont28, m, e *big.Int) {
	t.Helper()
	z.setModulus(m)
	z.expBase2(e.Bits(), false)
	if value28(z.a).Cmp(m) >= 0 {
		t.Fatalf("2^%x mod %x: result %x not reduced", e, m, value28(z.a))
	}
	got := fromMont28(z, z.a)
	want := new(big.Int).Exp(two, e, m)
	if got.Cmp(want) != 0 {
		t.Fatalf("2^%x mod %x: got %x, want %x", e, m, got, want)
	}
}

// checkFermat28 compares z.fermat2(x) with big.Int.Exp and returns it.
func checkFermat28(t *testing.T, z *mont28, x *big.Int) bool {
	t.Helper()
	e := new(big.Int).Sub(x, one)
	want := new(big.Int).Exp(two, e, x).Cmp(one) == 0
	if got := z.fermat2(x); got != want {
		t.Fatalf("fermat2(%v) = %v, math/big says %v", x, got, want)
	}
	return want
}

func TestMont28Limbs(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{1})
	for bits := 1; bits <= 600; bits++ {
		x := montRandom(rng, bits, false)
		for extra := range 3 {
			d := make([]uint32, (bits+radix28-1)/radix28+extra)
			limbs28(d, x)
			if got := value28(d); got.Cmp(x) != 0 {
				t.Fatalf("limbs of %x: got %x", x, got)
			}
			for _, w := range d {
				if w > mask28 {
					t.Fatalf("limbs of %x: limb %x too large", x, w)
				}
			}
		}
	}
}

// TestMont28ExpBase2Random compares 2^e mod m with big.Int.Exp for random
// odd moduli of 2..2048 bits, with extra weight on the sizes that have an
// unrolled squaring (19 and 37 limbs) and on limb boundaries, and random
// exponents of 0 to about 2100 bits. One mont28 serves all, its buffers
// growing and shrinking with the modulus.
func TestMont28ExpBase2Random(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{2})
	ri := mathrand.New(rng)
	cases := 4000
	if testing.Short() {
		cases = 1000
	}
	var z mont28
	for i := range cases {
		var mBits int
		switch i % 10 {
		case 0:
			mBits = 2 + ri.IntN(62)
		case 1:
			mBits = radix28*(2+ri.IntN(72)) + ri.IntN(3) - 1 // around a limb boundary
		case 2, 3:
			mBits = 18*radix28 + 1 + ri.IntN(radix28) // 19 limbs
		case 4, 5:
			mBits = 36*radix28 + 1 + ri.IntN(radix28) // 37 limbs
		default:
			mBits = 64 + ri.IntN(2048-64+1)
		}
		m := montRandom(rng, mBits, true)
		var e *big.Int
		switch eBits := ri.IntN(mBits + 64); i % 50 {
		case 0:
			e = new(big.Int)
		case 1:
			e = big.NewInt(1)
		case 2:
			e = new(big.Int).Sub(new(big.Int).Lsh(one, uint(eBits+1)), one) // all ones
		default:
			e = montRandom(rng, eBits+1, false)
		}
		checkExp28(t, &z, m, e)
	}
}

// TestMont28ExpBase2Edges covers moduli whose shape stresses carries,
// column sums and final subtractions: all-ones limbs, a top limb of 1, a
// full top limb, m = R - small, tiny moduli; for 19 and 37 limbs (the
// unrolled squarings) and others.
func TestMont28ExpBase2Edges(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{3})
	ri := mathrand.New(rng)
	var moduli []*big.Int
	for _, v := range []int64{3, 5, 7, 9, 11, 15, 341, 561, 65537, 1<<27 - 1, 1<<27 + 1, 1<<28 - 1, 1<<28 + 1, 1<<31 - 1, 1<<32 - 1, 1<<32 + 1, 1<<56 - 1} {
		moduli = append(moduli, big.NewInt(v))
	}
	for _, bits := range []int{32, 64, 511, 512, 1023, 1024, 1025, 2048} {
		moduli = append(moduli, new(big.Int).Sub(new(big.Int).Lsh(one, uint(bits)), one)) // 2^bits - 1
	}
	for _, k := range []int{1, 2, 3, 18, 19, 20, 36, 37, 38, 73} {
		R := new(big.Int).Lsh(one, uint(radix28*k))
		half := new(big.Int).Rsh(R, 1)
		moduli = append(moduli,
			new(big.Int).Sub(R, one),                              // all-ones limbs
			new(big.Int).Sub(R, big.NewInt(3)),                    // R - small
			new(big.Int).Add(R, one),                              // k+1 limbs, top limb 1
			new(big.Int).Add(R, montRandom(rng, radix28*k, true)), // top limb 1
			new(big.Int).Add(half, one),                           // 2^(28k-1) + 1
			new(big.Int).Sub(half, one),                           // 2^(28k-1) - 1
			new(big.Int).Add(new(big.Int).Rsh(R, radix28-1), one), // (k limbs), top limb 2
		)
	}
	var z mont28
	for _, m := range moduli {
		mBits := m.BitLen()
		exps := []*big.Int{
			new(big.Int), big.NewInt(1), big.NewInt(2), big.NewInt(27), big.NewInt(28), big.NewInt(29),
			new(big.Int).Sub(m, one), m, new(big.Int).Add(m, one),
			new(big.Int).Sub(new(big.Int).Lsh(one, uint(mBits+40)), one),
		}
		for range 5 {
			exps = append(exps, montRandom(rng, 1+ri.IntN(mBits+40), false))
		}
		for _, e := range exps {
			checkExp28(t, &z, m, e)
		}
		checkFermat28(t, &z, m)
	}
}

// TestMont28SqrUnrolled compares the generated squarings with sqrLoops on
// random inputs below m, including m - 1 (the largest column sums).
func TestMont28SqrUnrolled(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{5})
	ri := mathrand.New(rng)
	var z, w mont28
	for _, n := range mont28GenSizes {
		for i := range 500 {
			var m *big.Int
			if i%5 == 0 {
				m = new(big.Int).Sub(new(big.Int).Lsh(one, uint(radix28*n)), one)
			} else {
				m = montRandom(rng, radix28*(n-1)+1+ri.IntN(radix28), true)
			}
			z.setModulus(m)
			w.setModulus(m)
			if z.n != n {
				t.Fatalf("%d-bit modulus has %d limbs, want %d", m.BitLen(), z.n, n)
			}
			a := montRandom(rng, m.BitLen(), false)
			a.Mod(a, m)
			if i%3 == 0 {
				a.Sub(m, one)
			}
			limbs28(z.a, a)
			limbs28(w.a, a)
			if !z.sqrUnrolled() {
				t.Fatalf("no unrolled squaring for %d limbs", n)
			}
			w.sqrLoops()
			if value28(z.a).Cmp(value28(w.a)) != 0 {
				t.Fatalf("n=%d m=%x a=%x: unrolled %x, loops %x", n, m, a, value28(z.a), value28(w.a))
			}
			// a²·R^-1 mod m, by math/big.
			want := new(big.Int).Mul(a, a)
			want.Mul(want, fromMont28(&z, []uint32{1})).Mod(want, m)
			if value28(z.a).Cmp(want) != 0 {
				t.Fatalf("n=%d m=%x a=%x: got %x, want %x", n, m, a, value28(z.a), want)
			}
		}
	}
}

// TestMont28Fermat2 checks fermat2 against math/big on base-2 pseudoprimes
// and Carmichael numbers (composite, yet they pass: fermat2 must say
// true), composites that fail, Mersenne numbers, safe primes, random
// primes and random odd numbers.
func TestMont28Fermat2(t *testing.T) {
	var z mont28
	// Base-2 Fermat pseudoprimes (OEIS A001567); 561, 1105, 1729, 2465,
	// 2821, 6601 and 8911 are Carmichael numbers.
	for _, v := range []int64{341, 561, 645, 1105, 1387, 1729, 1905, 2047, 2465, 2701, 2821, 3277, 4033, 4369, 4371, 4681, 5461, 6601, 7957, 8321, 8481, 8911} {
		if !checkFermat28(t, &z, big.NewInt(v)) {
			t.Fatalf("%d is a base-2 pseudoprime, fermat2 said false", v)
		}
	}
	for _, v := range []int64{9, 15, 21, 25, 27, 33, 91, 1023} {
		if checkFermat28(t, &z, big.NewInt(v)) {
			t.Fatalf("fermat2(%d) = true", v)
		}
	}
	// 2^p - 1 for prime p passes (p | 2^p - 2), prime or not: 2^11-1,
	// 2^67-1, 2^257-1 and 2^1061-1 are composite.
	for _, p := range []uint{11, 67, 127, 257, 521, 607, 1061, 2203} {
		M := new(big.Int).Sub(new(big.Int).Lsh(one, p), one)
		if !checkFermat28(t, &z, M) {
			t.Fatalf("fermat2(2^%d-1) = false", p)
		}
	}
	// Chernick Carmichael numbers (6k+1)(12k+1)(18k+1) with the three
	// factors prime, of about 100 bits.
	found := 0
	for k := int64(1 << 30); found < 3; k++ {
		f := []*big.Int{big.NewInt(6*k + 1), big.NewInt(12*k + 1), big.NewInt(18*k + 1)}
		if !f[0].ProbablyPrime(10) || !f[1].ProbablyPrime(10) || !f[2].ProbablyPrime(10) {
			continue
		}
		c := new(big.Int).Mul(f[0], f[1])
		c.Mul(c, f[2])
		if !checkFermat28(t, &z, c) {
			t.Fatalf("Carmichael number %v: fermat2 = false", c)
		}
		found++
	}
	// The 1024- and 2048-bit MODP safe primes of RFC 2409 (group 2) and RFC
	// 3526 (group 14), and their Sophie Germain primes (1023 and 2047 bits).
	for _, h := range []string{modp1024, modp2048} {
		P, _ := new(big.Int).SetString(h, 16)
		q := new(big.Int).Rsh(P, 1)
		if !checkFermat28(t, &z, P) || !checkFermat28(t, &z, q) {
			t.Fatalf("fermat2 false for a MODP safe prime or its q")
		}
	}
	sizes := []int{64, 65, 96, 127, 128, 511, 512, 513, 1023, 1024, 1025, 2048}
	for _, bits := range sizes {
		for range 3 {
			p, err := cryptorand.Prime(cryptorand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			if !checkFermat28(t, &z, p) {
				t.Fatalf("fermat2(prime %v) = false", p)
			}
		}
	}
	rng := mathrand.NewChaCha8([32]byte{4})
	n := 1000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		checkFermat28(t, &z, montRandom(rng, sizes[i%len(sizes)], true))
	}
}

const (
	modp1024 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
	modp2048 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
)

// TestFermat2State checks the searcher's Fermat test, whichever GOARCH
// chose, against big.Int.Exp at the sizes of the search.
func TestFermat2State(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{6})
	var f fermat2State
	for _, bits := range []int{16, 63, 511, 512, 1023, 1024, maxBits28, maxBits28 + 1, 4096} {
		xs := []*big.Int{}
		for range min(20, 20480/bits) {
			xs = append(xs, montRandom(rng, bits, true))
		}
		for range 2 {
			if bits > 1024 {
				break
			}
			p, err := cryptorand.Prime(cryptorand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, p)
		}
		for _, x := range xs {
			want := new(big.Int).Exp(two, new(big.Int).Sub(x, one), x).Cmp(one) == 0
			if got := f.test(x); got != want {
				t.Fatalf("fermat2(%v) = %v, want %v", x, got, want)
			}
		}
	}
}

// TestMont28Largest checks the largest modulus mont28 takes (127 limbs,
// where a column sum comes closest to 2^64) with all limbs at their
// maximum, and that one more bit is refused.
func TestMont28Largest(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{7})
	R := new(big.Int).Lsh(one, maxBits28)
	var z mont28
	for _, m := range []*big.Int{new(big.Int).Sub(R, one), new(big.Int).Sub(R, big.NewInt(3)), montRandom(rng, maxBits28, true)} {
		for _, e := range []*big.Int{big.NewInt(5), new(big.Int).Sub(new(big.Int).Lsh(one, 40), one), montRandom(rng, 200, false)} {
			checkExp28(t, &z, m, e)
		}
		// a = m-1: every limb of a and, for m = R-1, of m at 2^28-1.
		a := new(big.Int).Sub(m, one)
		limbs28(z.a, a)
		z.sqr()
		want := new(big.Int).Mul(a, a)
		want.Mul(want, fromMont28(&z, []uint32{1})).Mod(want, m)
		if value28(z.a).Cmp(want) != 0 {
			t.Fatalf("m=%x: (m-1)²/R: got %x, want %x", m, value28(z.a), want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a modulus over maxBits28")
		}
	}()
	z.setModulus(new(big.Int).Add(R, one))
}
