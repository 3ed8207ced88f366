package vault

import (
	"bytes"
	"errors"
	"testing"
)

// TestIdentity: a party's identity key is made once, kept encrypted like a
// share, read back the same by later opens, never replaced, left out of
// the share listing, and re-encrypted by Rotate.
func TestIdentity(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		k := newKey(t)
		v := b.open(t, k)
		id := goldenShare(t).PartyID
		first, created, err := v.Identity(id)
		if err != nil || !created {
			t.Fatalf("first Identity: created %t, %v", created, err)
		}
		again, created, err := b.open(t, k).Identity(id)
		if err != nil || created || again.Public() != first.Public() {
			t.Fatalf("second open: created %t, same key %t, %v", created, again.Public() == first.Public(), err)
		}
		raw := b.rawShare(t, IdentityWalletID, id)
		if bytes.Contains(raw, []byte(first.Public().String())) {
			t.Fatal("the record holds the key in clear")
		}
		refs, err := v.ListShares()
		if err != nil || len(refs) != 0 {
			t.Fatalf("ListShares shows %v (%v)", refs, err)
		}
		if _, err := v.GetShare(IdentityWalletID, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetShare of the reserved id: %v", err)
		}
		rec := goldenShare(t)
		rec.WalletID = IdentityWalletID
		if err := v.PutShare(rec); !errors.Is(err, ErrInvalid) {
			t.Fatalf("PutShare of the reserved id: %v", err)
		}
		k2 := newKey(t)
		if n, err := v.Rotate(k2); err != nil || n != 1 {
			t.Fatalf("Rotate: %d, %v", n, err)
		}
		if _, _, err := b.open(t, k).Identity(id); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("under the old key: %v", err)
		}
		rotated, _, err := b.open(t, k2).Identity(id)
		if err != nil || rotated.Public() != first.Public() {
			t.Fatalf("after Rotate: %v", err)
		}
	})
}
