package main

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/share"
)

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := toError(err); err == nil || got.Code != code {
		t.Fatalf("%s: %v; want code %s", what, err, code)
	}
}

// TestRecoveryPieces checks the recovery API a worker uses without a
// session: a keygen's recovery policy and code, device keys and their
// seeds, kit authorizations (a wrong or malformed code refused), an
// approval's file form, and the device's own checks of an authorization.
// It runs natively and under GOOS=js.
func TestRecoveryPieces(t *testing.T) {
	const walletID = "5f7c2f5e-9d4b-4bb4-8f53-6a0c1d2e3f41"
	ids := []string{"browser-1", "server-1", "server-2"}

	// A keygen seat with a kit and backend approvals: its statement names
	// the code's kit key; the code is 12 valid words, new each time.
	j, err := PrepareKeygen(JoinParams{SessionID: "s", Self: "browser-1", WalletID: walletID, SignersNeeded: 2, Parties: ids, Recovery: KeygenRecovery{Kit: true, Backend: true}})
	if err != nil {
		t.Fatal(err)
	}
	keys.release(j.KeysID)
	st, err := identity.ParseStatement(j.Entry.Statement)
	if err != nil {
		t.Fatal(err)
	}
	kit, err := recovery.KitKey(j.RecoveryCode, walletID)
	if err != nil {
		t.Fatalf("the recovery code: %v", err)
	}
	if !st.Recovery.Backend || !st.Recovery.Kit.Equal(kit.Public()) {
		t.Fatalf("statement's recovery policy %+v", st.Recovery)
	}
	j2, err := PrepareKeygen(JoinParams{SessionID: "s", Self: "browser-1", WalletID: walletID, SignersNeeded: 2, Parties: ids, Recovery: KeygenRecovery{Kit: true}})
	if err != nil {
		t.Fatal(err)
	}
	keys.release(j2.KeysID)
	if j2.RecoveryCode == j.RecoveryCode {
		t.Fatal("two keygens made the same recovery code")
	}
	// Backend approvals only: no code.
	j3, err := PrepareKeygen(JoinParams{SessionID: "s", Self: "browser-1", WalletID: walletID, SignersNeeded: 2, Parties: ids, Recovery: KeygenRecovery{Backend: true}})
	if err != nil {
		t.Fatal(err)
	}
	keys.release(j3.KeysID)
	if j3.RecoveryCode != "" {
		t.Fatal("a code without a kit")
	}
	// Two servers cannot sign a 3-of-3 alone: no recovery policy.
	_, err = PrepareKeygen(JoinParams{SessionID: "s", Self: "browser-1", WalletID: walletID, SignersNeeded: 3, Parties: ids, Recovery: KeygenRecovery{Kit: true}})
	wantCode(t, "a policy the servers cannot use", err, "invalid_argument")

	// A device key, its seed, and the same key opened from the seed.
	d, err := NewDevice(true)
	if err != nil {
		t.Fatal(err)
	}
	defer ReleaseDevice(d.ID)
	if len(d.Seed) != 32 {
		t.Fatalf("seed of %d bytes", len(d.Seed))
	}
	o, err := OpenDevice(d.Seed, d.Identity.String())
	if err != nil || !o.Identity.Equal(d.Identity) || o.Seed != nil || o.ID == d.ID {
		t.Fatalf("OpenDevice: %+v, %v", o, err)
	}
	ReleaseDevice(o.ID)
	if _, err := devices.get(o.ID); err == nil {
		t.Fatal("a released device is still held")
	}
	other, _ := identity.GenerateKey()
	_, err = OpenDevice(d.Seed, other.Public().String())
	wantCode(t, "a seed that is not the request's key", err, "corrupt_record")

	// Kit authorizations.
	exp := time.Now().Add(time.Hour)
	p := KitAuthParams{Code: j.RecoveryCode, DeviceID: d.ID, WalletID: walletID, Epoch: 3, PartyID: "browser-new", Expires: exp, Kit: kit.Public().String()}
	a, err := KitAuthorization(p)
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != "kit" || a.WalletID != walletID || a.Epoch != 3 || a.PartyID != "browser-new" || a.Identity != d.Identity.String() || a.Signer != kit.Public().String() {
		t.Fatalf("kit authorization %+v", a)
	}
	bad := p
	bad.Code = j2.RecoveryCode
	_, err = KitAuthorization(bad)
	wantCode(t, "another wallet's code", err, "recovery_wrong_code")
	bad.Code = "abandon abandon abandon"
	_, err = KitAuthorization(bad)
	wantCode(t, "three words", err, "recovery_code")
	bad = p
	bad.Expires = time.Now().Add(8 * 24 * time.Hour)
	_, err = KitAuthorization(bad)
	wantCode(t, "8 days", err, "recovery_malformed")
	bad = p
	bad.DeviceID = "nope"
	_, err = KitAuthorization(bad)
	wantCode(t, "no device", err, "invalid_argument")

	// The file form reads back to the same authorization.
	f, err := ParseAuthorization([]byte(a.File))
	if err != nil || string(f.Wire) != string(a.Wire) {
		t.Fatalf("ParseAuthorization: %v", err)
	}
	_, err = ParseAuthorization([]byte(`{"format":"tsskit-recovery-authorization"}`))
	wantCode(t, "a partial file", err, "recovery_malformed")

	// The device's checks.
	c := CheckAuthParams{Authorization: a.Wire, WalletID: walletID, Epoch: 3, DeviceID: d.ID, PartyID: "browser-new"}
	if err := CheckAuthorization(c); err != nil {
		t.Fatal(err)
	}
	forged := slices.Clone(a.Wire)
	forged[len(forged)-1] ^= 1
	for name, tc := range map[string]struct {
		c    CheckAuthParams
		code string
	}{
		"forged":       {CheckAuthParams{Authorization: forged, WalletID: walletID, Epoch: 3, DeviceID: d.ID, PartyID: "browser-new"}, "recovery_forged"},
		"other wallet": {CheckAuthParams{Authorization: a.Wire, WalletID: "w2", Epoch: 3, DeviceID: d.ID, PartyID: "browser-new"}, "recovery_other_wallet"},
		"stale":        {CheckAuthParams{Authorization: a.Wire, WalletID: walletID, Epoch: 4, DeviceID: d.ID, PartyID: "browser-new"}, "recovery_stale"},
		"other party":  {CheckAuthParams{Authorization: a.Wire, WalletID: walletID, Epoch: 3, DeviceID: d.ID, PartyID: "browser-other"}, "recovery_other_device"},
		"truncated":    {CheckAuthParams{Authorization: a.Wire[:40], WalletID: walletID, Epoch: 3, DeviceID: d.ID, PartyID: "browser-new"}, "recovery_malformed"},
	} {
		wantCode(t, name, CheckAuthorization(tc.c), tc.code)
	}
	d2, _ := NewDevice(false)
	defer ReleaseDevice(d2.ID)
	if d2.Seed != nil {
		t.Fatal("a seed nobody asked for")
	}
	wantCode(t, "another device", CheckAuthorization(CheckAuthParams{Authorization: a.Wire, WalletID: walletID, Epoch: 3, DeviceID: d2.ID, PartyID: "browser-new"}), "recovery_other_device")
	// An expired one (signed as of two hours ago, for one hour).
	old := &recovery.Authorization{Kind: recovery.KindKit, WalletID: walletID, Epoch: 3, PartyID: "browser-new", Identity: d.Identity, Expires: time.Now().Add(-time.Hour)}
	if err := recovery.SignAt(kit, old, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "expired", CheckAuthorization(CheckAuthParams{Authorization: old.Encode(), WalletID: walletID, Epoch: 3, DeviceID: d.ID, PartyID: "browser-new"}), "recovery_expired")
}

// bridgeRecover recovers the wallet of shares (epoch 1, recovery kit set)
// onto a new browser party with the recovery code, through the bridge: a
// new device, a kit authorization, the coordinator's offer checked by
// PrepareRecovery (an offer beyond the authorization is refused and
// keeps the device), the server holders checking the authorization
// against their records; the new share (epoch 2) has the device key and
// every holder's acknowledgement verifies; it signs with a server party,
// and the signature verifies under the wallet key. An approval from a key
// the server parties are not configured with is refused by them before
// anything is sent.
func bridgeRecover(t *testing.T, td *deployment, code string, shares map[string][]byte, pk *secp256k1.PublicKey) {
	servers := []string{"server-1", "server-2"}
	const newID = "browser-2"
	rec, err := share.Decode(servers0(t, shares))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewDevice(false)
	if err != nil {
		t.Fatal(err)
	}
	a, err := KitAuthorization(KitAuthParams{Code: code, DeviceID: dev.ID, WalletID: rec.WalletID, Epoch: rec.Epoch, PartyID: newID,
		Expires: time.Now().Add(time.Hour), Kit: rec.Policy.Recovery.Kit.String()})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := recovery.Decode(a.Wire)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{newID, "server-1", "server-2"}
	spec := &identity.Reshare{Epoch: rec.Epoch + 1, OldThreshold: 2, Old: servers, New: slices.Sorted(slices.Values(all)),
		PublicKey: rec.PublicKey, ChainCode: rec.ChainCode, ClientRequired: true, Recovery: rec.Policy.Recovery}
	const sid = "bridge-recover"
	// An offer beyond the authorization: refused, and the device stays.
	bad := *spec
	bad.Epoch++
	if _, err := PrepareRecovery(RecoveryJoinParams{SessionID: sid, Parties: all, Spec: &bad, SignersNeeded: 2, Authorization: a.Wire, DeviceID: dev.ID}); toError(err).Code != "session_mismatch" {
		t.Fatalf("an offer of another epoch: %v", err)
	}
	if _, err := PrepareRecovery(RecoveryJoinParams{SessionID: sid, Parties: append(slices.Clone(all), "server-3"), Spec: spec, SignersNeeded: 2, Authorization: a.Wire, DeviceID: dev.ID}); toError(err).Code != "session_mismatch" {
		t.Fatalf("an offer with a party beyond the committees: %v", err)
	}
	// The session itself is not an earlier run to abandon.
	if _, err := PrepareRecovery(RecoveryJoinParams{SessionID: sid, Parties: all, Spec: spec, SignersNeeded: 2, Authorization: a.Wire, DeviceID: dev.ID, Abandon: []string{sid}}); toError(err).Code != "invalid_argument" {
		t.Fatalf("abandoning the session itself: %v", err)
	}
	// Earlier attempts of this device that never stored: one statement
	// each, signed with the device key the authorization names.
	earlier := []string{"bridge-recover-0", "bridge-recover-1"}
	j, err := PrepareRecovery(RecoveryJoinParams{SessionID: sid, Parties: all, Spec: spec, SignersNeeded: 2, Authorization: a.Wire, DeviceID: dev.ID, Abandon: earlier})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.release(j.KeysID) })
	if len(j.Abandoned) != len(earlier) {
		t.Fatalf("%d abandoned-run statements, want %d", len(j.Abandoned), len(earlier))
	}
	for i, b := range j.Abandoned {
		st, err := identity.ParseAbandoned(b)
		if err != nil || st.SessionID != earlier[i] || st.WalletID != rec.WalletID || st.PartyID != newID || st.Epoch != spec.Epoch || !st.Verify(auth.Identity) {
			t.Fatalf("statement %d: %+v, %v", i, st, err)
		}
	}
	if _, err := devices.get(dev.ID); err == nil {
		t.Fatal("the seat did not take the device key")
	}
	if !j.IdentityKey.Equal(auth.Identity) {
		t.Fatal("the seat joins with another key than the authorized one")
	}
	roster := map[string]*identity.Entry{newID: j.Entry}
	keyIDs := map[string]string{newID: j.KeysID}
	for _, id := range servers {
		s := td.reshareSeat(t, sid, id, shares[id], spec, 2, all, func(st *seat) { st.auth = auth })
		keyIDs[id], roster[id] = s.KeysID, s.Entry
	}
	b := &bus{runs: map[string]*Run{}}
	type out struct {
		id  string
		o   *ReshareOutput
		err error
	}
	results := make(chan out, len(all))
	b.mu.Lock()
	for i, id := range all {
		pp, err := testkit.PreParams(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		ppb, _ := preparams.Marshal(pp)
		r, err := StartReshare(ReshareParams{SessionParams: SessionParams{KeysID: keyIDs[id], Roster: roster, Trust: td.trust}, PreParams: ppb},
			b.out(id), nil, func(o *ReshareOutput, err error) { results <- out{id, o, err} })
		if err != nil {
			t.Fatal(err)
		}
		b.runs[id] = r
	}
	b.mu.Unlock()
	fresh := map[string][]byte{}
	acks := map[string][]byte{}
	for range all {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("%s: %v", r.id, r.err)
			}
			fresh[r.id], acks[r.id] = r.o.Share, r.o.StoredAck
		case <-time.After(10 * time.Minute):
			t.Fatal("recovery did not finish")
		}
	}
	got, err := share.Decode(fresh[newID])
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != rec.Epoch+1 || !got.Own().Identity.Equal(auth.Identity) || got.PartyID != newID || !got.Policy.Recovery.Equal(rec.Policy.Recovery) ||
		string(got.PublicKey) != string(rec.PublicKey) {
		t.Fatalf("the recovered share: epoch %d, party %s", got.Epoch, got.PartyID)
	}
	for _, h := range got.Holders {
		if h.PartyID == "browser-1" {
			t.Fatal("the lost client is still a holder")
		}
	}
	if err := VerifyStoredAcks(StoredAcksParams{SessionID: sid, Share: fresh[newID], Epoch: got.Epoch, Acks: acks}); err != nil {
		t.Fatal(err)
	}

	// The recovered share signs with server-2.
	signers := []string{newID, "server-2"}
	digest := sha256.Sum256([]byte("after recovery"))
	skIDs, sroster := td.seats(t, JoinParams{SessionID: "bridge-sign-2", Parties: signers, Digest: digest[:]}, fresh)
	sb := &bus{runs: map[string]*Run{}}
	sigs := make(chan error, 2)
	sb.mu.Lock()
	for _, id := range signers {
		r, err := StartSign(SignParams{SessionParams: SessionParams{KeysID: skIDs[id], Roster: sroster, Trust: td.trust}}, sb.out(id), nil,
			func(s *party.Signature, err error) {
				if err == nil {
					if parsed, perr := ecdsa.ParseDERSignature(s.DER); perr != nil || !parsed.Verify(digest[:], pk) {
						err = errors.New("signature does not verify")
					}
				}
				sigs <- err
			})
		if err != nil {
			t.Fatal(err)
		}
		sb.runs[id] = r
	}
	sb.mu.Unlock()
	for range signers {
		if err := <-sigs; err != nil {
			t.Fatal(err)
		}
	}

	// An approval signed by a key the server parties are not configured
	// with (they trust another): each server holder refuses it against
	// its own record before its first message.
	trusted, _ := identity.GenerateKey()
	rogue, _ := identity.GenerateKey()
	dev2, _ := NewDevice(false)
	d2, _ := devices.get(dev2.ID)
	ap := &recovery.Authorization{Kind: recovery.KindBackend, WalletID: got.WalletID, Epoch: got.Epoch, PartyID: "browser-3", Identity: d2.Public(), Expires: time.Now().Add(time.Hour)}
	if err := recovery.Sign(rogue, ap); err != nil {
		t.Fatal(err)
	}
	spec3 := &identity.Reshare{Epoch: got.Epoch + 1, OldThreshold: 2, Old: servers, New: []string{"browser-3", "server-1", "server-2"},
		PublicKey: rec.PublicKey, ChainCode: rec.ChainCode, ClientRequired: true, Recovery: rec.Policy.Recovery}
	all3 := spec3.New
	j3, err := PrepareRecovery(RecoveryJoinParams{SessionID: "bridge-rogue", Parties: all3, Spec: spec3, SignersNeeded: 2, Authorization: ap.Encode(), DeviceID: dev2.ID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.release(j3.KeysID) })
	roster3 := map[string]*identity.Entry{"browser-3": j3.Entry}
	keys3 := map[string]string{}
	for _, id := range servers {
		s := td.reshareSeat(t, "bridge-rogue", id, fresh[id], spec3, 2, all3, func(st *seat) {
			st.auth, st.backendKeys = ap, []identity.PublicKey{trusted.Public()}
		})
		roster3[id], keys3[id] = s.Entry, s.KeysID
	}
	done := make(chan error, len(servers))
	sent := 0
	for i, id := range servers {
		pp, _ := testkit.PreParams(i + 3)
		ppb, _ := preparams.Marshal(pp)
		if _, err := StartReshare(ReshareParams{SessionParams: SessionParams{KeysID: keys3[id], Roster: roster3, Trust: td.trust}, PreParams: ppb},
			func([]byte) { sent++ }, nil, func(_ *ReshareOutput, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range servers {
		select {
		case err := <-done:
			if e := toError(err); e.Code != string(party.CodeRecovery) {
				t.Fatalf("a server holder given an untrusted approval: %v; want %s", err, party.CodeRecovery)
			}
		case <-time.After(time.Minute):
			t.Fatal("the server holders did not refuse the approval")
		}
	}
	if sent != 0 {
		t.Fatalf("%d envelopes sent for a refused recovery", sent)
	}
}

// servers0 is server-1's share: a record of the wallet's current epoch
// that names its recovery policy.
func servers0(t *testing.T, shares map[string][]byte) []byte {
	t.Helper()
	b, ok := shares["server-1"]
	if !ok {
		t.Fatal("no share of server-1")
	}
	return b
}
