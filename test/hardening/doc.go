// Package hardening holds tests that feed each class of bad input to the
// real components — the router, the coordinator and its account API, the
// server parties and their vaults, the engine behind them — and check that
// the caller gets a typed error, that nothing is stored or lost, and that
// the service still serves the next valid request. docs/hardening.md maps
// every class to the tests, here and elsewhere, that cover it.
//
// The tests run the in-process quorum (internal/quorumtest) with the
// committed fixture pre-parameters; a malicious party is the real engine
// behind a proxy (seat_test.go) that can rewrite any message it sends
// before sealing it with the party's real session keys.
package hardening
