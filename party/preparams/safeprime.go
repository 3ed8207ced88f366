package preparams

import (
	"context"
	"encoding/binary"
	"io"
	"math/big"
	"math/bits"
	"sort"
	"sync"
)

// SafePrimeBits is the size of each of the four safe primes in a set of
// pre-parameters. tss-lib requires the Paillier modulus N and the range-proof
// modulus NTilde to be exactly 2048 bits, each a product of two safe primes.
const SafePrimeBits = 1024

const (
	// minSafePrimeBits is the smallest size SafePrime accepts. Sizes this
	// small are useless for cryptography and exist for tests; the sieve only
	// uses primes below 2^(bits-3), which must leave it some primes.
	minSafePrimeBits = 16

	// sieveBound: the sieve removes every candidate q for which q or 2q+1 has
	// an odd prime factor <= sieveBound. By Mertens' theorem the fraction of
	// odd q surviving is about prod_{3<=p<=B}(1-2/p) ≈ 0.83/ln(B)^2, so each
	// doubling of B saves some Fermat tests (per 1024-bit prime about 820 at
	// B = 2^20, 680 at 2^22, 620 at 2^23, 570 at 2^24), while sieving a
	// window costs time in proportion to the number of primes (natively
	// 11, 31, 52 and 90 ms, i.e. 30, 90, 150 and 255 tests' worth). Natively
	// the total is flat from 2^22 to 2^23. Under wasm the bound was chosen
	// when a test cost about seven times more than natively (2^23 was then
	// 7% faster than 2^22); with the Montgomery test of mont28.go a test
	// costs about twice as much as natively, and the best bound there has
	// not been measured again. The table holds 564,162 primes (2.2 MB),
	// built once per process.
	sieveBound = 1 << 23

	// windowLen is the number of candidates q0, q0+2, ... sieved at once.
	// A 1024-bit safe prime occurs about once per 190,000 odd q, so a window
	// of 2^19 holds one with probability ~94% and a search rarely pays for
	// the residues of a second window; the bitmap is 64 KiB. Smaller windows
	// repeat the residue computation more often, larger ones only add
	// marking work past the prime that ends the search.
	windowLen = 1 << 19

	// sieveChunk is how many sieve primes are processed between two
	// context checks (well under a millisecond natively).
	sieveChunk = 4096

	// yieldEvery and progressEvery count Fermat tests (each one modular
	// exponentiation: at 1024 bits about 0.35 ms natively, 0.75 ms in wasm
	// with mont28) between two calls of Options.Yield and Options.Progress.
	yieldEvery    = 8
	progressEvery = 64

	// confirmRounds: Miller-Rabin rounds (plus Baillie-PSW, see
	// big.Int.ProbablyPrime) applied to q and P before a safe prime is
	// returned. The Fermat tests of the search are only a filter.
	confirmRounds = 20
)

var (
	one = big.NewInt(1)
	two = big.NewInt(2)

	sievePrimesOnce  sync.Once
	sievePrimesTable []uint32
)

// sievePrimes returns the odd primes up to sieveBound, computed once.
func sievePrimes() []uint32 {
	sievePrimesOnce.Do(func() { sievePrimesTable = oddPrimesUpTo(sieveBound) })
	return sievePrimesTable
}

// oddPrimesUpTo is the sieve of Eratosthenes over the odd numbers: bit i
// stands for 2i+1.
func oddPrimesUpTo(n int) []uint32 {
	size := n/2 + 1
	composite := make([]uint64, (size+63)/64)
	var primes []uint32
	for i := 1; i < size && 2*i+1 <= n; i++ {
		if composite[i/64]>>(i%64)&1 == 1 {
			continue
		}
		p := 2*i + 1
		primes = append(primes, uint32(p))
		if p > n/p {
			continue
		}
		for j := p * p / 2; j < size; j += p {
			composite[j/64] |= 1 << (j % 64)
		}
	}
	return primes
}

// SafePrime returns a safe prime P = 2q+1 (q prime) of exactly bits bits
// whose two top bits are set, so that the product of two of them has exactly
// 2*bits bits.
//
// It is one unit of work: it runs in the caller's goroutine and starts none,
// so it can run on one Web Worker each under GOOS=js. It checks ctx after
// every test and every few thousand sieve primes (at most a few
// milliseconds apart, also under GOOS=js) and returns an error
// matching ErrCancelled and wrapping ctx.Err() once ctx is done.
// Options.Concurrency is ignored.
//
// The search is Wiener's combined sieve ("Safe Prime Generation with a
// Combined Sieve", 2003): from a random odd q0, the candidates q = q0+2k of a
// window are sieved at once for small factors of q and of 2q+1; each
// survivor gets a Fermat test to base 2 for q, then for P = 2q+1. With q
// prime, Pocklington's criterion makes the second test a proof: P-1 = 2q
// with q > sqrt(P), so 2^(P-1) ≡ 1 (mod P) and gcd(2^2-1, P) = 1 (the sieve
// has removed multiples of 3) imply P is prime. Both are confirmed with
// big.Int.ProbablyPrime before the prime is returned.
func SafePrime(ctx context.Context, bits int, o *Options) (*big.Int, error) {
	cfg := o.config()
	progress := Progress{PrimesNeeded: 1}
	report := func(candidates, tested int) {
		progress.Candidates += candidates
		progress.Tested += tested
		if cfg.progress != nil {
			cfg.progress(progress)
		}
	}
	s, err := newSearcher(bits, cfg.rand, cfg.yielder(ctx), report)
	if err != nil {
		return nil, err
	}
	P, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.progress != nil {
		progress.PrimesFound = 1
		cfg.progress(progress)
	}
	return P, nil
}

// searcher is the state of one safe-prime search. Its big.Ints and buffers
// are reused from candidate to candidate and from window to window.
type searcher struct {
	bits   int // size of P; q has bits-1 bits
	rand   io.Reader
	primes []uint32 // sieve primes, all below 2^(bits-3) <= q0
	yield  func()
	report func(candidates, tested int) // increments since the previous call

	random    []byte   // raw bytes of q0
	digitBuf  []byte   // q0 as fixed-size big-endian bytes
	digits    []uint32 // q0 in base 2^32, most significant first
	composite []uint64 // bit k set: q0+2k or 2(q0+2k)+1 has a small factor
	n         int      // candidates in the current window

	q0, q, p, t big.Int
	fermat      fermat2State // per GOARCH: mont_fermat_*.go

	candidates, tested int // not yet reported
	total              int // tests since the search started
}

func newSearcher(bitLen int, rand io.Reader, yield func(), report func(int, int)) (*searcher, error) {
	if bitLen < minSafePrimeBits {
		return nil, invalidf("safe prime size %d bits is below the minimum of %d", bitLen, minSafePrimeBits)
	}
	qBits := bitLen - 1
	// q0 has its top two bits set, so q0 >= 3*2^(qBits-2) > 2^(bitLen-3):
	// a sieve prime below that can divide q or 2q+1 only as a proper factor,
	// so the sieve never discards a safe prime.
	primes := sievePrimes()
	if bitLen-3 < 32 {
		limit := uint32(1) << (bitLen - 3)
		primes = primes[:sort.Search(len(primes), func(i int) bool { return primes[i] >= limit })]
	}
	nDigits := (qBits + 31) / 32
	return &searcher{
		bits:      bitLen,
		rand:      rand,
		primes:    primes,
		yield:     yield,
		report:    report,
		random:    make([]byte, (qBits+7)/8),
		digitBuf:  make([]byte, 4*nDigits),
		digits:    make([]uint32, nDigits),
		composite: make([]uint64, windowLen/64),
	}, nil
}

// run searches window after window, each from a fresh random q0, until it
// finds a safe prime or ctx is done.
func (s *searcher) run(ctx context.Context) (*big.Int, error) {
	defer s.flush()
	for {
		if err := s.newWindow(ctx); err != nil {
			return nil, err
		}
		P, err := s.scan(ctx)
		if P != nil || err != nil {
			return P, err
		}
	}
}

func (s *searcher) flush() {
	if s.candidates != 0 || s.tested != 0 {
		s.report(s.candidates, s.tested)
		s.candidates, s.tested = 0, 0
	}
}

// newWindow draws q0 and sieves the window q0, q0+2, ..., q0+2(n-1).
func (s *searcher) newWindow(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return cancelled(err)
	}
	qBits := s.bits - 1
	if _, err := io.ReadFull(s.rand, s.random); err != nil {
		return randomFailure(err)
	}
	// Keep qBits bits, set the top two (as tss-lib does) and make q0 odd.
	s.random[0] &= 0xff >> (8*len(s.random) - qBits)
	s.q0.SetBytes(s.random)
	s.q0.SetBit(&s.q0, qBits-1, 1)
	s.q0.SetBit(&s.q0, qBits-2, 1)
	s.q0.SetBit(&s.q0, 0, 1)

	// The window must not run past 2^qBits: (2^qBits - q0 + 1)/2 odd numbers
	// are left. This only binds for tiny sizes.
	s.n = windowLen
	s.t.Lsh(one, uint(qBits))
	s.t.Sub(&s.t, &s.q0)
	s.t.Add(&s.t, one)
	s.t.Rsh(&s.t, 1)
	if s.t.IsUint64() && s.t.Uint64() < windowLen {
		s.n = int(s.t.Uint64())
	}

	s.q0.FillBytes(s.digitBuf)
	for i := range s.digits {
		s.digits[i] = binary.BigEndian.Uint32(s.digitBuf[4*i:])
	}
	words := s.composite[:(s.n+63)/64]
	clear(words)
	if tail := s.n % 64; tail != 0 {
		words[len(words)-1] = ^uint64(0) << tail // positions >= n are not candidates
	}
	for i := 0; i < len(s.primes); i += sieveChunk {
		if err := ctx.Err(); err != nil {
			return cancelled(err)
		}
		markPrimes(words, s.n, s.digits, s.primes[i:min(i+sieveChunk, len(s.primes))])
	}
	s.yield()
	return nil
}

// markPrimes sets bit k of composite, for every k in [0, n), when one of
// primes divides q = q0+2k or 2q+1; q0 is given by its base-2^32 digits.
//
// For an odd prime p with r = q0 mod p and h = (p+1)/2 = 2^-1 mod p:
//
//	p | q0+2k      ⇔  k ≡ -r·h           (mod p)
//	p | 2(q0+2k)+1 ⇔  q0+2k ≡ -h ≡ h-1   (mod p)  ⇔  k ≡ (h-1-r)·h (mod p)
//
// so each prime strikes two arithmetic progressions of step p.
func markPrimes(composite []uint64, n int, digits []uint32, primes []uint32) {
	for _, p32 := range primes {
		p := uint64(p32)
		var r uint64
		for _, d := range digits {
			r = (r<<32 | uint64(d)) % p
		}
		h := (p + 1) / 2
		strike(composite, n, (p-r)%p*h%p, p)
		strike(composite, n, (h-1+p-r)%p*h%p, p)
	}
}

func strike(composite []uint64, n int, k, step uint64) {
	for ; k < uint64(n); k += step {
		composite[k/64] |= 1 << (k % 64)
	}
}

// scan tests the survivors of the current window in order.
func (s *searcher) scan(ctx context.Context) (*big.Int, error) {
	seen := 0 // positions of this window already counted in s.candidates
	for w, word := range s.composite[:(s.n+63)/64] {
		for free := ^word; free != 0; free &= free - 1 {
			k := 64*w + bits.TrailingZeros64(free)
			s.candidates += k + 1 - seen
			seen = k + 1
			if P := s.test(k); P != nil {
				return P, nil
			}
			if err := s.tick(ctx); err != nil {
				return nil, err
			}
		}
	}
	s.candidates += s.n - seen
	return nil, nil
}

// test examines q = q0+2k and returns P = 2q+1 if it is a safe prime of the
// wanted size.
func (s *searcher) test(k int) *big.Int {
	s.t.SetUint64(2 * uint64(k))
	s.q.Add(&s.q0, &s.t)
	s.tested++
	s.total++
	if !s.fermat2(&s.q) {
		return nil
	}
	s.p.Lsh(&s.q, 1)
	s.p.SetBit(&s.p, 0, 1)
	if !s.fermat2(&s.p) {
		return nil
	}
	if s.p.BitLen() != s.bits || !s.q.ProbablyPrime(confirmRounds) || !s.p.ProbablyPrime(confirmRounds) {
		return nil
	}
	return new(big.Int).Set(&s.p)
}

// fermat2 reports whether 2^(x-1) ≡ 1 (mod x): big.Int.Exp natively,
// mont28 under GOARCH=wasm (mont_fermat_*.go).
func (s *searcher) fermat2(x *big.Int) bool {
	return s.fermat.test(x)
}

// tick runs after every test: cancellation check, and now and then a yield
// and a progress report.
func (s *searcher) tick(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return cancelled(err)
	}
	if s.total%yieldEvery == 0 {
		s.yield()
	}
	if s.total%progressEvery == 0 {
		s.flush()
	}
	return nil
}
