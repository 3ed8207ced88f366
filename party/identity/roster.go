package identity

import (
	"bytes"
	"slices"
	"time"
)

// Holder is what a share record says of one holder of a wallet.
type Holder struct {
	Kind     Kind
	Identity PublicKey // zero: not recorded (a record made before identities existed)
}

// View is what a party itself knows of a session, from its own request,
// its assignment and its share record, never from the roster it checks.
type View struct {
	SessionKind SessionKind
	SessionID   string
	WalletID    string
	Threshold   int      // signers needed
	Parties     []string // every party of the session, in any order
	Digest      []byte   // signing: the digest this party agreed to sign
	Path        []uint32 // signing: the derivation path of the signing key (empty: the wallet key)
	Epoch       int      // signing: the epoch of this party's share

	// Kinds, if set, is the kind every party must have: what a client
	// asked for (itself a client, every other party a server).
	Kinds map[string]Kind
	// Holders, at signing, are the wallet's holders as this party's share
	// record names them; every party of the session must be one, with the
	// recorded kind and identity.
	Holders map[string]Holder
	// ClientRequired, at signing: the wallet signs only with a sign
	// request from one of its client identities.
	ClientRequired bool
	// Reshare, at a reshare: what this party was asked to hand over or
	// receive. Holders, if set, are then the current holders (this
	// party's record's), and every party of the old committee must be
	// one; with Reshare.ClientRequired, a client of the wallet must be in
	// the old committee, its statement authorizing the reshare.
	Reshare *Reshare
	// Recovery, at a recovery reshare, is the new client an
	// authorization the wallet's policy accepts names (each old member
	// checks the authorization against its own record; package
	// party/recovery): it stands for the client the wallet's policy
	// otherwise needs in the old committee, and must join as a client
	// with exactly the authorized identity key.
	Recovery *Grant

	Trust *Trust
	Now   time.Time
}

// Grant is a recovery authorization that checked out: the new client
// party and its device identity key.
type Grant struct {
	PartyID  string
	Identity PublicKey
}

// Verified is one roster entry that passed VerifyRoster.
type Verified struct {
	PartyID  string
	Kind     Kind
	Identity PublicKey
	X25519   []byte
	Ed25519  []byte
	Expires  time.Time
	// Recovery is the recovery policy a client's keygen statement sets.
	Recovery Recovery
	// Digest is SHA-256 of the statement (see Entry.Digest).
	Digest [32]byte
}

// VerifyRoster checks every party's entry before anything is sent to
// anyone, and returns them verified. For each party, in sorted order:
//
//   - its statement is well formed and signed by its identity key;
//   - it describes this session exactly as v does (kind, id, wallet,
//     threshold, parties, digest) and names the party it is filed under;
//   - it has not expired, and expires at most MaxStatementLife from now;
//   - its identity key is not revoked, and no other party has it;
//   - a server's identity is certified: its chain ends at a pinned root;
//   - the party has the kind v.Kinds asks for, if v.Kinds is set;
//   - at signing, the party is a holder of the wallet with the kind and
//     identity key v.Holders records.
//
// Then, at signing with v.ClientRequired, at least one client holder must
// be among the signers: its statement is the sign request the wallet's
// policy needs. Errors are *Error naming the culprit party.
func VerifyRoster(entries map[string]*Entry, v View) (map[string]*Verified, error) {
	if v.Trust == nil {
		return nil, errorf(CodeUntrusted, "", "no trust root configured")
	}
	want := slices.Sorted(slices.Values(v.Parties))
	for id := range entries {
		if _, ok := slices.BinarySearch(want, id); !ok {
			return nil, errorf(CodeMismatch, id, "has a roster entry but is not a party of this session")
		}
	}
	out := make(map[string]*Verified, len(want))
	idents := make(map[PublicKey]string, len(want))
	for _, id := range want {
		e := entries[id]
		if e == nil {
			return nil, errorf(CodeMismatch, id, "no roster entry")
		}
		s, err := e.Open()
		if err != nil {
			ie, _ := AsError(err)
			return nil, &Error{Code: ie.Code, Party: id, Err: ie.Err}
		}
		if err := v.same(s, want, id); err != nil {
			return nil, err
		}
		if !s.Expires.After(v.Now) {
			return nil, errorf(CodeExpired, id, "statement expired at %s", s.Expires.UTC().Format(time.RFC3339))
		}
		if s.Expires.Sub(v.Now) > MaxStatementLife {
			return nil, errorf(CodeExpired, id, "statement expires more than %s from now", MaxStatementLife)
		}
		if v.Trust.Revoked(s.Identity) {
			return nil, errorf(CodeRevoked, id, "identity key %s is revoked", s.Identity.Short())
		}
		if other, dup := idents[s.Identity]; dup {
			return nil, errorf(CodeWrongIdentity, id, "has the identity key of %q", other)
		}
		idents[s.Identity] = id
		if k, ok := v.Kinds[id]; v.Kinds != nil && !ok {
			return nil, errorf(CodeMismatch, id, "is not a party this party asked for")
		} else if ok && k != s.Kind {
			return nil, errorf(CodeMismatch, id, "is a %s; this party asked for a %s", s.Kind, k)
		}
		if s.Kind.Certified() {
			chain, err := DecodeChain(e.Chain)
			if err != nil {
				ie, _ := AsError(err)
				return nil, &Error{Code: ie.Code, Party: id, Err: ie.Err}
			}
			if err := v.Trust.Verify(chain, id, s.Kind, s.Identity, v.Now); err != nil {
				return nil, err
			}
		}
		if v.SessionKind == SessionSign || (v.SessionKind == SessionReshare && v.Holders != nil && v.Reshare != nil && slices.Contains(v.Reshare.Old, id)) {
			h, ok := v.Holders[id]
			switch {
			case !ok:
				return nil, errorf(CodeNotHolder, id, "holds no share of wallet %s", v.WalletID)
			case h.Kind != 0 && h.Kind != s.Kind:
				return nil, errorf(CodeWrongIdentity, id, "joined as a %s; the wallet records a %s", s.Kind, h.Kind)
			case !h.Identity.IsZero() && !h.Identity.Equal(s.Identity):
				return nil, errorf(CodeWrongIdentity, id, "identity key %s is not the wallet's %s", s.Identity.Short(), h.Identity.Short())
			}
		}
		out[id] = &Verified{PartyID: id, Kind: s.Kind, Identity: s.Identity, X25519: s.X25519[:], Ed25519: s.Ed25519[:], Expires: s.Expires, Recovery: s.Recovery, Digest: e.Digest()}
	}
	if v.SessionKind == SessionSign && v.ClientRequired {
		ok := false
		for id, p := range out {
			if h := v.Holders[id]; p.Kind == KindClient && h.Kind == KindClient && !h.Identity.IsZero() {
				ok = true
			}
		}
		if !ok {
			return nil, errorf(CodePolicy, "", "wallet %s signs only with a sign request from one of its clients, and no client holder takes part", v.WalletID)
		}
	}
	if v.SessionKind == SessionReshare && v.Reshare != nil && v.Reshare.ClientRequired {
		// A party without a current share (a new member) has no holders
		// to check identities against; the old committee's members do.
		ok := false
		for _, id := range v.Reshare.Old {
			h, recorded := v.Holders[id]
			if out[id].Kind == KindClient && (v.Holders == nil || (recorded && h.Kind == KindClient && !h.Identity.IsZero())) {
				ok = true
			}
		}
		if g := v.Recovery; !ok && g != nil {
			// A recovery: the authorized new client, with the authorized
			// key, in the new committee, stands for the lost one.
			p := out[g.PartyID]
			ok = p != nil && p.Kind == KindClient && p.Identity.Equal(g.Identity) && slices.Contains(v.Reshare.New, g.PartyID)
			if !ok {
				return nil, errorf(CodeWrongIdentity, g.PartyID, "is not the new client the recovery authorization names, with its identity key")
			}
		}
		if !ok {
			return nil, errorf(CodePolicy, "", "wallet %s is reshared only with one of its clients in the old committee, and none takes part", v.WalletID)
		}
	}
	return out, nil
}

// same checks that s describes the session v describes, filed under id.
func (v *View) same(s *Statement, parties []string, id string) error {
	diff := func(what string, got, want any) error {
		return errorf(CodeMismatch, id, "statement's %s is %v; this party's session has %v", what, got, want)
	}
	switch {
	case s.PartyID != id:
		return errorf(CodeMismatch, id, "statement is party %q's", s.PartyID)
	case s.SessionKind != v.SessionKind:
		return diff("kind", s.SessionKind, v.SessionKind)
	case s.SessionID != v.SessionID:
		return diff("session id", s.SessionID, v.SessionID)
	case s.WalletID != v.WalletID:
		return diff("wallet", s.WalletID, v.WalletID)
	case s.Threshold != v.Threshold:
		return diff("threshold", s.Threshold, v.Threshold)
	case !slices.Equal(s.Parties, parties):
		return diff("parties", s.Parties, parties)
	case !bytes.Equal(s.Digest, v.Digest):
		return errorf(CodeMismatch, id, "statement signs digest %x; this party's session signs %x", s.Digest, v.Digest)
	case !slices.Equal(s.Path, v.Path):
		return errorf(CodeMismatch, id, "statement signs with derivation path %v; this party's session with %v", s.Path, v.Path)
	case s.Epoch != v.Epoch:
		return errorf(CodeStaleEpoch, id, "statement signs with a share of epoch %d; this party's share is of epoch %d", s.Epoch, v.Epoch)
	case !s.Reshare.Equal(v.Reshare):
		return errorf(CodeMismatch, id, "statement describes another reshare (committees, epoch, key or policy) than this party's session")
	}
	return nil
}
