package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// atEpoch returns the share a reshare of r's wallet to epoch, among the
// same parties, could give r's party: see reshared.
func atEpoch(t *testing.T, r *share.Record, epoch int) *share.Record {
	t.Helper()
	return reshared(t, r, epoch, r.SaveData.ECDSAPub)
}

// reshared returns a valid record of r's wallet and party at epoch, for
// the wallet key y: the parties in the roster order of epoch, their
// pre-parameters moved along, and a fresh sharing of y at their roster
// keys of that epoch. The sharing is made in the exponent, from y, a random
// share of r's party and random points, so that no secret is needed: a
// new record each call, as a reshare makes.
func reshared(t *testing.T, r *share.Record, epoch int, y *crypto.ECPoint) *share.Record {
	t.Helper()
	curve := tss.S256()
	n := curve.Params().N
	rs, err := roster.NewAt(r.Parties, epoch)
	if err != nil {
		t.Fatal(err)
	}
	ids := rs.IDs()
	own := rs.Index(r.PartyID)
	old := r.SaveData
	sd := *old // the pre-parameters are shared, and only read
	sd.Ks = make([]*big.Int, len(ids))
	sd.NTildej = make([]*big.Int, len(ids))
	sd.H1j = make([]*big.Int, len(ids))
	sd.H2j = make([]*big.Int, len(ids))
	sd.BigXj = make([]*crypto.ECPoint, len(ids))
	sd.PaillierPKs = slices.Clone(old.PaillierPKs)
	c := *r
	c.Parties, c.Epoch, c.SaveData, c.Holders = ids, epoch, &sd, nil
	for j, id := range ids {
		o := slices.Index(r.Parties, id)
		sd.Ks[j] = roster.KeyAt(id, epoch)
		sd.NTildej[j], sd.H1j[j], sd.H2j[j], sd.PaillierPKs[j] = old.NTildej[o], old.H1j[o], old.H2j[o], old.PaillierPKs[o]
		if len(r.Holders) > 0 {
			c.Holders = append(c.Holders, r.Holders[o])
		}
	}
	sd.ShareID = sd.Ks[own]
	random := func() *big.Int {
		k, err := rand.Int(rand.Reader, n)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// The polynomial of degree Threshold-1 through (0, y), (own key, Xi)
	// and Threshold-2 random points.
	sd.Xi = random()
	xs := []*big.Int{new(big.Int), sd.Ks[own]}
	ys := []*crypto.ECPoint{y, crypto.ScalarBaseMult(curve, sd.Xi)}
	for len(xs) < r.Threshold {
		xs = append(xs, random())
		ys = append(ys, crypto.ScalarBaseMult(curve, random()))
	}
	for j := range ids {
		sd.BigXj[j] = pointAt(t, sd.Ks[j], xs, ys)
	}
	sd.ECDSAPub = y
	c.PublicKey = make([]byte, 33)
	c.PublicKey[0] = 2 + byte(y.Y().Bit(0))
	y.X().FillBytes(c.PublicKey[1:])
	if err := c.Validate(); err != nil {
		t.Fatalf("reshared record: %v", err)
	}
	return &c
}

// pointAt is f(x)·G for the polynomial f with f(xs[i])·G = ys[i]: the
// Lagrange interpolation in the exponent.
func pointAt(t *testing.T, x *big.Int, xs []*big.Int, ys []*crypto.ECPoint) *crypto.ECPoint {
	t.Helper()
	n := tss.S256().Params().N
	var sum *crypto.ECPoint
	for i := range xs {
		num, den := big.NewInt(1), big.NewInt(1)
		for m := range xs {
			if m != i {
				num.Mod(num.Mul(num, new(big.Int).Sub(x, xs[m])), n)
				den.Mod(den.Mul(den, new(big.Int).Sub(xs[i], xs[m])), n)
			}
		}
		c := num.Mod(num.Mul(num, den.ModInverse(den, n)), n)
		if c.Sign() == 0 {
			continue
		}
		term := ys[i].ScalarMult(c)
		if sum == nil {
			sum = term
			continue
		}
		var err error
		if sum, err = sum.Add(term); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}

// sameShare fails t unless got is want.
func sameShare(t *testing.T, what string, got *share.Record, err error, want *share.Record) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(mustEncode(t, got), mustEncode(t, want)) {
		t.Fatalf("%s: the share of epoch %d, want the one of epoch %d (or another of that epoch)", what, got.Epoch, want.Epoch)
	}
}

// activeAndNext opens a vault on b under a new key with the golden share
// stored (r0, epoch 0) and returns it with r1, a share of its next epoch.
func activeAndNext(t *testing.T, b testBackend) (v *Vault, k *MasterKey, r0, r1 *share.Record) {
	t.Helper()
	r0 = goldenShare(t)
	r1 = atEpoch(t, r0, 1)
	k = newKey(t)
	v = b.open(t, k)
	if err := v.PutShare(r0); err != nil {
		t.Fatal(err)
	}
	return v, k, r0, r1
}

// TestPendingShare: a reshare's share is kept pending, GetShare still
// returning the active one, until ActivateShare replaces the active share
// with it; activating again changes nothing.
func TestPendingShare(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		v, k, r0, r1 := activeAndNext(t, b)
		w, p := r0.WalletID, r0.PartyID
		if _, err := v.GetPendingShare(w, p); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetPendingShare before PutPendingShare: got %v, want ErrNotFound", err)
		}
		if err := v.PutPendingShare(r1); err != nil {
			t.Fatal(err)
		}

		// Pending: the active share is unchanged, and listed alone.
		got, err := v.GetPendingShare(w, p)
		sameShare(t, "GetPendingShare", got, err, r1)
		got, err = v.GetShare(w, p)
		sameShare(t, "GetShare of a share with a pending one", got, err, r0)
		refs, err := v.ListShares()
		if want := []ShareRef{{WalletID: w, PartyID: p, KeyID: k.ID()}}; err != nil || !slices.Equal(refs, want) {
			t.Fatalf("ListShares %v, %v; want %v", refs, err, want)
		}
		// Another Vault on the store sees the same.
		other := b.open(t, k)
		got, err = other.GetPendingShare(w, p)
		sameShare(t, "GetPendingShare, reopened", got, err, r1)

		// The pending record: a share record like the active one, with
		// nothing of the plaintext.
		raw := b.rawPending(t, w, p)
		m := decodeJSON(t, raw)
		if m["format"] != "tsskit.vault" || m["kind"] != "share" || m["wallet_id"] != w || m["party_id"] != p || m["key_id"] != k.ID() || len(m) != 8 {
			t.Fatalf("pending header %v", m)
		}
		for _, s := range []string{"save_data", "tsskit.share", r1.SaveData.Xi.String()} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("pending record contains plaintext %.20q", s)
			}
		}
		b.checkClean(t)

		// Activation: the record moves as it is.
		if err := v.ActivateShare(w, p, 1); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.rawShare(t, w, p), raw) {
			t.Fatal("the active record is not the pending one")
		}
		if b.rawPending(t, w, p) != nil {
			t.Fatal("the pending record is still stored")
		}
		for _, vv := range []*Vault{v, other, b.open(t, k)} {
			got, err = vv.GetShare(w, p)
			sameShare(t, "GetShare after ActivateShare", got, err, r1)
			if _, err := vv.GetPendingShare(w, p); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetPendingShare after ActivateShare: got %v, want ErrNotFound", err)
			}
		}
		if refs, err := v.ListShares(); err != nil || len(refs) != 1 {
			t.Fatalf("ListShares %v, %v", refs, err)
		}

		// Again, from any Vault: nothing to do.
		for _, vv := range []*Vault{v, other} {
			if err := vv.ActivateShare(w, p, 1); err != nil {
				t.Fatalf("second ActivateShare: %v", err)
			}
		}
		got, err = v.GetShare(w, p)
		sameShare(t, "GetShare after a second ActivateShare", got, err, r1)

		// The next reshare.
		r2 := atEpoch(t, r1, 2)
		if err := v.PutPendingShare(r2); err != nil {
			t.Fatal(err)
		}
		if err := other.ActivateShare(w, p, 2); err != nil {
			t.Fatal(err)
		}
		got, err = v.GetShare(w, p)
		sameShare(t, "GetShare after the second reshare", got, err, r2)
		b.checkClean(t)
	})
}

// TestPendingShareFrom: a pending share names the reshare session it is
// from, across a reopen (a restart), in ListPendingShares and
// GetPendingShareFrom, and keeps the name once active; the session id is
// bound to the ciphertext, so a record whose session id is changed, put
// in or taken out does not open, and a bad session id is refused.
func TestPendingShareFrom(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		v, k, r0, r1 := activeAndNext(t, b)
		w, p := r0.WalletID, r0.PartyID
		for _, bad := range []string{"a b", strings.Repeat("s", MaxSessionIDLen+1), "s\x00"} {
			if err := v.PutPendingShareFrom(r1, bad); !errors.Is(err, ErrInvalid) {
				t.Fatalf("PutPendingShareFrom(session %.20q): %v, want ErrInvalid", bad, err)
			}
		}
		if refs, err := v.ListPendingShares(); err != nil || len(refs) != 0 {
			t.Fatalf("ListPendingShares after refusals: %v, %v", refs, err)
		}
		const session = "session-7f3a"
		if err := v.PutPendingShareFrom(r1, session); err != nil {
			t.Fatal(err)
		}
		reopened := b.open(t, k)
		got, from, err := reopened.GetPendingShareFrom(w, p)
		sameShare(t, "GetPendingShareFrom, reopened", got, err, r1)
		if from != session {
			t.Fatalf("GetPendingShareFrom: session %q, want %q", from, session)
		}
		refs, err := reopened.ListPendingShares()
		if want := []ShareRef{{WalletID: w, PartyID: p, KeyID: k.ID(), SessionID: session}}; err != nil || !slices.Equal(refs, want) {
			t.Fatalf("ListPendingShares %v, %v; want %v", refs, err, want)
		}
		// A record that does not parse, of another wallet, is named in an
		// ErrCorrupt and hides none of the others.
		const other = "wallet-unreadable"
		b.setRawPending(t, other, p, []byte("not a vault record"))
		refs, err = reopened.ListPendingShares()
		if want := []ShareRef{{WalletID: w, PartyID: p, KeyID: k.ID(), SessionID: session}}; !errors.Is(err, ErrCorrupt) || !slices.Equal(refs, want) {
			t.Fatalf("ListPendingShares beside an unreadable record: %v, %v; want %v and ErrCorrupt", refs, err, want)
		}
		if !strings.Contains(err.Error(), other) && !strings.Contains(err.Error(), shareFileName(other, p)) {
			t.Fatalf("the error %q does not say which record", err)
		}
		b.deleteRawPending(t, other, p)
		if refs, err := reopened.ListPendingShares(); err != nil || len(refs) != 1 {
			t.Fatalf("ListPendingShares once the bad record is gone: %v, %v", refs, err)
		}
		if refs, err := reopened.ListShares(); err != nil || len(refs) != 1 || refs[0].SessionID != "" {
			t.Fatalf("ListShares %v, %v: the keygen share names no session", refs, err)
		}

		// The session id cannot be changed, put in or taken out.
		raw := b.rawPending(t, w, p)
		for _, tc := range []struct{ name, old, new string }{
			{"changed", `"session_id":"` + session + `"`, `"session_id":"session-0000"`},
			{"taken out", `"session_id":"` + session + `",`, ``},
		} {
			forged := bytes.Replace(raw, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(forged, raw) {
				t.Fatalf("%s: the record has no %s", tc.name, tc.old)
			}
			b.setRawPending(t, w, p, forged)
			if _, _, err := reopened.GetPendingShareFrom(w, p); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a pending record with its session id %s: %v, want ErrCorrupt", tc.name, err)
			}
		}
		b.setRawPending(t, w, p, raw)
		if err := v.PutPendingShare(r1); err != nil { // no session
			t.Fatal(err)
		}
		plain := b.rawPending(t, w, p)
		b.setRawPending(t, w, p, bytes.Replace(plain, []byte(`"key_id"`), []byte(`"session_id":"`+session+`","key_id"`), 1))
		if _, _, err := v.GetPendingShareFrom(w, p); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a pending record with a session id put in: %v, want ErrCorrupt", err)
		}
		b.setRawPending(t, w, p, raw)

		// ActivateShareFrom activates only the named session's share: a
		// record of another session of the same epoch (here one written
		// back in its place, as a database writer could) stays pending.
		if err := v.PutPendingShareFrom(atEpoch(t, r0, 1), "session-0000"); err != nil {
			t.Fatal(err)
		}
		if err := v.ActivateShareFrom(w, p, 1, session); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ActivateShareFrom(%s) of session-0000's record: %v, want ErrInvalid", session, err)
		}
		if got, err := v.GetShare(w, p); err != nil || got.Epoch != 0 {
			t.Fatalf("after a refused activation the active share is %v, %v; want epoch 0", got, err)
		}
		if _, from, err := v.GetPendingShareFrom(w, p); err != nil || from != "session-0000" {
			t.Fatalf("after a refused activation the pending share is from %q, %v", from, err)
		}
		if err := v.PutPendingShare(r1); err != nil { // no session named
			t.Fatal(err)
		}
		if err := v.ActivateShareFrom(w, p, 1, session); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ActivateShareFrom of a record naming no session: %v, want ErrInvalid", err)
		}
		if err := v.ActivateShareFrom(w, p, 1, "a b"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ActivateShareFrom with a bad session id: %v, want ErrInvalid", err)
		}
		b.setRawPending(t, w, p, raw)

		// Active, it keeps its session and opens; Rotate keeps it too.
		if err := v.ActivateShareFrom(w, p, 1, session); err != nil {
			t.Fatal(err)
		}
		got, err = v.GetShare(w, p)
		sameShare(t, "GetShare of the activated share", got, err, r1)
		// Again: done already for this session, and only for it — another
		// session's activation is not reported done with this one's share.
		if err := v.ActivateShareFrom(w, p, 1, session); err != nil {
			t.Fatalf("ActivateShareFrom again: %v", err)
		}
		if err := v.ActivateShareFrom(w, p, 1, "session-0000"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), session) {
			t.Fatalf("ActivateShareFrom(session-0000) with %s's share active: %v, want ErrInvalid naming it", session, err)
		}
		if err := v.ActivateShare(w, p, 1); err != nil {
			t.Fatalf("ActivateShare with the share of epoch 1 active: %v", err)
		}
		if refs, err := v.ListShares(); err != nil || len(refs) != 1 || refs[0].SessionID != session {
			t.Fatalf("ListShares %v, %v: want the share of session %s", refs, err, session)
		}
		k2 := newKey(t)
		if _, err := v.Rotate(k2); err != nil {
			t.Fatal(err)
		}
		got, err = b.open(t, k2).GetShare(w, p)
		sameShare(t, "GetShare after Rotate", got, err, r1)
		if refs, err := v.ListShares(); err != nil || len(refs) != 1 || refs[0].SessionID != session || refs[0].KeyID != k2.ID() {
			t.Fatalf("ListShares after Rotate %v, %v", refs, err)
		}
	})
}

// TestPendingShareRefused: the arguments and states PutPendingShare and
// ActivateShare refuse, each changing nothing.
func TestPendingShareRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r0 := goldenShare(t)
		w, p := r0.WalletID, r0.PartyID
		k := newKey(t)
		v := b.open(t, k)
		if err := v.PutShare(r0); err != nil {
			t.Fatal(err)
		}
		r2 := atEpoch(t, r0, 2)
		if err := v.PutPendingShare(r2); err != nil {
			t.Fatal(err)
		}
		if err := v.ActivateShare(w, p, 2); err != nil {
			t.Fatal(err)
		}
		active := b.rawShare(t, w, p)
		unchanged := func(what string) {
			t.Helper()
			if !bytes.Equal(b.rawShare(t, w, p), active) {
				t.Fatalf("%s: the active share changed", what)
			}
		}

		// PutPendingShare.
		bad := *atEpoch(t, r0, 3)
		bad.Threshold = 7
		reserved := *atEpoch(t, r0, 3)
		reserved.WalletID = IdentityWalletID
		for name, c := range map[string]struct {
			r    *share.Record
			want error
		}{
			"nil":                {nil, ErrInvalid},
			"epoch 0":            {inWallet(r0, "fresh"), ErrInvalid},
			"invalid record":     {&bad, ErrInvalid},
			"reserved wallet":    {&reserved, ErrInvalid},
			"the active epoch":   {atEpoch(t, r0, 2), ErrStaleEpoch},
			"below the active":   {atEpoch(t, r0, 1), ErrStaleEpoch},
			"another wallet key": {reshared(t, r0, 3, crypto.ScalarBaseMult(tss.S256(), big.NewInt(7))), ErrInvalid},
		} {
			if err := v.PutPendingShare(c.r); !errors.Is(err, c.want) {
				t.Errorf("PutPendingShare, %s: got %v, want %v", name, err, c.want)
			}
		}
		if _, err := v.GetPendingShare(w, p); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused PutPendingShare stored a pending share: %v", err)
		}
		if err := v.PutPendingShare(inWallet(atEpoch(t, r0, 1), "fresh")); err != nil {
			t.Fatalf("epoch 1 of another wallet: %v", err)
		}
		unchanged("PutPendingShare")

		// ActivateShare: arguments.
		for _, c := range []struct {
			w, p  string
			epoch int
		}{
			{"", p, 3}, {w, "", 3}, {"a b", p, 3}, {w, "a\nb", 3}, {strings.Repeat("w", 129), p, 3},
			{w, p, 0}, {w, p, -1}, {IdentityWalletID, p, 3},
		} {
			if err := v.ActivateShare(c.w, c.p, c.epoch); !errors.Is(err, ErrInvalid) {
				t.Errorf("ActivateShare(%q, %q, %d): got %v, want ErrInvalid", c.w, c.p, c.epoch, err)
			}
		}
		// Nothing pending: a later epoch is not found, an earlier one is
		// below the active share's.
		if err := v.ActivateShare(w, p, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ActivateShare with nothing pending: got %v, want ErrNotFound", err)
		}
		if err := v.ActivateShare(w, p, 1); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("ActivateShare of an epoch below the active one: got %v, want ErrStaleEpoch", err)
		}
		if err := v.ActivateShare("no-such-wallet", p, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ActivateShare of another wallet: got %v, want ErrNotFound", err)
		}
		// A pending share of another epoch than asked is kept.
		r4 := atEpoch(t, r0, 4)
		if err := v.PutPendingShare(r4); err != nil {
			t.Fatal(err)
		}
		if err := v.ActivateShare(w, p, 3); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "epoch 4") {
			t.Fatalf("ActivateShare of epoch 3 with epoch 4 pending: got %v, want ErrNotFound naming epoch 4", err)
		}
		if err := v.ActivateShare(w, p, 5); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ActivateShare of epoch 5 with epoch 4 pending: got %v, want ErrNotFound", err)
		}
		got, err := v.GetPendingShare(w, p)
		sameShare(t, "the pending share after refused activations", got, err, r4)

		// Under another key: nothing is decrypted, nothing changes.
		if err := b.open(t, newKey(t)).ActivateShare(w, p, 4); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("ActivateShare under another key: got %v, want ErrWrongKey", err)
		}
		if err := b.open(t, newKey(t)).PutPendingShare(atEpoch(t, r0, 5)); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("PutPendingShare under another key: got %v, want ErrWrongKey", err)
		}
		got, err = v.GetPendingShare(w, p)
		sameShare(t, "the pending share after a refused activation", got, err, r4)
		unchanged("ActivateShare")

		// A corrupt pending share is reported, and stays.
		raw := b.rawPending(t, w, p)
		m := decodeJSON(t, raw)
		m["wallet_id"] = "fresh"
		b.setRawPending(t, w, p, encodeJSON(t, m))
		if err := v.ActivateShare(w, p, 4); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ActivateShare of a corrupt pending share: got %v, want ErrCorrupt", err)
		}
		if _, err := v.GetPendingShare(w, p); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("GetPendingShare of a corrupt pending share: got %v, want ErrCorrupt", err)
		}
		b.setRawPending(t, w, p, raw)
		unchanged("a corrupt pending share")
		// A keygen's share (epoch 0), put pending by hand, is no
		// reshare's.
		zero := inWallet(r0, "zero")
		if err := v.PutShare(zero); err != nil {
			t.Fatal(err)
		}
		b.setRawPending(t, zero.WalletID, p, b.rawShare(t, zero.WalletID, p))
		if _, err := v.GetPendingShare(zero.WalletID, p); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("GetPendingShare of an epoch 0 share: got %v, want ErrCorrupt", err)
		}
		if err := v.ActivateShare(zero.WalletID, p, 1); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ActivateShare of an epoch 0 share: got %v, want ErrCorrupt", err)
		}

		// A pending share of another wallet key than the active share,
		// which PutPendingShare could not check: put before the active
		// share was.
		other := inWallet(r0, "other-key")
		if err := v.PutPendingShare(atEpoch(t, other, 1)); err != nil {
			t.Fatal(err)
		}
		if err := v.PutShare(reshared(t, other, 0, crypto.ScalarBaseMult(tss.S256(), big.NewInt(7)))); err != nil {
			t.Fatal(err)
		}
		if err := v.ActivateShare(other.WalletID, p, 1); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ActivateShare of another wallet key: got %v, want ErrInvalid", err)
		}
		if got, err := v.GetShare(other.WalletID, p); err != nil || got.Epoch != 0 {
			t.Fatalf("the active share after a refused activation: %v", err)
		}
	})
}

// TestPendingShareReplaced: a later PutPendingShare replaces the pending
// share, whatever its epoch; pending shares of an epoch not above the
// active one are dropped by ActivateShare.
func TestPendingShareReplaced(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r0 := goldenShare(t)
		w, p := r0.WalletID, r0.PartyID
		v := b.open(t, newKey(t))
		if err := v.PutShare(r0); err != nil {
			t.Fatal(err)
		}
		first, second := atEpoch(t, r0, 1), atEpoch(t, r0, 1)
		if err := v.PutPendingShare(first); err != nil {
			t.Fatal(err)
		}
		rawFirst := b.rawPending(t, w, p)
		// A reshare run again, to the same epoch or another.
		for _, r := range []*share.Record{second, atEpoch(t, r0, 3), atEpoch(t, r0, 2)} {
			if err := v.PutPendingShare(r); err != nil {
				t.Fatal(err)
			}
			got, err := v.GetPendingShare(w, p)
			sameShare(t, "the replaced pending share", got, err, r)
		}
		if err := v.ActivateShare(w, p, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ActivateShare of a replaced epoch: got %v, want ErrNotFound", err)
		}
		if err := v.ActivateShare(w, p, 2); err != nil {
			t.Fatal(err)
		}
		if got, err := v.GetShare(w, p); err != nil || got.Epoch != 2 {
			t.Fatalf("GetShare after ActivateShare: %v", err)
		}

		// A pending share below the active one (a reshare superseded,
		// put back here by hand) is dropped by any activation, asked for
		// its epoch or not.
		b.setRawPending(t, w, p, rawFirst)
		if err := v.ActivateShare(w, p, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ActivateShare with a stale pending share: got %v, want ErrNotFound", err)
		}
		if b.rawPending(t, w, p) != nil {
			t.Fatal("a pending share below the active one was kept")
		}
		b.setRawPending(t, w, p, rawFirst)
		if err := v.ActivateShare(w, p, 1); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("ActivateShare of a stale pending share's epoch: got %v, want ErrStaleEpoch", err)
		}
		if b.rawPending(t, w, p) != nil {
			t.Fatal("a pending share below the active one was kept")
		}
		// One of the active epoch, as an activation that crashed after
		// the move leaves it, is dropped by activating that epoch again.
		b.setRawPending(t, w, p, b.rawShare(t, w, p))
		if err := v.ActivateShare(w, p, 2); err != nil {
			t.Fatalf("ActivateShare with the active share pending: %v", err)
		}
		if b.rawPending(t, w, p) != nil {
			t.Fatal("a pending share of the active epoch was kept")
		}
		if got, err := v.GetShare(w, p); err != nil || got.Epoch != 2 {
			t.Fatalf("GetShare: %v", err)
		}
		b.checkClean(t)
	})
}

// TestPendingShareJoin: a party that joins a wallet in a reshare has no
// active share; its pending share becomes its first.
func TestPendingShareJoin(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := inWallet(atEpoch(t, goldenShare(t), 1), "joined")
		w, p := r.WalletID, r.PartyID
		v := b.open(t, newKey(t))
		if err := v.PutPendingShare(r); err != nil {
			t.Fatal(err)
		}
		if _, err := v.GetShare(w, p); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetShare of a pending share only: got %v, want ErrNotFound", err)
		}
		if v.HasShare(w, p) {
			t.Fatal("HasShare of a pending share only")
		}
		if refs, err := v.ListShares(); err != nil || len(refs) != 0 {
			t.Fatalf("ListShares lists a pending share: %v, %v", refs, err)
		}
		if err := v.ActivateShare(w, p, 2); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ActivateShare of another epoch: got %v, want ErrNotFound", err)
		}
		if err := v.ActivateShare(w, p, 1); err != nil {
			t.Fatal(err)
		}
		got, err := v.GetShare(w, p)
		sameShare(t, "GetShare after joining", got, err, r)
		if !v.HasShare(w, p) {
			t.Fatal("HasShare after joining")
		}
		if refs, err := v.ListShares(); err != nil || len(refs) != 1 || refs[0].WalletID != w {
			t.Fatalf("ListShares after joining: %v, %v", refs, err)
		}
		if err := v.PutShare(r); !errors.Is(err, ErrExists) {
			t.Fatalf("PutShare over an activated share: got %v, want ErrExists", err)
		}
		b.checkClean(t)
	})
}

// TestActivateShareConcurrent: Vaults (processes) activating one share at
// once all succeed, and leave the new share active and nothing pending.
func TestActivateShareConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r0 := goldenShare(t)
		r1 := atEpoch(t, r0, 1)
		k := newKey(t)
		v := b.open(t, k)
		if err := v.PutShare(r0); err != nil {
			t.Fatal(err)
		}
		if err := v.PutPendingShare(r1); err != nil {
			t.Fatal(err)
		}
		vaults := []*Vault{v, v, b.open(t, k), b.open(t, k), b.open(t, k), b.open(t, k)}
		errs := make([]error, len(vaults))
		var wg sync.WaitGroup
		for i, vi := range vaults {
			wg.Go(func() { errs[i] = vi.ActivateShare(r0.WalletID, r0.PartyID, 1) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, err := v.GetShare(r0.WalletID, r0.PartyID)
		sameShare(t, "GetShare", got, err, r1)
		if b.rawPending(t, r0.WalletID, r0.PartyID) != nil {
			t.Fatal("a pending share is left")
		}
	})
}

// TestRetireShare: a party the wallet moved on without deletes its share
// of the superseded epoch, and a pending one of an earlier epoch, from
// every backend; a share of the new epoch or later, a share it cannot
// decrypt, or no share at all is refused and nothing is deleted.
func TestRetireShare(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r0 := goldenShare(t)
		w, p := r0.WalletID, r0.PartyID
		k := newKey(t)
		v := b.open(t, k)
		if err := v.RetireShare(w, p, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RetireShare with no share: got %v, want ErrNotFound", err)
		}
		for _, e := range []int{0, -1, share.MaxEpoch + 1} {
			if err := v.RetireShare(w, p, e); !errors.Is(err, ErrInvalid) {
				t.Fatalf("RetireShare epoch %d: got %v, want ErrInvalid", e, err)
			}
		}
		if err := v.RetireShare(IdentityWalletID, p, 1); !errors.Is(err, ErrInvalid) {
			t.Fatalf("RetireShare of the identity record: got %v, want ErrInvalid", err)
		}
		if err := v.PutShare(r0); err != nil {
			t.Fatal(err)
		}
		// Not before the active share's epoch: kept.
		r1 := atEpoch(t, r0, 1)
		if err := v.PutPendingShare(r1); err != nil {
			t.Fatal(err)
		}
		if err := v.ActivateShare(w, p, 1); err != nil {
			t.Fatal(err)
		}
		if err := v.RetireShare(w, p, 1); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("RetireShare(1) of an epoch-1 share: got %v, want ErrStaleEpoch", err)
		}
		got, err := v.GetShare(w, p)
		sameShare(t, "GetShare after a refused RetireShare", got, err, r1)
		// A pending share of the epoch retired to (this party would be
		// a new holder): nothing deleted.
		r2 := atEpoch(t, r1, 2)
		if err := v.PutPendingShare(r2); err != nil {
			t.Fatal(err)
		}
		if err := v.RetireShare(w, p, 2); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("RetireShare with a pending share of that epoch: got %v, want ErrStaleEpoch", err)
		}
		got, err = v.GetShare(w, p)
		sameShare(t, "GetShare after a refused RetireShare", got, err, r1)
		got, err = v.GetPendingShare(w, p)
		sameShare(t, "GetPendingShare after a refused RetireShare", got, err, r2)
		// Another master key cannot read the share: nothing deleted.
		if err := b.open(t, newKey(t)).RetireShare(w, p, 3); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("RetireShare under another key: got %v, want ErrWrongKey", err)
		}
		if !v.HasShare(w, p) {
			t.Fatal("the share is gone after a refused RetireShare")
		}
		// Epoch 3 made without this party: both shares go, for every Vault
		// on the store; again, there is nothing to retire.
		if err := v.RetireShare(w, p, 3); err != nil {
			t.Fatal(err)
		}
		for _, vv := range []*Vault{v, b.open(t, k)} {
			if _, err := vv.GetShare(w, p); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetShare after RetireShare: got %v, want ErrNotFound", err)
			}
			if _, err := vv.GetPendingShare(w, p); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetPendingShare after RetireShare: got %v, want ErrNotFound", err)
			}
		}
		if v.HasShare(w, p) || b.rawPending(t, w, p) != nil {
			t.Fatal("a record is still stored after RetireShare")
		}
		if err := v.RetireShare(w, p, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RetireShare again: got %v, want ErrNotFound", err)
		}
		b.checkClean(t)
	})
}
