package participant

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// A new client checks the coordinator's recovery session against its
// authorization before it joins: a session for another wallet or epoch,
// one that makes it an old member, changes the threshold or policy, or
// adds parties, is refused as a session mismatch.
func TestClientRecoveryJob(t *testing.T) {
	dev, _ := identity.GenerateKey()
	kit, _ := identity.GenerateKey()
	a := &recovery.Authorization{Kind: recovery.KindKit, WalletID: "w", Epoch: 2, PartyID: "browser-new", Identity: dev.Public(), Expires: time.Now().Add(time.Hour)}
	if err := recovery.Sign(kit, a); err != nil {
		t.Fatal(err)
	}
	kitKey := kit.Public()
	honest := func() *tsskitv1.CreateSessionResponse {
		return &tsskitv1.CreateSessionResponse{SessionId: "s", Kind: tsskitv1.SessionKind_SESSION_KIND_RESHARE, WalletId: "w", SignersNeeded: 2,
			Parties: []string{"srv-1", "srv-2", "browser-new"}, Tokens: []*tsskitv1.PartyToken{{PartyId: "browser-new", Token: "t"}},
			Reshare: &tsskitv1.ReshareSpec{Epoch: 3, OldThreshold: 2, OldParties: []string{"srv-1", "srv-2"}, NewParties: []string{"browser-new", "srv-1", "srv-2"},
				PublicKey: append([]byte{2}, bytes.Repeat([]byte{1}, 32)...), ChainCode: bytes.Repeat([]byte{2}, 32), ClientRequired: true, RecoveryKit: kitKey[:]}}
	}
	j, err := ClientRecoveryJob(honest(), a, dev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.Kinds["browser-new"] != identity.KindClient || j.Kinds["srv-1"] != identity.KindServer || j.Authorization != a || j.Threshold != 2 {
		t.Fatalf("job: %+v", j)
	}
	other, _ := identity.GenerateKey()
	for name, c := range map[string]struct {
		lie func(r *tsskitv1.CreateSessionResponse)
		dev *identity.Key
	}{
		"another wallet": {lie: func(r *tsskitv1.CreateSessionResponse) { r.WalletId = "w2" }},
		"another epoch":  {lie: func(r *tsskitv1.CreateSessionResponse) { r.Reshare.Epoch = 4 }},
		"a sign session": {lie: func(r *tsskitv1.CreateSessionResponse) { r.Kind = tsskitv1.SessionKind_SESSION_KIND_SIGN }},
		"the client an old member": {lie: func(r *tsskitv1.CreateSessionResponse) {
			r.Reshare.OldParties = append(r.Reshare.OldParties, "browser-new")
		}},
		"another threshold":  {lie: func(r *tsskitv1.CreateSessionResponse) { r.SignersNeeded = 3 }},
		"no client required": {lie: func(r *tsskitv1.CreateSessionResponse) { r.Reshare.ClientRequired = false }},
		"an extra party": {lie: func(r *tsskitv1.CreateSessionResponse) {
			r.Parties = append(r.Parties, "srv-9")
		}},
		"left out": {lie: func(r *tsskitv1.CreateSessionResponse) {
			r.Reshare.NewParties = slices.DeleteFunc(r.Reshare.NewParties, func(p string) bool { return p == "browser-new" })
		}},
		"a malformed kit key": {lie: func(r *tsskitv1.CreateSessionResponse) { r.Reshare.RecoveryKit = []byte{1, 2, 3} }},
		"another device key":  {dev: other},
	} {
		r := honest()
		if c.lie != nil {
			c.lie(r)
		}
		d := dev
		if c.dev != nil {
			d = c.dev
		}
		if _, err := ClientRecoveryJob(r, a, d, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
