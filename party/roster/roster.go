// Package roster turns tsskit party ids into tss-lib party identities.
//
// A party has a stable string id ("server-1", "browser-<uuid>"). Its tss-lib
// PartyID.Key is the big-endian integer of SHA-256(id), so the same party gets
// the same key (and therefore the same Shamir evaluation point) in keygen and
// in every later signing, whatever roster it appears in.
package roster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"unicode"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

const (
	// MinParties and MaxParties bound a roster (keygen or signing).
	MinParties = 2
	MaxParties = 16
	// MaxIDLen bounds a party id in bytes.
	MaxIDLen = 128
)

// ErrInvalid is matched (errors.Is) by every error this package returns.
var ErrInvalid = errors.New("roster: invalid")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Key returns the tss-lib key of a party id at epoch 0 (the shares keygen
// made): big-endian SHA-256(id).
func Key(id string) *big.Int { return KeyAt(id, 0) }

// KeyAt returns the tss-lib key of a party id for the shares of epoch
// epoch: SHA-256(id) at epoch 0, and from epoch 1 on (the shares a reshare
// made) SHA-256(id || 0x00 || epoch as 4 big-endian bytes). A party in both
// committees of a reshare thus runs as two tss-lib parties with distinct
// keys, as tss-lib requires; a party id never holds a zero byte, so the two
// forms cannot collide.
func KeyAt(id string, epoch int) *big.Int {
	h := sha256.New()
	h.Write([]byte(id))
	if epoch != 0 {
		h.Write([]byte{0, byte(epoch >> 24), byte(epoch >> 16), byte(epoch >> 8), byte(epoch)})
	}
	return new(big.Int).SetBytes(h.Sum(nil))
}

// CheckID reports whether id is usable as a party id: 1..MaxIDLen bytes of
// printable, non-space characters.
func CheckID(id string) error {
	if id == "" {
		return invalid("empty party id")
	}
	if len(id) > MaxIDLen {
		return invalid("party id longer than %d bytes", MaxIDLen)
	}
	for _, r := range id {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return invalid("party id %q has a non-printable or space character", id)
		}
	}
	return nil
}

// Roster is a validated set of parties sorted by tss-lib key.
type Roster struct {
	ids    []string // sorted by Key
	sorted tss.SortedPartyIDs
	index  map[string]int
}

// New validates ids (unique, MinParties..MaxParties, each CheckID) and sorts
// them by key at epoch 0. The order of ids does not matter.
func New(ids []string) (*Roster, error) { return NewAt(ids, 0) }

// NewAt is New with the parties' keys of epoch epoch (KeyAt).
func NewAt(ids []string, epoch int) (*Roster, error) {
	if epoch < 0 {
		return nil, invalid("epoch %d", epoch)
	}
	if len(ids) < MinParties || len(ids) > MaxParties {
		return nil, invalid("%d parties; want %d..%d", len(ids), MinParties, MaxParties)
	}
	seen := make(map[string]bool, len(ids))
	unsorted := make(tss.UnSortedPartyIDs, 0, len(ids))
	for _, id := range ids {
		if err := CheckID(id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, invalid("party id %q appears twice", id)
		}
		seen[id] = true
		unsorted = append(unsorted, tss.NewPartyID(id, id, KeyAt(id, epoch)))
	}
	r := &Roster{sorted: tss.SortPartyIDs(unsorted), index: make(map[string]int, len(ids))}
	for i, p := range r.sorted {
		r.ids = append(r.ids, p.Id)
		r.index[p.Id] = i
	}
	return r, nil
}

// IDs returns the party ids in key order (a copy).
func (r *Roster) IDs() []string { return append([]string(nil), r.ids...) }

// Len is the number of parties.
func (r *Roster) Len() int { return len(r.ids) }

// Contains reports whether id is in the roster.
func (r *Roster) Contains(id string) bool { _, ok := r.index[id]; return ok }

// Index returns the position of id in key order, or -1.
func (r *Roster) Index(id string) int {
	if i, ok := r.index[id]; ok {
		return i
	}
	return -1
}

// PartyID returns the tss-lib identity of id, or nil.
func (r *Roster) PartyID(id string) *tss.PartyID {
	if i, ok := r.index[id]; ok {
		return r.sorted[i]
	}
	return nil
}

// PartyIDs returns the tss-lib identities in key order. tss-lib keeps
// pointers to them, so callers must not modify the result.
func (r *Roster) PartyIDs() tss.SortedPartyIDs { return r.sorted }

// Sorted reports whether ids is already in key order (as share records keep it).
func Sorted(ids []string) bool { return SortedAt(ids, 0) }

// SortedAt reports whether ids is in the key order of epoch epoch.
func SortedAt(ids []string, epoch int) bool {
	return sort.SliceIsSorted(ids, func(i, j int) bool { return KeyAt(ids[i], epoch).Cmp(KeyAt(ids[j], epoch)) < 0 })
}
