// Package preparams generates and checks the keygen pre-parameters of
// tss-lib (keygen.LocalPreParams): a Paillier key and the range-proof
// modulus NTilde with its bases h1, h2, built from four 1024-bit safe primes.
//
// tss-lib's own keygen.GeneratePreParams searches with goroutines spinning
// in tight loops, which never yield under the cooperative scheduler of
// GOOS=js and deadlock there, and its shallow sieve makes it slow. This
// package finds safe primes with a combined sieve in the caller's goroutine
// (SafePrime), builds the pre-parameters from them exactly as tss-lib does
// (Assemble), and checks them (Validate, ValidateWithProofs). Generate does
// all of it in one call.
//
// Pre-parameters are secret: whoever knows a party's Paillier primes can
// attack it, so each party must make its own.
package preparams

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"io"
	"math/big"
	"runtime"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// paillierMinDiffBits is tss-lib's rule for the Paillier primes
// (paillier.GenerateKeyPair, KS-BTL-F-03): |P-Q| must have at least
// 1024-3 bits, so that N cannot be factored from P ≈ Q ≈ sqrt(N) (Fermat's
// method).
const paillierMinDiffBits = SafePrimeBits - 3

// Progress describes how far a search has come. A search for one 1024-bit
// safe prime runs on average ~620 Fermat tests (Tested), so Tested is the
// best measure of the work done; each test costs one modular exponentiation.
type Progress struct {
	// Candidates is the number of odd q the sieve has gone past, each
	// standing for one candidate P = 2q+1; most never need a test.
	Candidates int
	// Tested is the number of candidates that survived the sieve and got a
	// Fermat test.
	Tested int
	// PrimesFound is the number of safe primes found so far.
	PrimesFound int
	// PrimesNeeded is the number of safe primes the call needs: 1 for
	// SafePrime, 4 for Generate, one more each time the primes found so far
	// turn out too close together for the Paillier key.
	PrimesNeeded int
}

// Options tunes SafePrime and Generate. A nil *Options means the defaults.
type Options struct {
	// Rand is the source of randomness; nil means crypto/rand.Reader.
	Rand io.Reader
	// Concurrency is the number of safe-prime searches Generate runs at once
	// natively, each in its own goroutine; <= 0 means runtime.NumCPU(). It is
	// always 1 under GOOS=js, where goroutines cannot run in parallel; there
	// the caller runs SafePrime on several workers instead.
	Concurrency int
	// Progress, if set, is called every 64 tests or so and when a prime is
	// found. Calls are serialized, also when Generate searches concurrently.
	Progress func(Progress)
	// Yield, if set, is called every few tests and after each sieved window,
	// from the searching goroutine. Under GOOS=js it is the moment to let the
	// event loop run (for instance to receive a cancellation).
	Yield func()
	// Pause, if set, is called right after each Yield with the search's
	// context — Generate's own, which ends as soon as the set is made, the
	// call fails or its caller's context ends. It may block to pause the
	// search (a server party pauses background generations for its
	// sessions) and must return once that context is done.
	Pause func(ctx context.Context)
}

type config struct {
	rand        io.Reader
	concurrency int
	progress    func(Progress)
	yield       func()
	pause       func(context.Context)
}

// yielder is the yield of a search running under ctx: Yield, then Pause.
func (c config) yielder(ctx context.Context) func() {
	if c.pause == nil {
		return c.yield
	}
	return func() {
		c.yield()
		c.pause(ctx)
	}
}

func (o *Options) config() config {
	var c config
	if o != nil {
		c = config{rand: o.Rand, concurrency: o.Concurrency, progress: o.Progress, yield: o.Yield, pause: o.Pause}
	}
	if c.rand == nil {
		c.rand = cryptorand.Reader
	}
	if c.concurrency <= 0 {
		c.concurrency = runtime.NumCPU()
	}
	if runtime.GOOS == "js" {
		c.concurrency = 1
	}
	if c.yield == nil {
		c.yield = func() {}
	}
	return c
}

// Generate makes a complete set of pre-parameters: it searches safe primes
// (Concurrency searches at once, sequentially under GOOS=js) until Assemble
// succeeds with them. It returns an error matching ErrCancelled when ctx is
// done first; all its goroutines have ended when it returns.
func Generate(ctx context.Context, o *Options) (*keygen.LocalPreParams, error) {
	cfg := o.config()
	if cfg.concurrency > 1 {
		cfg.rand = &lockedReader{r: cfg.rand}
	}
	g := &generator{progress: cfg.progress, state: Progress{PrimesNeeded: 4}}

	if cfg.concurrency == 1 {
		for {
			P, err := g.search(ctx, cfg)
			if err != nil {
				return nil, err
			}
			if pp, err := g.add(P, cfg.rand); pp != nil || err != nil {
				return pp, err
			}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: no search outlives Generate
	defer cancel()
	found := make(chan *big.Int)
	failed := make(chan error, cfg.concurrency)
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				P, err := g.search(ctx, cfg)
				if err != nil {
					failed <- err
					return
				}
				select {
				case found <- P:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for {
		select {
		case P := <-found:
			if pp, err := g.add(P, cfg.rand); pp != nil || err != nil {
				return pp, err
			}
		case err := <-failed:
			return nil, err
		case <-ctx.Done():
			return nil, cancelled(ctx.Err())
		}
	}
}

// generator collects the primes of one Generate call and aggregates the
// progress of its searches.
type generator struct {
	mu       sync.Mutex // guards state and serializes progress calls
	progress func(Progress)
	state    Progress
	primes   []*big.Int // touched only by Generate's own goroutine
}

func (g *generator) search(ctx context.Context, cfg config) (*big.Int, error) {
	s, err := newSearcher(SafePrimeBits, cfg.rand, cfg.yielder(ctx), g.report)
	if err != nil {
		return nil, err
	}
	return s.run(ctx)
}

func (g *generator) report(candidates, tested int) {
	g.update(func(p *Progress) {
		p.Candidates += candidates
		p.Tested += tested
	})
}

func (g *generator) update(f func(*Progress)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(&g.state)
	if g.progress != nil {
		g.progress(g.state)
	}
}

// add records a new safe prime and, once there are four, tries to assemble.
// It returns (nil, nil) while more primes are needed.
func (g *generator) add(P *big.Int, rand io.Reader) (*keygen.LocalPreParams, error) {
	for _, other := range g.primes {
		if other.Cmp(P) == 0 {
			return nil, nil // two searches met; astronomically rare
		}
	}
	g.primes = append(g.primes, P)
	g.update(func(p *Progress) { p.PrimesFound = len(g.primes) })
	if len(g.primes) < 4 {
		return nil, nil
	}
	pp, err := Assemble(g.primes, rand)
	if errors.Is(err, ErrNeedMorePrimes) {
		g.update(func(p *Progress) { p.PrimesNeeded = len(g.primes) + 1 })
		return nil, nil
	}
	return pp, err
}

// lockedReader serializes reads for readers not meant for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}

// Assemble builds pre-parameters from at least four distinct safe primes of
// SafePrimeBits bits with their top two bits set (as SafePrime makes them).
//
// Two of them form the Paillier key; tss-lib requires |P-Q| to have at least
// 1021 bits, i.e. |P-Q| >= 2^1020, a quarter of the range [3·2^1022, 2^1024)
// the primes come from. A random pair fails that rule with probability
// 1-(3/4)^2 = 7/16, and all six pairs of four primes fail when the four lie
// within a quarter of the range, probability 4(1/4)^3 - 3(1/4)^4 ≈ 1/20.
// So every pairing is tried; if none satisfies the rule, Assemble returns an
// error matching ErrNeedMorePrimes and the caller should find one more
// prime and call again with all of them. Two of the others, P' = 2p+1 and
// Q' = 2q+1, form NTilde = P'Q', and as in tss-lib
//
//	h1 = f^2 mod NTilde, h2 = h1^alpha mod NTilde, beta = alpha^-1 mod pq
//
// with f and alpha random units mod NTilde. h1 is a random square, so it
// generates the group of quadratic residues mod NTilde (order pq), and the
// DLN proofs of keygen round 1 show h2 = h1^alpha and h1 = h2^beta.
//
// Inputs that are not such safe primes, duplicates and fewer than four
// primes give an error matching ErrInvalid. The result passes Validate.
func Assemble(safePrimes []*big.Int, rand io.Reader) (*keygen.LocalPreParams, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	if len(safePrimes) < 4 {
		return nil, invalidf("need at least 4 safe primes, got %d", len(safePrimes))
	}
	for i, P := range safePrimes {
		if err := checkSafePrime(P, confirmRounds); err != nil {
			return nil, invalidf("safe prime #%d: %v", i, err)
		}
		if P.Bit(SafePrimeBits-2) != 1 {
			return nil, invalidf("safe prime #%d: second highest bit not set", i)
		}
		for j := range i {
			if safePrimes[j].Cmp(P) == 0 {
				return nil, invalidf("safe primes #%d and #%d are equal", j, i)
			}
		}
	}
	i, j, ok := paillierPair(safePrimes)
	if !ok {
		return nil, &Error{Code: CodeNeedMorePrimes, Msg: "no two of the safe primes are far enough apart for the Paillier key"}
	}
	var rest []*big.Int
	for k, P := range safePrimes {
		if k != i && k != j {
			rest = append(rest, P)
		}
	}
	pp, err := build(safePrimes[i], safePrimes[j], rest[0], rest[1], rand)
	if err != nil {
		return nil, err
	}
	if err := Validate(pp); err != nil {
		return nil, err
	}
	return pp, nil
}

// paillierPair returns the first pair i < j whose difference satisfies the
// Paillier rule.
func paillierPair(primes []*big.Int) (i, j int, ok bool) {
	var d big.Int
	for i := range primes {
		for j := i + 1; j < len(primes); j++ {
			if d.Sub(primes[i], primes[j]).BitLen() >= paillierMinDiffBits {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// build computes the pre-parameters from the Paillier primes P, Q and the
// NTilde safe primes NP, NQ, following keygen.GeneratePreParams and
// paillier.GenerateKeyPair.
func build(P, Q, NP, NQ *big.Int, rand io.Reader) (*keygen.LocalPreParams, error) {
	pm1 := new(big.Int).Sub(P, one)
	qm1 := new(big.Int).Sub(Q, one)
	phiN := new(big.Int).Mul(pm1, qm1)
	gcd := new(big.Int).GCD(nil, nil, pm1, qm1)
	sk := &paillier.PrivateKey{
		PublicKey: paillier.PublicKey{N: new(big.Int).Mul(P, Q)},
		PhiN:      phiN,
		LambdaN:   new(big.Int).Div(phiN, gcd), // lcm(P-1, Q-1)
		P:         P,
		Q:         Q,
	}

	nTilde := new(big.Int).Mul(NP, NQ)
	p := new(big.Int).Rsh(NP, 1)
	q := new(big.Int).Rsh(NQ, 1)
	pq := new(big.Int).Mul(p, q)
	for {
		f, err := randomUnit(rand, nTilde)
		if err != nil {
			return nil, err
		}
		alpha, err := randomUnit(rand, nTilde)
		if err != nil {
			return nil, err
		}
		beta := new(big.Int).ModInverse(alpha, pq)
		h1 := new(big.Int).Mul(f, f)
		h1.Mod(h1, nTilde)
		h2 := new(big.Int).Exp(h1, alpha, nTilde)
		// Redraw in the cases of negligible probability that Validate
		// rejects: alpha not invertible mod pq, h1 of order < pq, h1 = h2.
		if beta == nil || !generatesQR(h1, p, q, nTilde) || h1.Cmp(h2) == 0 {
			continue
		}
		return &keygen.LocalPreParams{
			PaillierSK: sk,
			NTildei:    nTilde,
			H1i:        h1,
			H2i:        h2,
			Alpha:      alpha,
			Beta:       beta,
			P:          p,
			Q:          q,
		}, nil
	}
}

// randomUnit returns a uniform element of [1, n) coprime to n.
func randomUnit(r io.Reader, n *big.Int) (*big.Int, error) {
	var g big.Int
	for {
		x, err := cryptorand.Int(r, n)
		if err != nil {
			return nil, randomFailure(err)
		}
		if x.Sign() > 0 && g.GCD(nil, nil, x, n).Cmp(one) == 0 {
			return x, nil
		}
	}
}
