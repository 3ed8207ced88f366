package memnet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/seal"
)

// Outcome is one party's result of a session run by RunSession.
type Outcome[T any] struct {
	ID     string
	Result T
	Err    error
}

// NewKeys makes fresh session keys for each of ids, and the map of their
// published halves that the coordinator would distribute.
func NewKeys(ids []string) ([]*seal.Keys, map[string]seal.PublicKeys, error) {
	keys := make([]*seal.Keys, len(ids))
	pubs := make(map[string]seal.PublicKeys, len(ids))
	for i, id := range ids {
		k, err := seal.GenerateKeys()
		if err != nil {
			return nil, nil, err
		}
		keys[i], pubs[id] = k, k.Public()
	}
	return keys, pubs, nil
}

// RunSession runs one session of spec among its parties in this process
// over net (a new network when nil). It makes every party's session keys
// and signed join with d's identities, then calls run for each party in
// its own goroutine with that party's Session (which run may complete,
// e.g. with Progress) and Transport. When one party fails, the others are
// cancelled, as a coordinator fails the whole session.
func RunSession[T any](ctx context.Context, net *Net, d *Identities, spec Spec,
	run func(ctx context.Context, s party.Session, tr party.Transport, i int) (T, error)) ([]Outcome[T], error) {
	ids := spec.Parties
	keys, roster, err := d.Roster(spec)
	if err != nil {
		return nil, err
	}
	if net == nil {
		net = NewNet(ids...)
		defer net.Close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]Outcome[T], len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		s := party.Session{ID: spec.ID, Parties: ids, Self: id, SignersNeeded: spec.Threshold, Keys: keys[i], Roster: roster, Trust: d.Trust}
		if spec.Kind == identity.SessionSign {
			s.SignersNeeded = 0
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := run(ctx, s, net.Transport(id), i)
			if err != nil {
				cancel()
			}
			out[i] = Outcome[T]{ID: id, Result: res, Err: err}
		}()
	}
	wg.Wait()
	return out, nil
}

// Err joins the parties' errors, each prefixed with its party id; nil when
// every party succeeded.
func Err[T any](outs []Outcome[T]) error {
	var errs []error
	for _, o := range outs {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.ID, o.Err))
		}
	}
	return errors.Join(errs...)
}
