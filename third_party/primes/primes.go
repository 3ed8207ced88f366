// Package primes stands in for github.com/otiai10/primes, from which
// tss-lib's Paillier proof check takes the primes below 1000
// (primes.Globally.Until and primes.Until(n).List). The real package
// compiles a regular expression when it loads, which links regexp and the
// Unicode tables: 0.4 MB of tss.wasm (80 KB of its brotli). This one keeps
// just that API: a sieve, cached, safe for concurrent use.
package primes

import "sync"

// Primes is the list of the primes up to a bound.
type Primes struct{ list []int64 }

// List returns the primes in increasing order. Callers must not modify it.
func (p *Primes) List() []int64 { return p.list }

type cache struct {
	mu   sync.Mutex
	upto int64
	list []int64 // the primes <= upto
}

// Globally is the shared cache, as in the real package.
var Globally = &cache{}

// Until returns the primes <= n, sieving further only when n is beyond
// what the cache holds.
func (c *cache) Until(n int64) *Primes {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.upto {
		c.list = sieve(n)
		c.upto = n
	}
	i := len(c.list)
	for i > 0 && c.list[i-1] > n {
		i--
	}
	return &Primes{list: c.list[:i:i]}
}

// Until returns the primes <= n.
func Until(n int64) *Primes { return Globally.Until(n) }

// sieve is Eratosthenes' sieve up to n.
func sieve(n int64) []int64 {
	if n < 2 {
		return nil
	}
	composite := make([]bool, n+1)
	var out []int64
	for i := int64(2); i <= n; i++ {
		if composite[i] {
			continue
		}
		out = append(out, i)
		for j := i * i; j <= n; j += i {
			composite[j] = true
		}
	}
	return out
}
