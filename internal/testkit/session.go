package testkit

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
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
	return RunKeygenPolicy(ctx, d, sessionID, walletID, ids, signersNeeded, identity.Recovery{}, net)
}

// RunKeygenPolicy is RunKeygen with the clients setting recovery policy
// pol in their statements.
func RunKeygenPolicy(ctx context.Context, d *memnet.Identities, sessionID, walletID string, ids []string, signersNeeded int, pol identity.Recovery, net *memnet.Net) ([]memnet.Outcome[*party.KeygenResult], error) {
	pps, err := PreParamsSet(len(ids))
	if err != nil {
		return nil, err
	}
	spec := memnet.Spec{Kind: identity.SessionKeygen, ID: sessionID, WalletID: walletID, Threshold: signersNeeded, Parties: ids, Recovery: pol}
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
	spec := memnet.Spec{Kind: identity.SessionSign, ID: sessionID, WalletID: shares[0].WalletID, Threshold: shares[0].Threshold, Parties: ids, Digest: digest, Path: path, Epoch: shares[0].Epoch}
	return memnet.RunSession(ctx, net, d, spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			return party.Sign(ctx, party.SignRequest{Session: s, Share: shares[i], Digest: digest, Path: path}, tr)
		})
}

// Reshare is a reshare of a wallet for RunReshare: Old are the current
// shares of the old committee, New the new committee with NewThreshold
// signers needed. The new shares are of the old shares' epoch + 1.
type Reshare struct {
	Old          []*share.Record
	New          []string
	NewThreshold int
	// A recovery: the authorization every party is given, and the
	// backend keys every old member is configured with.
	Authorization *recovery.Authorization
	BackendKeys   []identity.PublicKey
	// Policy, if set, is the recovery policy every party is told instead
	// of the wallet's (attack tests).
	Policy *identity.Recovery
}

// RunReshare runs r over net (a new one when nil) with the identities in
// d; new committee member i (in r.New order) uses fixture pre-params i.
// Outcomes are in the order of the session's parties: the old committee,
// then the new members not in it.
func RunReshare(ctx context.Context, d *memnet.Identities, sessionID string, r Reshare, net *memnet.Net) ([]memnet.Outcome[*party.ReshareResult], error) {
	if len(r.Old) == 0 {
		return nil, fmt.Errorf("testkit: a reshare needs an old committee")
	}
	w := r.Old[0]
	pps, err := PreParamsSet(len(r.New))
	if err != nil {
		return nil, err
	}
	shares := map[string]*share.Record{}
	var old, ids []string
	for _, s := range r.Old {
		shares[s.PartyID] = s
		old = append(old, s.PartyID)
		ids = append(ids, s.PartyID)
	}
	pre := map[string]*keygen.LocalPreParams{}
	for i, id := range r.New {
		pre[id] = pps[i]
		if shares[id] == nil {
			ids = append(ids, id)
		}
	}
	pol := w.Policy.Recovery
	if r.Policy != nil {
		pol = *r.Policy
	}
	spec := &identity.Reshare{Epoch: w.Epoch + 1, OldThreshold: w.Threshold, Old: slices.Sorted(slices.Values(old)), New: slices.Sorted(slices.Values(r.New)),
		PublicKey: w.PublicKey, ChainCode: w.ChainCode, ClientRequired: w.Policy.ClientRequired, Recovery: pol}
	ms := memnet.Spec{Kind: identity.SessionReshare, ID: sessionID, WalletID: w.WalletID, Threshold: r.NewThreshold, Parties: ids, Reshare: spec}
	return memnet.RunSession(ctx, net, d, ms,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.ReshareResult, error) {
			id := ids[i]
			return party.Reshare(ctx, party.ReshareRequest{Session: s, WalletID: w.WalletID, Epoch: spec.Epoch, Old: old, OldThreshold: w.Threshold,
				New: r.New, NewThreshold: r.NewThreshold, PublicKey: w.PublicKey, ChainCode: w.ChainCode, ClientRequired: w.Policy.ClientRequired,
				RecoveryPolicy: pol, Recovery: r.Authorization, BackendKeys: r.BackendKeys,
				Share: shares[id], PreParams: pre[id], Identity: d.Keys[id]}, tr)
		})
}
