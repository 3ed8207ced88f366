package main

import (
	"fmt"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// SettleParams is one settle step of a run in limbo at a browser holder
// (docs/lifecycle.md, settling a run in limbo): the statements a server
// party's tsskit settle and a CLI party's tsskit party settle sign, and
// the checks they make, on the share records the browser keeps. Which
// step the run's recorded state allows, and its record, are the
// caller's (the SDK's ShareStorage); this signs and checks.
type SettleParams struct {
	// Step is "frozen", "pinned", "activated" or "abandoned" (the
	// statement to sign), "drop" (party.CheckSettle, then the
	// abandoned-run statement) or "thaw" (party.CheckThaw; no statement).
	Step      string
	SessionID string // the run
	Epoch     int    // the run's epoch
	// Active is the client's active share (share.Encode form); empty when
	// it has none (a recovery's new device).
	Active []byte
	// Pending is the client's share of the run, which the caller keeps
	// from session SessionID; empty when none is kept (it was dropped).
	Pending []byte
	Silent  []string
	// Frozen, Dropped and Words are other holders' frozen-run,
	// abandoned-run, and activated-run or pinned-run statements.
	Frozen, Dropped, Words [][]byte
}

// SettleOutput is a settle step's statement (none for a thaw) and, for a
// frozen-run statement, whether it says the client holds the epoch
// before's share.
type SettleOutput struct {
	Statement []byte
	Held      bool
}

// Settle signs or checks one settle step (SettleParams). Every statement
// is signed with the identity key the run's record names for this party
// (the active record's for an activated-run statement, and for an
// abandoned-run statement once the run's share is gone), so that the
// other holders verify it under the key they hold for it.
func Settle(p SettleParams) (*SettleOutput, error) {
	if p.SessionID == "" || len(p.SessionID) > roster.MaxIDLen {
		return nil, argErr("sessionId: want the run's session id")
	}
	if p.Epoch < 1 {
		return nil, argErr("epoch: %d; a run makes epoch 1 or later", p.Epoch)
	}
	var active, pending *share.Record
	var err error
	if len(p.Active) > 0 {
		if active, err = share.Decode(p.Active); err != nil {
			return nil, argErr("active: %v", err)
		}
	}
	if len(p.Pending) > 0 {
		if pending, err = share.Decode(p.Pending); err != nil {
			return nil, argErr("pending: %v", err)
		}
		if pending.Epoch != p.Epoch {
			return nil, argErr("pending: a share of epoch %d; the run makes epoch %d", pending.Epoch, p.Epoch)
		}
		if active != nil && (active.WalletID != pending.WalletID || active.PartyID != pending.PartyID) {
			return nil, argErr("pending: a share of wallet %s, party %s; the active share is wallet %s's, party %s's", pending.WalletID, pending.PartyID, active.WalletID, active.PartyID)
		}
	}
	refuse := func(format string, a ...any) (*SettleOutput, error) {
		return nil, &Error{Code: string(party.CodeSettle), Message: fmt.Sprintf(format, a...)}
	}
	sign := func(rec *share.Record, f func(k *identity.Key) []byte) (*SettleOutput, error) {
		k, err := party.NamedKey(rec)
		if err != nil {
			return refuse("%v", err)
		}
		defer k.Destroy()
		return &SettleOutput{Statement: f(k)}, nil
	}
	switch p.Step {
	case "frozen", "pinned", "drop", "thaw":
		if pending == nil {
			return refuse("no share of run %s is kept here", p.SessionID)
		}
	case "activated":
		if active == nil || active.Epoch != p.Epoch {
			return refuse("run %s's share is not this party's active share", p.SessionID)
		}
	case "abandoned":
		if pending == nil && active == nil {
			return refuse("no share of the wallet is kept here to sign with")
		}
	default:
		return nil, argErr("step: %q; want frozen, pinned, activated, abandoned, drop or thaw", p.Step)
	}
	switch p.Step {
	case "frozen":
		held := party.HeldBefore(active, pending)
		out, err := sign(pending, func(k *identity.Key) []byte {
			return identity.SignFrozen(k, p.SessionID, pending.WalletID, pending.PartyID, p.Epoch, held)
		})
		if out != nil {
			out.Held = held
		}
		return out, err
	case "pinned":
		return sign(pending, func(k *identity.Key) []byte {
			return identity.SignPinned(k, p.SessionID, pending.WalletID, pending.PartyID, p.Epoch)
		})
	case "activated":
		return sign(active, func(k *identity.Key) []byte {
			return identity.SignActivated(k, p.SessionID, active.WalletID, active.PartyID, p.Epoch)
		})
	case "abandoned", "drop":
		if p.Step == "drop" {
			if err := party.CheckSettle(pending, active, p.SessionID, p.Silent, p.Frozen, p.Dropped); err != nil {
				return nil, err
			}
		}
		// The key the run's record names; the active record's once the
		// run's share is gone (the same identity: a refresh keeps it).
		named := pending
		if named == nil {
			named = active
		}
		return sign(named, func(k *identity.Key) []byte {
			return identity.SignAbandoned(k, p.SessionID, named.WalletID, named.PartyID, p.Epoch)
		})
	}
	// thaw
	if err := party.CheckThaw(pending, p.SessionID, p.Silent, p.Words); err != nil {
		return nil, err
	}
	return &SettleOutput{}, nil
}
