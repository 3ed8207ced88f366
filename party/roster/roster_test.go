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

// The keys of each epoch, against SHA-256 computed outside Go (Python's
// hashlib): SHA-256(id) at epoch 0, SHA-256(id || 0x00 || epoch as 4
// big-endian bytes) later.
func TestKeyAtVectors(t *testing.T) {
	for _, c := range []struct {
		epoch int
		want  string
	}{
		{0, "abcc4a8112e912f59caea6d6afe99108d96e9e23bcf4f03dcc634c016a1eb31e"},
		{2, "e3d4cdb9d7716e1b22811af5196258787d9895da897474d49f7b0d51642812a8"},
	} {
		if got := fmt.Sprintf("%064x", KeyAt("server-1", c.epoch)); got != c.want {
			t.Errorf("epoch %d: key %s, want %s", c.epoch, got, c.want)
		}
	}
	if Key("server-1").Cmp(KeyAt("server-1", 0)) != 0 {
		t.Error("Key is not KeyAt epoch 0")
	}
	r, err := NewAt([]string{"a", "b", "c"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !SortedAt(r.IDs(), 5) || r.PartyID("a").KeyInt().Cmp(KeyAt("a", 5)) != 0 {
		t.Error("NewAt does not use the epoch's keys")
	}
	if _, err := NewAt([]string{"a", "b"}, -1); err == nil {
		t.Error("a negative epoch was accepted")
	}
}
