package testkit

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/share"
)

// preParamsJSON holds pre-parameters made by package preparams (one set per
// test party), so tests need not search for safe primes each run. Regenerate
// with: go test ./party/preparams -run TestWriteFixture -update-fixture
//
//go:embed preparams.json
var preParamsJSON []byte

var (
	fixtureOnce sync.Once
	fixture     []*keygen.LocalPreParams
	fixtureErr  error
)

// FixtureCount is the number of committed pre-params sets.
const FixtureCount = 5

// PreParams returns fixture set i (0..FixtureCount-1). Each test party must
// get its own set: two parties with the same NTilde fail keygen round 2.
func PreParams(i int) (*keygen.LocalPreParams, error) {
	fixtureOnce.Do(func() {
		var raw []json.RawMessage
		if fixtureErr = json.Unmarshal(preParamsJSON, &raw); fixtureErr != nil {
			return
		}
		for _, r := range raw {
			pp, err := preparams.Unmarshal(r)
			if err != nil {
				fixtureErr = err
				return
			}
			fixture = append(fixture, pp)
		}
	})
	if fixtureErr != nil {
		return nil, fixtureErr
	}
	if i < 0 || i >= len(fixture) {
		return nil, fmt.Errorf("testkit: no pre-params fixture %d (have %d)", i, len(fixture))
	}
	pp := *fixture[i]
	return &pp, nil
}

// PreParamsSet returns fixture sets 0..n-1, one per party of a session.
func PreParamsSet(n int) ([]*keygen.LocalPreParams, error) {
	pps := make([]*keygen.LocalPreParams, n)
	for i := range pps {
		pp, err := PreParams(i)
		if err != nil {
			return nil, err
		}
		pps[i] = pp
	}
	return pps, nil
}

// RunKeygen runs keygen among ids over net (a new one when nil), party i
// using fixture pre-params i and its identity in d.
func RunKeygen(ctx context.Context, d *memnet.Identities, sessionID, walletID string, ids []string, signersNeeded int, net *memnet.Net) ([]memnet.Outcome[*party.KeygenResult], error) {
	pps, err := PreParamsSet(len(ids))
	if err != nil {
		return nil, err
	}
	spec := memnet.Spec{Kind: identity.SessionKeygen, ID: sessionID, WalletID: walletID, Threshold: signersNeeded, Parties: ids}
	return memnet.RunSession(ctx, net, d, spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.KeygenResult, error) {
			return party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: walletID, PreParams: pps[i], Identity: d.Keys[ids[i]]}, tr)
		})
}

// RunSign runs signing of digest by the holders of shares over net (a new
// one when nil), with the identities in d that made them.
func RunSign(ctx context.Context, d *memnet.Identities, sessionID string, shares []*share.Record, digest []byte, net *memnet.Net) ([]memnet.Outcome[*party.Signature], error) {
	return RunSignPath(ctx, d, sessionID, shares, digest, nil, net)
}

// RunSignPath is RunSign with the wallet's BIP32 child at path (nil: the
// wallet key).
func RunSignPath(ctx context.Context, d *memnet.Identities, sessionID string, shares []*share.Record, digest []byte, path []uint32, net *memnet.Net) ([]memnet.Outcome[*party.Signature], error) {
	ids := make([]string, len(shares))
	for i, s := range shares {
		ids[i] = s.PartyID
	}
	spec := memnet.Spec{Kind: identity.SessionSign, ID: sessionID, WalletID: shares[0].WalletID, Threshold: shares[0].Threshold, Parties: ids, Digest: digest, Path: path}
	return memnet.RunSession(ctx, net, d, spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			return party.Sign(ctx, party.SignRequest{Session: s, Share: shares[i], Digest: digest, Path: path}, tr)
		})
}
