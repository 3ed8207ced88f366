package coordinator

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/identity"
)

// A finished session rebuilt from the store (the owner forgot it, or
// another replica answers) keeps what a party needs of its end: a
// failure's code, and a completed reshare's stored acknowledgements, which
// verify under the holders' identity keys, with the epoch the reshare
// activated.
func TestFinalEventFromStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := &Coordinator{store: st}

	pub := append([]byte{2}, bytes.Repeat([]byte{7}, 32)...)
	w := &store.Wallet{ID: "w1", SignersNeeded: 2, PublicKey: pub, Address: "0x" + string(bytes.Repeat([]byte("ab"), 20)),
		Holders: []store.Holder{{PartyID: "client-1", Kind: store.HolderClient}, {PartyID: "server-1", Kind: store.HolderServer}, {PartyID: "server-2", Kind: store.HolderServer}}}
	if err := st.CreateWallet(ctx, w); err != nil {
		t.Fatal(err)
	}
	parties := []string{"client-1", "server-1", "server-2"}
	keys := map[string]*identity.Key{}
	acks := map[string][]byte{}
	for _, p := range parties {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[p] = k
		acks[p] = identity.SignStored(k, "rs-1", w.ID, p, 1, pub)
	}
	now := time.Now()
	rs := &store.Session{ID: "rs-1", Kind: store.SessionReshare, WalletID: w.ID, Parties: parties, State: store.StateRunning, CreatedAt: now}
	if err := st.CreateSession(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := st.BeginReshare(ctx, w.ID, 0, rs.ID, now, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The activation records the session completed, with the acks (the
	// coordinator's own write of its end may never come: it crashed).
	if err := st.ActivateEpoch(ctx, w.ID, rs.ID, 1, nil, acks); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		rec, err := st.GetSession(ctx, rs.ID)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := c.finalEventFromStore(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		done := ev.GetCompleted()
		if done == nil || done.Epoch != 1 || !bytes.Equal(done.PublicKey, pub) || len(done.StoredAcks) != len(parties) {
			t.Fatalf("%s: %v", what, ev)
		}
		for _, p := range parties {
			if !identity.VerifyStored(keys[p].Public(), done.StoredAcks[p], rs.ID, w.ID, p, 1, pub) {
				t.Errorf("%s: %s's stored acknowledgement does not verify", what, p)
			}
		}
	}
	check("a completed reshare from the store")
	// A record that says failed while the wallet's epoch is the session's
	// (a store that contradicts itself) is still its Completed event: a
	// party told "failed" would throw away the share it acknowledged.
	rs.State, rs.Reason, rs.StoredAcks = store.StateFailed, "coordinator restarted", acks
	if err := st.UpdateSession(ctx, rs); err != nil {
		t.Fatal(err)
	}
	check("an activated reshare recorded failed")

	failed := &store.Session{ID: "sg-1", Kind: store.SessionSign, WalletID: w.ID, Parties: parties[:2], State: store.StateRunning,
		Digest: bytes.Repeat([]byte{1}, 32), CreatedAt: now}
	if err := st.CreateSession(ctx, failed); err != nil {
		t.Fatal(err)
	}
	failed.State, failed.Reason, failed.Culprits, failed.Code = store.StateFailed, "client-1: stale_epoch: ...", []string{"client-1"}, "stale_epoch"
	if err := st.UpdateSession(ctx, failed); err != nil {
		t.Fatal(err)
	}
	rec, err := st.GetSession(ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.finalEventFromStore(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if f := ev.GetFailed(); f == nil || f.Code != "stale_epoch" || f.Reason != failed.Reason || len(f.Culprits) != 1 {
		t.Fatalf("a failed session from the store: %v", ev)
	}
}
