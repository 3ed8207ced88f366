package roster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
)

func TestKeyIsSHA256(t *testing.T) {
	sum := sha256.Sum256([]byte("server-1"))
	if Key("server-1").Cmp(new(big.Int).SetBytes(sum[:])) != 0 {
		t.Fatal("key is not the big-endian SHA-256 of the id")
	}
}

func TestNewSortsByKeyWhateverTheOrder(t *testing.T) {
	a, err := New([]string{"server-2", "browser-1", "server-1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New([]string{"server-1", "server-2", "browser-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.IDs(), b.IDs()) || !Sorted(a.IDs()) {
		t.Fatalf("orders differ or unsorted: %v %v", a.IDs(), b.IDs())
	}
	for i, id := range a.IDs() {
		p := a.PartyID(id)
		if a.Index(id) != i || p.Index != i || p.Id != id || p.KeyInt().Cmp(Key(id)) != 0 {
			t.Fatalf("party %s: index %d, tss-lib index %d", id, a.Index(id), p.Index)
		}
	}
	if a.Index("nobody") != -1 || a.PartyID("nobody") != nil || a.Contains("nobody") {
		t.Fatal("unknown id found")
	}
}

func TestNewRejects(t *testing.T) {
	many := make([]string, MaxParties+1)
	for i := range many {
		many[i] = fmt.Sprint("p", i)
	}
	for name, ids := range map[string][]string{
		"one party":   {"a"},
		"too many":    many,
		"duplicate":   {"a", "b", "a"},
		"empty id":    {"a", ""},
		"space":       {"a", "b c"},
		"control":     {"a", "b\x00"},
		"invalid utf": {"a", "\xff"},
		"too long":    {"a", strings.Repeat("x", MaxIDLen+1)},
	} {
		if _, err := New(ids); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}
