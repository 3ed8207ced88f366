package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// One acknowledged run per epoch (docs/lifecycle.md). Every new holder of
// a reshare run keeps at most one pending share of a wallet, and a holder
// of an earlier run's share takes part in a later run of the epoch only
// if another new holder of the earlier run abandoned it (party.
// CheckEarlierRun). A run that every new holder stored, but that was not
// activated — the coordinator stopped between the last report and the
// activation, or a holder stored its share and lost its connection
// before reporting it — is then complete: it is activated late, from its
// holders' stored acknowledgements, which they present again in a later
// run's joins (PartyKeys.stored), instead of being run again.

// maxStoredRuns bounds a join's stored acknowledgements: a party keeps
// one pending share of a wallet, so it presents at most one.
const maxStoredRuns = 1

// checkStored refuses a join whose stored acknowledgements are not a
// reshare's, or more than a party can have, or for this very session.
// Their signatures are checked against the earlier run's record when
// they are counted (earlierRunLocked), and by every holder itself.
func (s *session) checkStored(k *tsskitv1.PartyKeys) error {
	if len(k.Stored) == 0 {
		return nil
	}
	bad := func(format string, a ...any) error {
		return status.Errorf(codes.InvalidArgument, "stored acknowledgements: "+format, a...)
	}
	if s.reshare == nil {
		return bad("only a reshare's join carries them")
	}
	if len(k.Stored) > maxStoredRuns {
		return bad("%d; a party holds at most %d pending share of a wallet", len(k.Stored), maxStoredRuns)
	}
	for id, ack := range k.Stored {
		switch {
		case id == "" || len(id) > store.MaxIDLen:
			return bad("a session id of %d bytes", len(id))
		case id == s.id:
			return bad("one is for this session")
		case len(ack) == 0 || len(ack) > store.MaxAckLen:
			return bad("one of %d bytes", len(ack))
		}
	}
	return nil
}

// runRecord is the reshare run as the store keeps it (store.Session.Run):
// nil until every party joined, then the epoch, the new committee, every
// new holder's identity key from its join statement, and the stored
// acknowledgements reported so far.
func (s *session) runRecord() *store.ReshareRun {
	if s.reshare == nil || s.state == store.StateWaiting {
		return nil
	}
	r := &store.ReshareRun{Epoch: s.reshare.Epoch, Committee: s.committee, Identities: map[string][]byte{}, Acks: maps.Clone(s.acks)}
	for _, p := range s.reshare.New {
		k := s.keys[p]
		if k == nil {
			return nil
		}
		st, err := participant.EntryOf(k).Open()
		if err != nil {
			return nil
		}
		r.Identities[p] = bytes.Clone(st.Identity[:])
	}
	return r
}

// earlierRunLocked counts party k's stored acknowledgement of an earlier
// run of this reshare's epoch, checked under the identity key that run's
// record names for it, beside the acknowledgements that run's holders
// reported (completeRunLocked decides, once every party joined). An
// acknowledgement this coordinator cannot check (no record of the run:
// a store that lost it) is not counted, only relayed: the holders decide
// with what they are shown. recs are the earlier runs' records, read
// before c.mu was taken (earlierRecords). c.mu is held.
func (c *Coordinator) earlierRunLocked(s *session, k *tsskitv1.PartyKeys, recs map[string]*store.Session) {
	for sid, ack := range k.Stored {
		rec := recs[sid]
		if rec == nil || rec.Kind != store.SessionReshare || rec.WalletID != s.walletID || rec.Run == nil || rec.Run.Epoch != s.reshare.Epoch ||
			rec.State != store.StateFailed {
			c.log.Info("a stored acknowledgement of a run this coordinator cannot complete", "session", s.id, "party", k.PartyId, "run", sid)
			continue
		}
		pub, ok := runKey(rec.Run, k.PartyId)
		if !ok {
			continue
		}
		if !identity.VerifyStored(pub, ack, sid, s.walletID, k.PartyId, rec.Run.Epoch, s.wallet.PublicKey) {
			c.log.Warn("a stored acknowledgement does not verify under the run's record", "session", s.id, "party", k.PartyId, "run", sid)
			continue
		}
		if s.earlier == nil {
			s.earlier = map[string]*earlierRun{}
		}
		e := s.earlier[sid]
		if e == nil {
			e = &earlierRun{rec: rec, acks: maps.Clone(rec.Run.Acks)}
			if e.acks == nil {
				e.acks = map[string][]byte{}
			}
			s.earlier[sid] = e
		}
		e.acks[k.PartyId] = bytes.Clone(ack)
	}
}

// earlierRecords reads the store's records of the earlier runs whose
// stored acknowledgements join keys k present, before the join takes
// c.mu: no join waits on another's store I/O. At most maxStoredRuns are
// read (checkStored refuses more); a run the store cannot give is left
// out, and its acknowledgement is not counted.
func (c *Coordinator) earlierRecords(k *tsskitv1.PartyKeys) map[string]*store.Session {
	if len(k.Stored) == 0 || len(k.Stored) > maxStoredRuns {
		return nil
	}
	recs := map[string]*store.Session{}
	for sid := range k.Stored {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := c.store.GetSession(ctx, sid)
		cancel()
		if err != nil {
			c.log.Info("the record of a run a join acknowledges cannot be read", "party", k.PartyId, "run", sid, "err", err)
			continue
		}
		recs[sid] = rec
	}
	return recs
}

// runKey is the identity key run's record names for new holder holder.
func runKey(run *store.ReshareRun, holder string) (identity.PublicKey, bool) {
	pub, err := identity.PublicKeyFromBytes(run.Identities[holder])
	return pub, err == nil
}

// earlierRun is an earlier run of a reshare's epoch, as its record and
// the stored acknowledgements counted so far.
type earlierRun struct {
	rec  *store.Session
	acks map[string][]byte
}

// completeRunLocked, once every party of reshare s joined, activates late
// an earlier run of the epoch that every new holder acknowledged and
// none abandoned (a valid statement in this session's joins, under the
// key the run's record names: a holder that abandoned a run never stores
// its share, whatever it said before), and then fails s with
// run_complete: that run's holders activate its shares (each checks
// every acknowledgement itself), and nothing is run again. It says
// whether s ended. c.mu is held.
func (c *Coordinator) completeRunLocked(s *session) bool {
	for _, e := range s.earlier {
		if len(e.acks) < len(e.rec.Run.Identities) || s.abandonedLocked(e.rec) {
			continue
		}
		c.activateLateLocked(s, e.rec, e.acks)
		return true
	}
	return false
}

// abandonedLocked says whether a party of s presented a valid abandoned-
// run statement for run rec.
func (s *session) abandonedLocked(rec *store.Session) bool {
	for _, k := range s.keys {
		for _, b := range k.Abandoned {
			a, err := identity.ParseAbandoned(b)
			if err != nil || a.SessionID != rec.ID {
				continue
			}
			if pub, ok := runKey(rec.Run, a.PartyID); ok && a.Verify(pub) {
				return true
			}
		}
	}
	return false
}

// activateLateLocked makes the earlier run rec the wallet's active epoch
// in place of reshare s (which holds the wallet's pending slot), records
// it completed with acks, and fails s with run_complete. c.mu is held.
func (c *Coordinator) activateLateLocked(s *session, rec *store.Session, acks map[string][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, now := s.wallet, time.Now()
	err := c.store.AbortReshare(ctx, w.ID, s.id)
	if err == nil {
		err = c.store.BeginReshare(ctx, w.ID, rec.Run.Epoch-1, rec.ID, now, now.Add(-c.cfg.maxLife()))
	}
	if err == nil {
		err = c.store.ActivateEpoch(ctx, w.ID, rec.ID, rec.Run.Epoch, rec.Run.Committee, acks)
	}
	if err != nil {
		if errors.Is(err, store.ErrReshareConflict) {
			err = fmt.Errorf("another reshare of the wallet took its slot meanwhile: %w", err)
		}
		c.failLocked(s, "store", fmt.Sprintf("run %s of epoch %d was stored by every new holder; activating it failed: %v", rec.ID, rec.Run.Epoch, err), nil)
		return
	}
	c.log.Info("earlier run activated late: every new holder stored its share", "session", rec.ID, "wallet", w.ID, "epoch", rec.Run.Epoch, "by", s.id)
	c.auditFinish(rec.ID, store.SessionReshare, w.ID, "", store.StateCompleted, "activated late, from its holders' stored acknowledgements in "+s.id)
	c.failLocked(s, string(party.CodeRunComplete), fmt.Sprintf(
		"run %s of epoch %d was stored by every new holder and is now the wallet's active epoch: its holders activate it, and nothing is run again", rec.ID, rec.Run.Epoch), nil)
}
