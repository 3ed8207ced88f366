package party_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/share"
)

// A co-managed wallet whose client set a recovery policy at keygen: a
// recovery kit (from recoveryCode) and the app backend's approvals.
const (
	recWallet    = "wallet-rec"
	recoveryCode = "legal winner thank year wave sausage worth useful legal winner thank yellow"
)

var (
	recOnce   sync.Once
	recIDs    *memnet.Identities
	recShares []*share.Record
	recKit    *identity.Key
	recBack   *identity.Key // the app backend's recovery key
	recErr    error
	recParty  = []string{"browser-old", "srv-1", "srv-2"}
)

func recWalletOf(t *testing.T) (*memnet.Identities, []*share.Record) {
	t.Helper()
	recOnce.Do(func() {
		kinds := map[string]identity.Kind{"browser-old": identity.KindClient, "browser-new": identity.KindClient, "browser-evil": identity.KindClient}
		if recIDs, recErr = memnet.NewIdentities([]string{"browser-old", "srv-1", "srv-2", "srv-3", "browser-new", "browser-evil"}, kinds); recErr != nil {
			return
		}
		if recKit, recErr = recovery.KitKey(recoveryCode, recWallet); recErr != nil {
			return
		}
		if recBack, recErr = identity.GenerateKey(); recErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var outs []memnet.Outcome[*party.KeygenResult]
		outs, recErr = testkit.RunKeygenPolicy(ctx, recIDs, "kg-rec", recWallet, recParty, 2, identity.Recovery{Kit: recKit.Public(), Backend: true}, nil)
		if recErr != nil {
			return
		}
		if recErr = memnet.Err(outs); recErr != nil {
			return
		}
		for _, o := range outs {
			recShares = append(recShares, o.Result.Share)
		}
	})
	if recErr != nil {
		t.Fatal(recErr)
	}
	for _, s := range recShares {
		if !s.Policy.Recovery.Equal(identity.Recovery{Kit: recKit.Public(), Backend: true}) {
			t.Fatalf("%s records recovery policy %+v", s.PartyID, s.Policy.Recovery)
		}
	}
	return recIDs, recShares
}

// servers returns the server holders' shares of recs.
func servers(recs []*share.Record) []*share.Record {
	var out []*share.Record
	for _, r := range recs {
		if r.Own().Kind == identity.KindServer {
			out = append(out, r)
		}
	}
	return out
}

func authorize(t *testing.T, k *identity.Key, kind recovery.Kind, wallet string, epoch int, partyID string, device identity.PublicKey) *recovery.Authorization {
	t.Helper()
	a := &recovery.Authorization{Kind: kind, WalletID: wallet, Epoch: epoch, PartyID: partyID, Identity: device, Expires: time.Now().Add(time.Hour)}
	if err := recovery.Sign(k, a); err != nil {
		t.Fatal(err)
	}
	return a
}

// The wallet's client is lost: its server holders hand the wallet to a
// new client under the recovery kit's authorization, then, lost again,
// under the backend's approval. Each time the lost client is out of
// every new share, the policy stays, and the new client signs with a
// server (verified by decred).
func TestRecovery(t *testing.T) {
	d, recs := recWalletOf(t)
	a := authorize(t, recKit, recovery.KindKit, recWallet, 0, "browser-new", d.Keys["browser-new"].Public())
	fresh := reshareAll(t, d, "rs-recover-kit", testkit.Reshare{Old: servers(recs), New: []string{"browser-new", "srv-1", "srv-2"}, NewThreshold: 2,
		Authorization: a, BackendKeys: []identity.PublicKey{recBack.Public()}})
	for _, s := range fresh {
		if slices.Contains(s.Parties, "browser-old") || !s.Policy.ClientRequired || !s.Policy.Recovery.Equal(recs[0].Policy.Recovery) {
			t.Fatalf("%s's new share: parties %v, policy %+v", s.PartyID, s.Parties, s.Policy)
		}
		if h := s.HolderView()["browser-new"]; h.Kind != identity.KindClient || !h.Identity.Equal(d.Keys["browser-new"].Public()) {
			t.Fatalf("%s records the new client as %+v", s.PartyID, h)
		}
	}
	signEveryMinimalSubset(t, d, "recovered", fresh)

	// Lost again; the backend approves a device for epoch 1.
	b := authorize(t, recBack, recovery.KindBackend, recWallet, 1, "browser-evil", d.Keys["browser-evil"].Public())
	again := reshareAll(t, d, "rs-recover-backend", testkit.Reshare{Old: servers(fresh), New: []string{"browser-evil", "srv-1", "srv-2"}, NewThreshold: 2,
		Authorization: b, BackendKeys: []identity.PublicKey{recBack.Public()}})
	signEveryMinimalSubset(t, d, "recovered again", again)
}

// What a coordinator alone (or with a stolen approval) would try, to get a
// wallet handed to a client of its own: every old member refuses on its
// own record before anything is sent, and nobody gets a share.
func TestAttackRecovery(t *testing.T) {
	d, recs := recWalletOf(t)
	srv := servers(recs)
	newDev := d.Keys["browser-new"].Public()
	backend := []identity.PublicKey{recBack.Public()}
	other, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKit, err := recovery.KitKey(recoveryCode, "another-wallet")
	if err != nil {
		t.Fatal(err)
	}
	committee := []string{"browser-new", "srv-1", "srv-2"}
	for _, c := range []struct {
		name string
		r    testkit.Reshare
		want *party.Error
	}{
		{"no authorization", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2}, party.ErrPolicy},
		{"forged: signed by another key as the kit", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, other, recovery.KindKit, recWallet, 0, "browser-new", newDev), BackendKeys: backend}, party.ErrRecovery},
		{"forged: an approval by a backend key the servers do not trust", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, other, recovery.KindBackend, recWallet, 0, "browser-new", newDev), BackendKeys: backend}, party.ErrRecovery},
		{"the kit of another wallet", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, otherKit, recovery.KindKit, recWallet, 0, "browser-new", newDev), BackendKeys: backend}, party.ErrRecovery},
		{"an approval for another wallet", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, "another-wallet", 0, "browser-new", newDev), BackendKeys: backend}, party.ErrRecovery},
		{"replayed: an approval for another epoch", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 1, "browser-new", newDev), BackendKeys: backend}, party.ErrRecovery},
		{"an approval for another device: the coordinator's client joins in its place", testkit.Reshare{Old: srv, New: []string{"browser-evil", "srv-1", "srv-2"}, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 0, "browser-new", newDev), BackendKeys: backend}, party.ErrIdentity},
		{"a substituted device identity: the authorized party id with another key", testkit.Reshare{Old: srv, New: []string{"browser-evil", "srv-1", "srv-2"}, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 0, "browser-evil", newDev), BackendKeys: backend}, party.ErrIdentity},
		{"an approval naming the lost client's own key under a new party id (nothing revoked)", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 0, "browser-new", d.Keys["browser-old"].Public()), BackendKeys: backend}, party.ErrRecovery},
		{"a valid approval, but a committee beyond it", testkit.Reshare{Old: srv, New: []string{"browser-new", "srv-1", "srv-2", "srv-3"}, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 0, "browser-new", newDev), BackendKeys: backend}, party.ErrPolicy},
		{"a valid approval, but another threshold", testkit.Reshare{Old: srv, New: committee, NewThreshold: 3,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 0, "browser-new", newDev), BackendKeys: backend}, party.ErrPolicy},
		{"an approval, and servers that trust no backend key", testkit.Reshare{Old: srv, New: committee, NewThreshold: 2,
			Authorization: authorize(t, recBack, recovery.KindBackend, recWallet, 0, "browser-new", newDev)}, party.ErrRecovery},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			outs, err := testkit.RunReshare(ctx, d, "rs-attack-recovery", c.r, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range outs {
				if o.Err == nil || o.Result != nil {
					t.Fatalf("%s: the recovery went ahead", o.ID)
				}
			}
			refused := 0
			for _, s := range c.r.Old {
				for _, o := range outs {
					if o.ID != s.PartyID {
						continue
					}
					switch {
					case errors.Is(o.Err, c.want):
						refused++
					case errors.Is(o.Err, party.ErrCanceled):
					default:
						t.Fatalf("old member %s: %v; want %s", o.ID, o.Err, c.want.Code)
					}
				}
			}
			if refused == 0 {
				t.Fatalf("no old member refused with %s", c.want.Code)
			}
		})
	}
	// The policy itself: a reshare that strips the kit, or adds the
	// backend, is refused by every old member on its own record — with
	// the client's consent too (no reshare changes the policy).
	for name, pol := range map[string]identity.Recovery{
		"a reshare that strips the recovery kit": {Backend: true},
		"a reshare that drops the policy":        {},
		"a reshare that swaps the kit key":       {Kit: other.Public(), Backend: true},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			outs, err := testkit.RunReshare(ctx, d, "rs-attack-policy", testkit.Reshare{Old: recs, New: recParty, NewThreshold: 2, Policy: &pol}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range outs {
				if o.Err == nil || o.Result != nil {
					t.Fatalf("%s: the reshare went ahead", o.ID)
				}
				if !errors.Is(o.Err, party.ErrInvalidParams) && !errors.Is(o.Err, party.ErrCanceled) {
					t.Fatalf("%s: %v; want the request refused as not the share's policy", o.ID, o.Err)
				}
			}
		})
	}

	// Nothing changed: the wallet still signs with its lost client's share
	// (it was only lost to its user) and a server.
	digest := sha256.Sum256([]byte("still the wallet"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outs, err := testkit.RunSign(ctx, d, "sign-after-attacks", recs[:2], digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := memnet.Err(outs); err != nil {
		t.Fatal(err)
	}
}
