//go:build profile

// Package profile_test is a harness for CPU profiles of one 2-of-3 keygen
// and one 2-party signing, the same code natively and in headless Chromium
// (see README.md). The build tag keeps it out of `go test ./...` and
// `go vet ./...`: run it with -tags profile.
package profile_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/share"
)

var ids = []string{"browser-1", "server-1", "server-2"}

// TestProfileKeygenSign runs one 2-of-3 keygen among three parties in this
// process (fixture pre-params, so no safe-prime search) and one signing by
// two of them, and logs the wall time of each and when each party reached
// each round.
func TestProfileKeygenSign(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	pps, err := testkit.PreParamsSet(len(ids))
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var marks []string
	start := time.Now()
	mark := func(id string, p party.Progress) {
		mu.Lock()
		defer mu.Unlock()
		marks = append(marks, fmt.Sprintf("%7.2fs %-9s %s round %d/%d done=%v", time.Since(start).Seconds(), id, p.Phase, p.Round, p.Rounds, p.Done))
	}

	d, err := memnet.NewIdentities(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := memnet.Spec{Kind: identity.SessionKeygen, ID: "profile-kg", WalletID: "profile-wallet", Threshold: 2, Parties: ids}
	outs, err := memnet.RunSession(ctx, nil, d, spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.KeygenResult, error) {
			s.Progress = func(p party.Progress) { mark(s.Self, p) }
			return party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: "profile-wallet", PreParams: pps[i], Identity: d.Keys[ids[i]]}, tr)
		})
	if err == nil {
		err = memnet.Err(outs)
	}
	if err != nil {
		t.Fatal(err)
	}
	keygen := time.Since(start)

	digest := sha256.Sum256([]byte("profile"))
	shares := []*share.Record{outs[0].Result.Share, outs[2].Result.Share}
	start = time.Now()
	sspec := memnet.Spec{Kind: identity.SessionSign, ID: "profile-sign", WalletID: shares[0].WalletID, Threshold: shares[0].Threshold,
		Parties: []string{shares[0].PartyID, shares[1].PartyID}, Digest: digest[:], Epoch: shares[0].Epoch}
	souts, err := memnet.RunSession(ctx, nil, d, sspec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			s.Progress = func(p party.Progress) { mark(s.Self, p) }
			return party.Sign(ctx, party.SignRequest{Session: s, Share: shares[i], Digest: digest[:]}, tr)
		})
	if err == nil {
		err = memnet.Err(souts)
	}
	if err != nil {
		t.Fatal(err)
	}
	sign := time.Since(start)

	for _, m := range marks {
		t.Log(m)
	}
	t.Logf("PROFILE keygen 2-of-3 (3 parties, one process): %.2fs", keygen.Seconds())
	t.Logf("PROFILE sign 2 parties: %.2fs", sign.Seconds())
}
