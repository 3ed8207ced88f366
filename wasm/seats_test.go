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
	return &deployment{d: d, trust: TrustParams{Roots: []string{d.Root.Public().String()}}}
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
		case td.d.Kinds[id] != identity.KindClient:
			j = td.serverSeat(t, q, shares[id])
		case shares == nil:
			j, err = PrepareKeygen(q)
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
	st := &seat{identity: td.d.Keys[p.Self], kind: identity.KindServer, chain: td.d.Chains[p.Self], spec: statementOf(p, identity.SessionKeygen, p.SignersNeeded, p.WalletID)}
	if rec != nil {
		r, err := share.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		st.share, st.spec = r, statementOf(p, identity.SessionSign, r.Threshold, r.WalletID)
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
