package memnet

import (
	"fmt"
	"slices"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/seal"
)

// Identities is an in-process deployment for running parties in one
// process: a root key pinned by every party, and a long-term identity key
// per party, certified by the root for server parties. Keep it from a
// keygen to the signings of its wallet: the share records name these keys.
type Identities struct {
	Root   *identity.Key
	Trust  *identity.Trust
	Keys   map[string]*identity.Key
	Kinds  map[string]identity.Kind
	Chains map[string][]*identity.Certificate
}

// NewIdentities makes a root and an identity for each of ids. kinds gives a
// party's kind (server when absent); servers get a root certificate valid
// for a day.
func NewIdentities(ids []string, kinds map[string]identity.Kind) (*Identities, error) {
	root, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	trust, err := identity.NewTrust([]identity.PublicKey{root.Public()}, nil)
	if err != nil {
		return nil, err
	}
	d := &Identities{Root: root, Trust: trust, Keys: map[string]*identity.Key{}, Kinds: map[string]identity.Kind{}, Chains: map[string][]*identity.Certificate{}}
	for _, id := range ids {
		if err := d.Add(id, kinds[id]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Add gives party id an identity of kind (server when 0).
func (d *Identities) Add(id string, kind identity.Kind) error {
	if kind == 0 {
		kind = identity.KindServer
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	d.Keys[id], d.Kinds[id] = k, kind
	if kind == identity.KindServer {
		now := time.Now()
		c, err := identity.Issue(d.Root, identity.KindServer, id, k.Public(), now.Add(-time.Minute), now.Add(24*time.Hour))
		if err != nil {
			return err
		}
		d.Chains[id] = []*identity.Certificate{c}
	}
	return nil
}

// Spec is a session as every party understands it.
type Spec struct {
	Kind      identity.SessionKind
	ID        string
	WalletID  string
	Threshold int // signers needed
	Parties   []string
	Digest    []byte   // signing
	Path      []uint32 // signing: the derivation path (nil: the wallet key)
	Epoch     int      // signing: the shares' epoch
	Reshare   *identity.Reshare
	// Recovery, at keygen, is the recovery policy the clients' statements
	// set.
	Recovery identity.Recovery
}

// Entry is party id's signed join of spec with session keys pub.
func (d *Identities) Entry(spec Spec, id string, pub seal.PublicKeys) (*identity.Entry, error) {
	k, ok := d.Keys[id]
	if !ok {
		return nil, fmt.Errorf("memnet: no identity for %q", id)
	}
	s := &identity.Statement{SessionKind: spec.Kind, SessionID: spec.ID, PartyID: id, Kind: d.Kinds[id], WalletID: spec.WalletID,
		Threshold: spec.Threshold, Parties: slices.Sorted(slices.Values(spec.Parties)), Digest: spec.Digest, Path: spec.Path, Epoch: spec.Epoch, Reshare: spec.Reshare, Expires: time.Now().Add(10 * time.Minute)}
	if spec.Kind == identity.SessionKeygen && d.Kinds[id] == identity.KindClient {
		s.Recovery = spec.Recovery
	}
	copy(s.X25519[:], pub.X25519)
	copy(s.Ed25519[:], pub.Ed25519)
	return identity.SignStatement(k, s, d.Chains[id])
}

// Roster makes every party's session keys and signed join of spec.
func (d *Identities) Roster(spec Spec) ([]*seal.Keys, map[string]*identity.Entry, error) {
	keys, pubs, err := NewKeys(spec.Parties)
	if err != nil {
		return nil, nil, err
	}
	entries := make(map[string]*identity.Entry, len(spec.Parties))
	for _, id := range spec.Parties {
		if entries[id], err = d.Entry(spec, id, pubs[id]); err != nil {
			return nil, nil, err
		}
	}
	return keys, entries, nil
}
