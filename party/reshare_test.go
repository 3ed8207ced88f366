package party_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/share"
)

// reshareAll runs a reshare and checks what every run must satisfy: no
// errors; every new member has a share of the next epoch for the same
// public key, address and chain code, with the new threshold; old-only
// members get no share. It returns the new shares in r.New order.
func reshareAll(t *testing.T, d *memnet.Identities, session string, r testkit.Reshare) []*share.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	outs, err := testkit.RunReshare(ctx, d, session, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := memnet.Err(outs); err != nil {
		t.Fatal(err)
	}
	w := r.Old[0]
	byID := map[string]*share.Record{}
	for _, o := range outs {
		got := o.Result
		if !bytes.Equal(got.PublicKey, w.PublicKey) || got.Address != ethAddress(t, w.PublicKey) {
			t.Fatalf("%s: public key %x address %s; the wallet's is %x", o.ID, got.PublicKey, got.Address, w.PublicKey)
		}
		if !slices.Contains(r.New, o.ID) {
			if got.Share != nil {
				t.Fatalf("%s is only in the old committee and got a share", o.ID)
			}
			continue
		}
		s := got.Share
		if s == nil || s.Epoch != w.Epoch+1 || s.Threshold != r.NewThreshold || len(s.Parties) != len(r.New) ||
			!bytes.Equal(s.PublicKey, w.PublicKey) || !bytes.Equal(s.ChainCode, w.ChainCode) || s.WalletID != w.WalletID {
			t.Fatalf("%s: new share %+v", o.ID, s)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		byID[o.ID] = s
	}
	var out []*share.Record
	for _, id := range r.New {
		out = append(out, byID[id])
	}
	return out
}

// subsets returns every subset of shares with at least k members.
func subsets(shares []*share.Record, k int) [][]*share.Record {
	var out [][]*share.Record
	for mask := 1; mask < 1<<len(shares); mask++ {
		var s []*share.Record
		for i := range shares {
			if mask&(1<<i) != 0 {
				s = append(s, shares[i])
			}
		}
		if len(s) >= k {
			out = append(out, s)
		}
	}
	return out
}

// signEveryMinimalSubset signs with every allowed subset of exactly the
// threshold (any larger set of signers contains one; a co-managed
// wallet's include its client) and checks each signature with decred
// secp256k1; every subset of at least the threshold interpolates to the
// same key.
func signEveryMinimalSubset(t *testing.T, d *memnet.Identities, name string, shares []*share.Record) {
	t.Helper()
	k := shares[0].Threshold
	want := privateKey(t, shares[:k])
	if !bytes.Equal(keyOf(want), shares[0].PublicKey) {
		t.Fatal("the shares do not interpolate to the wallet key")
	}
	for i, sub := range subsets(shares, k) {
		if got := privateKey(t, sub); got.Cmp(want) != 0 {
			t.Fatalf("subset %d interpolates to another key", i)
		}
		client := false
		var ids []string
		for _, s := range sub {
			ids = append(ids, s.PartyID)
			client = client || s.Own().Kind == identity.KindClient
		}
		if len(sub) != k || (shares[0].Policy.ClientRequired && !client) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		outs, err := testkit.RunSign(ctx, d, fmt.Sprintf("%s-sign-%d", name, i), sub, digestOf(fmt.Sprint(name, ids)), nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.Err != nil {
				t.Fatalf("%v: %s: %v", ids, o.ID, o.Err)
			}
			verifyIndependently(t, o.Result, digestOf(fmt.Sprint(name, ids)), shares[0].PublicKey)
		}
	}
}

var (
	cmOnce   sync.Once
	cmIDs    *memnet.Identities
	cmShares []*share.Record
	cmErr    error
)

// cmWallet is a 2-of-3 wallet of a client (browser-7f3a) and two server
// parties, with identities for p1..p5 (servers) to reshare it to.
func cmWallet(t *testing.T) (*memnet.Identities, []*share.Record) {
	t.Helper()
	cmOnce.Do(func() {
		cmIDs, cmErr = memnet.NewIdentities(append(slices.Clone(ids3), "p1", "p2", "p3", "p4", "p5"), map[string]identity.Kind{ids3[0]: identity.KindClient})
		if cmErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var outs []memnet.Outcome[*party.KeygenResult]
		if outs, cmErr = testkit.RunKeygen(ctx, cmIDs, "kg-cm", "wallet-cm", ids3, 2, nil); cmErr != nil {
			return
		}
		if cmErr = memnet.Err(outs); cmErr != nil {
			return
		}
		for _, o := range outs {
			cmShares = append(cmShares, o.Result.Share)
		}
	})
	if cmErr != nil {
		t.Fatal(cmErr)
	}
	if !cmShares[0].Policy.ClientRequired {
		t.Fatal("the co-managed wallet does not require its client")
	}
	return cmIDs, cmShares
}

// privateKey interpolates the wallet's private key at 0 from the secret
// shares of rec (Lagrange over the shares' tss-lib keys), the way no
// tsskit component ever does: a test's check that shares belong together.
func privateKey(t *testing.T, recs []*share.Record) *big.Int {
	t.Helper()
	n := secp256k1.S256().N
	sum := new(big.Int)
	for i, ri := range recs {
		xi := ri.SaveData.ShareID
		num, den := big.NewInt(1), big.NewInt(1)
		for j, rj := range recs {
			if i == j {
				continue
			}
			xj := rj.SaveData.ShareID
			num.Mod(num.Mul(num, xj), n)
			den.Mod(den.Mul(den, new(big.Int).Sub(xj, xi)), n)
		}
		l := num.Mul(num, den.ModInverse(den, n))
		sum.Add(sum, l.Mul(l, ri.SaveData.Xi))
	}
	return sum.Mod(sum, n)
}

// keyOf is k·G, compressed.
func keyOf(k *big.Int) []byte {
	var s secp256k1.ModNScalar
	s.SetByteSlice(k.Bytes())
	return secp256k1.NewPrivateKey(&s).PubKey().SerializeCompressed()
}

// A refresh: the same holders get new shares of the same key; every
// subset of the new shares signs, the new shares differ from the old, and
// old and new shares together make no key and no signature.
func TestReshareRefresh2of3(t *testing.T) {
	old := wallet2of3(t)
	oldCopy := make([]*big.Int, len(old))
	for i, s := range old {
		oldCopy[i] = new(big.Int).Set(s.SaveData.Xi)
	}
	fresh := reshareAll(t, idents(t), "rs-refresh", testkit.Reshare{Old: old, New: ids3, NewThreshold: 2})
	for i, s := range old {
		if s.SaveData.Xi.Cmp(oldCopy[i]) != 0 {
			t.Fatalf("%s: the reshare changed the caller's old share", s.PartyID)
		}
	}
	if !bytes.Equal(keyOf(privateKey(t, fresh[:2])), old[0].PublicKey) {
		t.Fatal("the new shares do not interpolate to the wallet key")
	}
	for i := range fresh {
		if fresh[i].SaveData.Xi.Cmp(old[i].SaveData.Xi) == 0 || fresh[i].SaveData.ShareID.Cmp(old[i].SaveData.ShareID) == 0 {
			t.Fatalf("%s: the refreshed share or its key equals the old one", fresh[i].PartyID)
		}
	}
	signEveryMinimalSubset(t, idents(t), "refresh", fresh)

	// An old share and a new one interpolate to some other key: together
	// they cannot sign for the wallet.
	for _, pair := range [][]*share.Record{{old[0], fresh[1]}, {fresh[0], old[2]}} {
		if bytes.Equal(keyOf(privateKey(t, pair)), old[0].PublicKey) {
			t.Fatal("an old share and a new one interpolate to the wallet key")
		}
	}
	// And a signing that mixes epochs is refused before its first round,
	// each party naming the other, whose statement names its own epoch.
	mixed := []*share.Record{old[0], fresh[1]}
	ids := []string{old[0].PartyID, fresh[1].PartyID}
	keys, pubs, err := memnet.NewKeys(ids)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]*identity.Entry{}
	digest := digestOf("mixed")
	for _, s := range mixed {
		spec := memnet.Spec{Kind: identity.SessionSign, ID: "rs-mixed", WalletID: s.WalletID, Threshold: 2, Parties: ids, Digest: digest, Epoch: s.Epoch}
		if entries[s.PartyID], err = idents(t).Entry(spec, s.PartyID, pubs[s.PartyID]); err != nil {
			t.Fatal(err)
		}
	}
	net := memnet.NewNet(ids...)
	defer net.Close()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range mixed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess := party.Session{ID: "rs-mixed", Parties: ids, Self: ids[i], Keys: keys[i], Roster: entries, Trust: idents(t).Trust}
			_, errs[i] = party.Sign(context.Background(), party.SignRequest{Session: sess, Share: s, Digest: digest}, net.Transport(ids[i]))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		e, ok := party.AsError(err)
		if !ok || !errors.Is(err, party.ErrStaleEpoch) || e.Round != 0 || !slices.Equal(e.Culprits, []string{ids[1-i]}) {
			t.Fatalf("%s: %v; want stale_epoch before round 1 naming %s", ids[i], err, ids[1-i])
		}
	}
}

// A co-managed wallet, its client consenting: 2-of-3 → 3-of-5 with two
// new server parties, then 3-of-5 → 2-of-3 with the client and two of the
// new ones: each time every allowed subset of the new committee signs
// for the same key.
func TestReshareChangeThreshold(t *testing.T) {
	if testing.Short() {
		t.Skip("a 5-party reshare in -short mode")
	}
	d, old := cmWallet(t)
	five := append(slices.Clone(ids3), "p4", "p5")
	wide := reshareAll(t, d, "rs-3of5", testkit.Reshare{Old: old[:2], New: five, NewThreshold: 3})
	signEveryMinimalSubset(t, d, "3of5", wide)
	narrow := reshareAll(t, d, "rs-2of3", testkit.Reshare{Old: []*share.Record{wide[0], wide[3], wide[4]}, New: []string{ids3[0], "p4", "p5"}, NewThreshold: 2})
	signEveryMinimalSubset(t, d, "2of3", narrow)
	if narrow[0].Epoch != 2 || !narrow[0].Policy.ClientRequired {
		t.Fatalf("after two reshares: epoch %d, client required %t", narrow[0].Epoch, narrow[0].Policy.ClientRequired)
	}
}

// Replacing a holder: the client and one server party hand the wallet to
// themselves and a new server party in place of the other, which holds
// nothing of the new epoch.
func TestReshareReplaceHolder(t *testing.T) {
	d, old := cmWallet(t)
	newIDs := []string{ids3[0], ids3[1], "p1"}
	fresh := reshareAll(t, d, "rs-replace", testkit.Reshare{Old: old[:2], New: newIDs, NewThreshold: 2})
	signEveryMinimalSubset(t, d, "replace", fresh)
	for _, s := range fresh {
		if slices.Contains(s.Parties, ids3[2]) {
			t.Fatalf("%s's new share still names %s", s.PartyID, ids3[2])
		}
	}
	// The replaced holder's old share with one new share is no key.
	if bytes.Equal(keyOf(privateKey(t, []*share.Record{old[2], fresh[2]})), old[0].PublicKey) {
		t.Fatal("the replaced holder's share still combines with a new one")
	}
}

// The attack a coordinator would try with the server parties of a wallet
// that needs no client for signing, or without the client of one that
// does: hand the key to a committee of its choosing. Every old member
// refuses on its own record, before anything is sent.
func TestAttackReshareCommittee(t *testing.T) {
	servers := wallet2of3(t) // every holder a certified server, no client needed
	d, cm := cmWallet(t)
	for _, c := range []struct {
		name string
		d    *memnet.Identities
		r    testkit.Reshare
	}{
		{"servers hand a co-managed wallet to a new party in the client's place", d, testkit.Reshare{Old: cm[1:], New: []string{ids3[1], ids3[2], "p1"}, NewThreshold: 2}},
		{"a server wallet handed to other parties", idents(t), testkit.Reshare{Old: servers[1:], New: []string{"p1", "p2", "p3"}, NewThreshold: 2}},
		{"a server wallet to a larger committee", idents(t), testkit.Reshare{Old: servers[1:], New: append(slices.Clone(ids3), "p1"), NewThreshold: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			outs, err := testkit.RunReshare(ctx, c.d, "rs-attack-committee", c.r, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range outs {
				if o.Err == nil || o.Result != nil {
					t.Fatalf("%s: the reshare went ahead", o.ID)
				}
			}
			for _, s := range c.r.Old {
				for _, o := range outs {
					if o.ID == s.PartyID && !errors.Is(o.Err, party.ErrPolicy) && !errors.Is(o.Err, party.ErrCanceled) {
						t.Fatalf("old member %s: %v; want a policy refusal", o.ID, o.Err)
					}
				}
			}
		})
	}
}

// Requests that cannot be a reshare are refused before anything is sent.
func TestReshareRefusesBadRequests(t *testing.T) {
	old := wallet2of3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	net := memnet.NewNet(ids3...)
	defer net.Close()
	pre, err := testkit.PreParams(0)
	if err != nil {
		t.Fatal(err)
	}
	base := party.ReshareRequest{Session: party.Session{ID: "s", Parties: ids3, Self: ids3[0]}, WalletID: old[0].WalletID, Epoch: 1,
		Old: ids3, OldThreshold: 2, New: ids3, NewThreshold: 2, PublicKey: old[0].PublicKey, ChainCode: old[0].ChainCode, Share: old[0], PreParams: pre}
	sess, _ := signSession(t, "s", old, digestOf("x"), 0)
	base.Session = sess
	base.Identity = idents(t).Keys[ids3[0]]
	for _, c := range []struct {
		name string
		edit func(*party.ReshareRequest)
		code *party.Error
	}{
		{"epoch 0", func(r *party.ReshareRequest) { r.Epoch = 0 }, party.ErrInvalidParams},
		{"stale share", func(r *party.ReshareRequest) { r.Epoch = 2 }, party.ErrStaleEpoch},
		{"old committee too small", func(r *party.ReshareRequest) { r.Old = ids3[:1] }, party.ErrInvalidParams},
		{"new threshold above its committee", func(r *party.ReshareRequest) { r.NewThreshold = 4 }, party.ErrInvalidParams},
		{"parties not the committees", func(r *party.ReshareRequest) { r.New = []string{"server-1", "server-2", "p1"} }, party.ErrInvalidParams},
		{"another key", func(r *party.ReshareRequest) { r.PublicKey = old[0].SaveData.BigXj[1].X().Bytes() }, party.ErrInvalidParams},
		{"another chain code", func(r *party.ReshareRequest) { r.ChainCode = make([]byte, 32) }, party.ErrInvalidParams},
		{"no pre-parameters", func(r *party.ReshareRequest) { r.PreParams = nil }, party.ErrInvalidParams},
		{"no share", func(r *party.ReshareRequest) { r.Share = nil }, party.ErrInvalidParams},
		{"sign roster", func(r *party.ReshareRequest) {}, party.ErrMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := base
			c.edit(&r)
			_, err := party.Reshare(ctx, r, net.Transport(ids3[0]))
			if !errors.Is(err, c.code) {
				t.Fatalf("got %v, want %s", err, c.code.Code)
			}
		})
	}
}
