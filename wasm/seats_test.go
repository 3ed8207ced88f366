package main

import (
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/share"
)

// deployment is the world of a bridge test: a deployment root that
// certifies the server parties; "browser-" parties are clients, prepared
// through the API a worker uses (PrepareKeygen, PrepareSign), the servers
// straight in the keyring with their certified identities.
type deployment struct {
	d     *memnet.Identities
	trust TrustParams
	// codes are the recovery codes of the keygens whose client set a kit,
	// by wallet id.
	codes map[string]string
}

func newDeployment(t testing.TB, ids []string) *deployment {
	t.Helper()
	kinds := map[string]identity.Kind{}
	for _, id := range ids {
		if strings.HasPrefix(id, "browser-") {
			kinds[id] = identity.KindClient
		}
	}
	d, err := memnet.NewIdentities(ids, kinds)
	if err != nil {
		t.Fatal(err)
	}
	return &deployment{d: d, trust: TrustParams{Roots: []string{d.Root.Public().String()}}, codes: map[string]string{}}
}

// seats prepares every party's seat in a session of p (a signing when
// shares is set) and returns their keys ids and the roster.
func (td *deployment) seats(t testing.TB, p JoinParams, shares map[string][]byte) (map[string]string, map[string]*identity.Entry) {
	t.Helper()
	ids := map[string]string{}
	roster := map[string]*identity.Entry{}
	for _, id := range p.Parties {
		q := p
		q.Self = id
		var j *Joined
		var err error
		switch {
		case !strings.HasPrefix(id, "browser-"): // a client made later (a recovered one) is not in the deployment
			j = td.serverSeat(t, q, shares[id])
		case shares == nil:
			if j, err = PrepareKeygen(q); err == nil && j.RecoveryCode != "" {
				td.codes[p.WalletID] = j.RecoveryCode
			}
		default:
			q.Share = shares[id]
			j, err = PrepareSign(q)
		}
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		ids[id], roster[id] = j.KeysID, j.Entry
		t.Cleanup(func() { keys.release(j.KeysID) })
	}
	return ids, roster
}

// serverSeat prepares server party p.Self's seat with its certified
// identity (a signing when rec, its share record, is set).
func (td *deployment) serverSeat(t testing.TB, p JoinParams, rec []byte) *Joined {
	t.Helper()
	st := &seat{identity: td.key(t, p.Self), kind: identity.KindServer, chain: td.d.Chains[p.Self], spec: statementOf(p, identity.SessionKeygen, p.SignersNeeded, p.WalletID)}
	if rec != nil {
		r, err := share.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		st.share, st.spec = r, statementOf(p, identity.SessionSign, r.Threshold, r.WalletID)
		st.spec.Epoch = r.Epoch
	}
	kid, err := keys.add(st)
	if err != nil {
		t.Fatal(err)
	}
	j, err := keys.joined(kid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.release(kid) })
	return j
}

// reshareSeat prepares server party self's seat in a reshare of spec with
// its certified identity and its current share rec (nil for a new member
// only); with, if given, finishes the seat (a recovery's authorization).
func (td *deployment) reshareSeat(t testing.TB, sessionID, self string, rec []byte, spec *identity.Reshare, newThreshold int, parties []string, with ...func(*seat)) *Joined {
	t.Helper()
	r, err := share.Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	st := &seat{identity: td.key(t, self), kind: identity.KindServer, chain: td.d.Chains[self], share: r,
		spec: statementOf(JoinParams{SessionID: sessionID, Self: self, Parties: parties}, identity.SessionReshare, newThreshold, r.WalletID)}
	st.spec.Reshare = spec
	for _, f := range with {
		f(st)
	}
	kid, err := keys.add(st)
	if err != nil {
		t.Fatal(err)
	}
	j, err := keys.joined(kid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.release(kid) })
	return j
}

// key is a copy of server id's identity key: a seat with a share destroys
// its key when it is released, and the deployment's must outlive it.
func (td *deployment) key(t testing.TB, id string) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(td.d.Keys[id].Seed())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
