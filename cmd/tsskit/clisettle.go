package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

// partySettle settles a refresh run in limbo at the CLI party, as tsskit
// settle does at a server party (docs/lifecycle.md, settling a run in
// limbo): freeze (the party never activates the run's share; it prints
// its frozen-run statement, or its activated-run statement if the run is
// active here already), drop (given every other holder's frozen-run
// statement that is not --silent: the share of the run is deleted and
// the party's later joins say it abandoned the run), pin (never dropped,
// only thawed) and thaw (given every other holder's activated-run or
// pinned-run statement, those named --silent aside). Each step holds the
// share's lock, which the party's refresh holds from start to end, so a
// step and a refresh never run side by side.
func partySettle(args []string) error {
	const usage = "usage: tsskit party settle freeze|drop|pin|thaw --share FILE --run SESSION [flags]"
	if len(args) == 0 {
		return configErrorf("%s", usage)
	}
	step := args[0]
	summary := settleSummary(step, "this party", "'tsskit party refresh --resume' then activates the run's share if the coordinator records the run completed.", "")
	if summary == "" {
		return configErrorf("party settle: unknown step %q; %s", step, usage)
	}
	fs := newFlags("party settle "+step, summary, "  TSSKIT_SHARE_PASSWORD  the share file's password, instead of --password-file")
	shareFile := fs.String("share", "", "the party's share file; the run's pending share is beside it")
	pwFile := fs.String("password-file", "", "file holding the share password")
	a := addSettleFlags(fs)
	run, out, silent, frozen, dropped, words := a.run, a.out, a.silent, a.frozen, a.dropped, a.words
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *shareFile == "" || *run == "" {
		return configErrorf("party settle %s: --share and --run are required", step)
	}
	if !shareLocks {
		return configErrorf("party settle needs advisory file locks (flock), which this platform lacks: without them a freeze could slip between a refresh's last check and its activation")
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	defer clear(pw)
	unlock, err := lockShare(*shareFile)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(*shareFile)
	if err != nil {
		return err
	}
	cur, err := unprotectShare(*shareFile, data, pw)
	if err != nil {
		return err
	}
	loadShare := func(file string, epoch int) (*share.Record, error) {
		rec, _, err := readRunShare(file, *shareFile, cur, pw, epoch)
		return rec, err
	}
	done, err := settleClientRun(*shareFile, cur, loadShare, step, *run, splitIDs(*silent), *frozen, *dropped, *words)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, done.note)
	if done.statement == nil {
		return nil
	}
	line := hex.EncodeToString(done.statement) + "\n"
	if *out != "" {
		if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
			return err
		}
	}
	fmt.Print(line)
	if done.pinned {
		return fmt.Errorf("run %s was pinned or thawed here before: it is never dropped here; this is its pinned-run statement: thaw it again (tsskit party settle thaw --pinned)", *run)
	}
	if done.activated {
		return fmt.Errorf("run %s is this party's active share already: it is complete, not frozen; the holders that froze it pin and thaw it (tsskit settle pin, tsskit settle thaw --activated --pinned; tsskit party settle at a CLI party)", *run)
	}
	return nil
}

func splitIDs(s string) []string {
	var ids []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			ids = append(ids, p)
		}
	}
	return ids
}

// clientSettled is what a settle step at the CLI party gives out: a
// statement for the other holders (nil for a thaw), and what happened.
type clientSettled struct {
	statement []byte
	activated bool
	pinned    bool // a freeze of a run pinned or thawed before: a pinned-run statement
	note      string
}

// settleClientRun is one settle step at the CLI party whose share file
// is shareFile (its record cur), on run sid: its state is in the runs
// file of its epoch beside shareFile, its share (if stored and not
// activated) in the epoch's pending file, or, once frozen, in its held
// file (heldFile), which loadShare reads and checks. The share's lock is
// held.
func settleClientRun(shareFile string, cur *share.Record, loadShare func(file string, epoch int) (*share.Record, error), step, sid string, silent []string, frozen, dropped, words [][]byte) (*clientSettled, error) {
	epoch, runs, err := findRun(shareFile, sid)
	if err != nil {
		return nil, err
	}
	file := runsFile(shareFile, epoch)
	i := slices.IndexFunc(runs, func(r cliRun) bool { return r.SessionID == sid })
	state := runs[i].State
	// The run's share, if it is kept here.
	var pending *share.Record
	at, from := runShareFile(shareFile, epoch)
	if from == sid {
		if pending, err = loadShare(at, epoch); err != nil {
			return nil, err
		}
		if runs[i].held() && at != heldFile(shareFile, epoch) {
			// A freeze cut short between its record and the move.
			if err := moveShare(at, heldFile(shareFile, epoch)); err != nil {
				return nil, err
			}
			at = heldFile(shareFile, epoch)
		}
	}
	refuse := func(format string, a ...any) (*clientSettled, error) {
		return nil, &party.Error{Code: party.CodeSettle, Err: fmt.Errorf(format, a...)}
	}
	setState := func(st string) error {
		runs[i].State = st
		return writeRuns(file, runs)
	}
	switch step {
	case "freeze":
		switch {
		case state == runActivated:
			k, err := party.NamedKey(cur)
			if err != nil {
				return nil, err
			}
			defer k.Destroy()
			return &clientSettled{statement: identity.SignActivated(k, sid, cur.WalletID, cur.PartyID, epoch), activated: true,
				note: fmt.Sprintf("run %s of wallet %s (epoch %d) is active at %s", sid, cur.WalletID, epoch, cur.PartyID)}, nil
		case state == runAbandoned && pending != nil:
			return refuse("run %s was dropped here, and its share is left by an interrupted drop: drop it again", sid)
		case state == runAbandoned:
			return refuse("run %s was dropped here: there is nothing to freeze", sid)
		case state == runJoined:
			return refuse("this party never stored a share of run %s: there is nothing to freeze, and its next join says it abandoned the run", sid)
		case pending == nil:
			return refuse("run %s is %s here, but its share is not beside %s (or is not the one its session file labels): there is nothing to freeze", sid, state, shareFile)
		}
		// The key first: a party frozen without a statement to give
		// would refuse every run of the epoch for nothing.
		k, err := party.NamedKey(pending)
		if err != nil {
			return nil, err
		}
		defer k.Destroy()
		if runs[i].pinnedForGood() {
			// Pinned or thawed here before: its frozen-run statement
			// still verifies, so it is pinned again, never frozen, and
			// gives its pinned-run statement.
			if state != runPinned {
				if err := setState(runPinned); err != nil {
					return nil, err
				}
				if err := moveShare(at, heldFile(shareFile, epoch)); err != nil {
					return nil, err
				}
			}
			return &clientSettled{statement: identity.SignPinned(k, sid, cur.WalletID, cur.PartyID, epoch), pinned: true,
				note: fmt.Sprintf("run %s of wallet %s (epoch %d) was pinned or thawed at %s before: it is held again, never activated here until thawed, and never dropped here", sid, cur.WalletID, epoch, cur.PartyID)}, nil
		}
		if !runs[i].held() {
			// Frozen, then the share moved where an older tsskit's
			// --resume does not look for it.
			if err := setState(runFrozen); err != nil {
				return nil, err
			}
			if err := moveShare(at, heldFile(shareFile, epoch)); err != nil {
				return nil, err
			}
		}
		held := party.HeldBefore(cur, pending)
		return &clientSettled{statement: identity.SignFrozen(k, sid, cur.WalletID, cur.PartyID, epoch, held),
			note: fmt.Sprintf("run %s of wallet %s (epoch %d) is frozen at %s: it is never activated here", sid, cur.WalletID, epoch, cur.PartyID)}, nil

	case "drop":
		switch {
		case runs[i].pinnedForGood():
			return refuse("run %s was pinned here (a pin or a thaw): it is thawed, never dropped", sid)
		case state == runFrozen && pending == nil:
			return refuse("run %s is frozen here but its share is gone: nothing is left to check a drop against; put the held share file back, or recover the wallet", sid)
		case state == runFrozen:
			if err := party.CheckSettle(pending, cur, sid, silent, frozen, dropped); err != nil {
				return nil, err
			}
			// Abandoned first, then the share deleted: a drop cut short
			// leaves a share that is never activated, and refuses every
			// run of the epoch until the drop is run again.
			if err := setState(runAbandoned); err != nil {
				return nil, err
			}
		case state != runAbandoned:
			return refuse("run %s is %s here, not frozen: freeze it first", sid, state)
		}
		// The key the run's record names, taken before its share goes:
		// the active record's, if the run's share is gone already.
		named := cur
		if pending != nil {
			named = pending
		}
		k, err := party.NamedKey(named)
		if err != nil {
			return nil, err
		}
		defer k.Destroy()
		if pending != nil {
			if err := os.Remove(at); err != nil {
				return nil, err
			}
			_ = os.Remove(sessionFile(shareFile, epoch))
			syncDir(shareFile)
		}
		return &clientSettled{statement: identity.SignAbandoned(k, sid, cur.WalletID, cur.PartyID, epoch),
			note: fmt.Sprintf("run %s of wallet %s is dropped at %s: its later joins say it abandoned the run", sid, cur.WalletID, cur.PartyID)}, nil

	case "pin":
		if !runs[i].held() || pending == nil {
			return refuse("run %s is %s here, with no share of it kept: only a frozen run is pinned", sid, state)
		}
		k, err := party.NamedKey(pending)
		if err != nil {
			return nil, err
		}
		defer k.Destroy()
		if state != runPinned || !runs[i].Pinned {
			runs[i].Pinned = true
			if err := setState(runPinned); err != nil {
				return nil, err
			}
		}
		return &clientSettled{statement: identity.SignPinned(k, sid, cur.WalletID, cur.PartyID, epoch),
			note: fmt.Sprintf("run %s of wallet %s is pinned at %s: it is never dropped here, only thawed", sid, cur.WalletID, cur.PartyID)}, nil

	case "thaw":
		if !runs[i].held() || pending == nil {
			return refuse("run %s is %s here, with no share of it kept: only a frozen run is thawed", sid, state)
		}
		if err := party.CheckThaw(pending, sid, silent, words); err != nil {
			return nil, err
		}
		// The share back where --resume finds it, then the run stored:
		// a thaw cut short leaves the run frozen, and the next step
		// moves the share back.
		if err := moveShare(at, pendingFile(shareFile, epoch)); err != nil {
			return nil, err
		}
		// Pinned for good: its frozen-run statement still verifies.
		runs[i].Pinned = true
		if err := setState(runStored); err != nil {
			return nil, err
		}
		return &clientSettled{note: fmt.Sprintf("run %s of wallet %s is thawed at %s: 'tsskit party refresh --share %s --resume' activates its share once the coordinator records the run completed",
			sid, cur.WalletID, cur.PartyID, shareFile)}, nil
	}
	return nil, configErrorf("party settle: unknown step %q", step)
}

// moveShare renames a run's share file, durably.
func moveShare(from, to string) error {
	if from == to {
		return nil
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	syncDir(to)
	return nil
}

// findRun is the epoch and runs file records of the run sid recorded
// beside shareFile.
func findRun(shareFile, sid string) (int, []cliRun, error) {
	for epoch, f := range runsFiles(shareFile) {
		runs, err := readRuns(f)
		if err != nil {
			return 0, nil, err
		}
		if slices.ContainsFunc(runs, func(r cliRun) bool { return r.SessionID == sid }) {
			return epoch, runs, nil
		}
	}
	return 0, nil, &party.Error{Code: party.CodeSettle, Err: fmt.Errorf("no run %s is recorded beside %s: this party never joined it", sid, shareFile)}
}
