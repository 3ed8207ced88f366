package party

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/rwadurian/tsskit/party/identity"
	rosterpkg "github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
)

// checkRoster runs identity.VerifyRoster on the session's roster with this
// party's own view completed from the session, and checks that the entry
// filed under this party is the one it signed (its session keys). It
// returns every party's session keys, taken from its checked statement.
func checkRoster(s *Session, v identity.View) (map[string]seal.PublicKeys, map[string]*identity.Verified, error) {
	v.SessionID, v.Parties, v.Kinds, v.Trust, v.Now = s.ID, s.Parties, s.Kinds, s.Trust, s.now()
	ver, err := identity.VerifyRoster(s.Roster, v)
	if err != nil {
		return nil, nil, identityError(0, err)
	}
	own, mine := s.Keys.Public(), ver[s.Self]
	if subtle.ConstantTimeCompare(mine.X25519, own.X25519) != 1 || subtle.ConstantTimeCompare(mine.Ed25519, own.Ed25519) != 1 {
		return nil, nil, &Error{Code: CodeIdentity, Culprits: []string{s.Self},
			Err: &identity.Error{Code: identity.CodeSubstituted, Party: s.Self, Err: errors.New("the roster's entry for this party is not the one it signed")}}
	}
	keys := make(map[string]seal.PublicKeys, len(ver))
	for id, p := range ver {
		keys[id] = seal.PublicKeys{X25519: p.X25519, Ed25519: p.Ed25519}
	}
	return keys, ver, nil
}

// identityError maps a package identity refusal to the engine's codes.
func identityError(round int, err error) error {
	ie, ok := identity.AsError(err)
	if !ok {
		return &Error{Code: CodeIdentity, Round: round, Err: err}
	}
	e := &Error{Code: CodeIdentity, Round: round, Err: ie}
	switch ie.Code {
	case identity.CodePolicy:
		e.Code = CodePolicy
	case identity.CodeMismatch:
		e.Code = CodeMismatch
	case identity.CodeStaleEpoch:
		e.Code = CodeStaleEpoch
	}
	if ie.Party != "" {
		e.Culprits = []string{ie.Party}
	}
	return e
}

// Round 0: before tss-lib starts, every party broadcasts the digest of
// every roster entry it accepted, in roster order:
//
//	"tsskit/v1 roster\x00" || n (1 byte) || n × SHA-256(statement)
//
// Each party compares the others' lists with its own. Envelopes signed by
// session keys that the roster bound to identities carry the lists, so a
// relay that showed parties different rosters cannot hide it; the entries
// that differ are the substituted parties.
const rosterDomain = "tsskit/v1 roster\x00"

func rosterDigests(order []string, ver map[string]*identity.Verified) []byte {
	b := append([]byte(rosterDomain), byte(len(order)))
	for _, id := range order {
		d := ver[id].Digest
		b = append(b, d[:]...)
	}
	return b
}

// RosterConfirmation is the round-0 payload a party that accepted roster
// sends: the digests of its entries in roster key order. (For tools that
// stand between an engine and the network, such as test proxies.)
func RosterConfirmation(roster map[string]*identity.Entry) ([]byte, error) {
	ids := make([]string, 0, len(roster))
	ver := make(map[string]*identity.Verified, len(roster))
	for id, e := range roster {
		ids = append(ids, id)
		ver[id] = &identity.Verified{Digest: e.Digest()}
	}
	r, err := rosterpkg.New(ids)
	if err != nil {
		return nil, err
	}
	return rosterDigests(r.IDs(), ver), nil
}

// compareRoster checks a peer's round-0 list against ours and names the
// parties whose entries differ.
func compareRoster(ours, theirs []byte, order []string, from string) error {
	if len(theirs) != len(ours) || !bytes.HasPrefix(theirs, []byte(rosterDomain)) || theirs[len(rosterDomain)] != byte(len(order)) {
		return &Error{Code: CodeProtocol, Culprits: []string{from}, Err: errors.New("malformed roster confirmation")}
	}
	var diff []string
	at := len(rosterDomain) + 1
	for i, id := range order {
		if !bytes.Equal(ours[at+32*i:at+32*(i+1)], theirs[at+32*i:at+32*(i+1)]) {
			diff = append(diff, id)
		}
	}
	if len(diff) == 0 {
		return nil
	}
	// Either a relay showed one of the two parties other entries, or the
	// sender lies about what it was shown: nothing here tells which, so
	// both the differing entries and the sender are named.
	culprits := diff
	if !slices.Contains(diff, from) {
		culprits = append(culprits, from)
	}
	return &Error{Code: CodeIdentity, Culprits: culprits, Err: &identity.Error{Code: identity.CodeSubstituted,
		Err: fmt.Errorf("%s's roster confirmation differs from this party's for %v: a relay showed one of the two other entries, or %s lies", from, diff, from)}}
}
