module github.com/otiai10/primes

go 1.22
