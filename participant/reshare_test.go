package participant

import (
	"bytes"
	"testing"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// A server party activates its new share — or, in the old committee only,
// deletes its old one — only when every new holder's stored
// acknowledgement verifies under the identity key its new record (or the
// new holders' join statements) names: a coordinator that leaves one out,
// forges one, or replays one from another session, epoch or key does not
// get the old shares dropped.
func TestAttackStoredAcks(t *testing.T) {
	keys := map[string]*identity.Key{}
	rec := &share.Record{WalletID: "w", Epoch: 3, PublicKey: append([]byte{2}, bytes.Repeat([]byte{7}, 32)...)}
	for _, id := range []string{"browser", "server-1", "server-2"} {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
		rec.Holders = append(rec.Holders, share.Holder{PartyID: id, Identity: k.Public()})
	}
	acks := func(session string, epoch int, signer map[string]*identity.Key) map[string][]byte {
		out := map[string][]byte{}
		for id := range keys {
			out[id] = identity.SignStored(signer[id], session, "w", id, epoch, rec.PublicKey)
		}
		return out
	}
	good := &tsskitv1.SessionEvent_Completed{Epoch: 3, StoredAcks: acks("s1", 3, keys)}
	if err := checkStoredAcks("s1", rec.WalletID, rec.Epoch, rec.PublicKey, rec.Holders, good); err != nil {
		t.Fatalf("every acknowledgement: %v", err)
	}
	missing := acks("s1", 3, keys)
	delete(missing, "browser")
	stranger, _ := identity.GenerateKey()
	forged := acks("s1", 3, map[string]*identity.Key{"browser": stranger, "server-1": keys["server-1"], "server-2": keys["server-2"]})
	for name, done := range map[string]*tsskitv1.SessionEvent_Completed{
		"no event":             nil,
		"another epoch":        {Epoch: 4, StoredAcks: good.StoredAcks},
		"one missing":          {Epoch: 3, StoredAcks: missing},
		"one forged":           {Epoch: 3, StoredAcks: forged},
		"from another session": {Epoch: 3, StoredAcks: acks("s0", 3, keys)},
		"for another epoch":    {Epoch: 3, StoredAcks: acks("s1", 2, keys)},
		"none":                 {Epoch: 3},
		"of another key": {Epoch: 3, StoredAcks: func() map[string][]byte {
			out := map[string][]byte{}
			for id := range keys {
				out[id] = identity.SignStored(keys[id], "s1", "w", id, 3, append([]byte{3}, bytes.Repeat([]byte{7}, 32)...))
			}
			return out
		}()},
	} {
		if err := checkStoredAcks("s1", rec.WalletID, rec.Epoch, rec.PublicKey, rec.Holders, done); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// No holders to check (a result without the new committee): refused.
	if err := checkStoredAcks("s1", rec.WalletID, rec.Epoch, rec.PublicKey, nil, good); err == nil {
		t.Error("no new holders: accepted")
	}
}

// A reshare's join carries the party's abandoned-run statements as it was
// given them; no other kind of join carries any.
func TestJoinKeysAbandoned(t *testing.T) {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := identity.NewTrust([]identity.PublicKey{k.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stmt := identity.SignAbandoned(k, "rs-old", "w", "server-1", 2)
	j := Job{SessionID: "rs-new", PartyID: "server-1", WalletID: "w", Identity: k, Trust: trust, Kind: identity.KindServer, Threshold: 2,
		Parties: []string{"server-1", "server-2", "server-3"}, Abandoned: [][]byte{stmt},
		Reshare: &identity.Reshare{Epoch: 2, OldThreshold: 2, Old: []string{"server-1", "server-2"}, New: []string{"server-1", "server-2", "server-3"},
			PublicKey: append([]byte{2}, bytes.Repeat([]byte{7}, 32)...), ChainCode: bytes.Repeat([]byte{1}, 32)}}
	_, pub, err := JoinKeys(&j, identity.SessionReshare)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Abandoned) != 1 || !bytes.Equal(pub.Abandoned[0], stmt) {
		t.Fatalf("reshare join carries %x; want the statement", pub.Abandoned)
	}
	a, err := identity.ParseAbandoned(pub.Abandoned[0])
	if err != nil || !a.Verify(k.Public()) || a.SessionID != "rs-old" {
		t.Fatalf("the statement carried: %+v, %v", a, err)
	}
	j.Reshare, j.Digest = nil, bytes.Repeat([]byte{1}, 32)
	if _, pub, err = JoinKeys(&j, identity.SessionSign); err != nil {
		t.Fatal(err)
	}
	if len(pub.Abandoned) != 0 {
		t.Fatal("a signing's join carries abandoned-run statements")
	}
}
