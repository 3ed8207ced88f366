package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
)

// The CLI party's reshare runs of one epoch of its wallet, in
// FILE.epoch-N.runs beside the share file: the same rule as a server
// party's vault (vault.JoinRun, docs/lifecycle.md, one acknowledged run
// per epoch). Each run joined is recorded before anything is computed; a
// run whose new share is stored is marked stored before the share file
// is written; a run that never stored is marked abandoned when a later
// run of the epoch is joined, and this party's join then carries its
// signed statement that it never stored that run's share and never will
// — which the file makes true: a run marked abandoned is never stored.

// The states of a run in the runs file. A run is joined before anything
// is computed, stored before its share is written, and activated before
// its share replaces the share file (once every new holder's stored
// acknowledgement verified: the run is complete); a joined run a later
// run of the epoch finds is abandoned. Settling a run in limbo (tsskit
// party settle, docs/lifecycle.md) freezes a stored run (never activated
// here unless thawed), pins a frozen one (never dropped here, only
// thawed), thaws it back to stored, or drops it: abandoned, its share
// deleted.
const (
	runJoined    = "joined"
	runStored    = "stored"
	runAbandoned = "abandoned"
	runFrozen    = "frozen"
	runPinned    = "pinned"
	runActivated = "activated"
)

type cliRun struct {
	SessionID string `json:"session_id"`
	State     string `json:"state"`
	// Pinned: the run was pinned or thawed here, and is never dropped
	// here again (its earlier frozen-run statement still verifies); a
	// freeze pins it (vault.Run.Pinned at a server party).
	Pinned bool `json:"pinned,omitempty"`
}

// held: the run is frozen or pinned, and the party takes part in no run
// of its epoch until it is thawed or dropped.
func (r cliRun) held() bool { return r.State == runFrozen || r.State == runPinned }

// pinnedForGood: the run is never dropped here, pinned now or pinned or
// thawed once (Pinned); a file written before the flag has a pinned run
// in state "pinned" only.
func (r cliRun) pinnedForGood() bool { return r.Pinned || r.State == runPinned }

// The runs file's object form is written once a run is frozen or
// pinned: a CLI that predates settling reads only the array form, and so
// refuses such a file instead of breaking the promise a frozen-run or
// pinned-run statement made. Version 3 marks a run pinned for good
// (cliRun.Pinned), which a CLI reading only version 2 refuses rather
// than drop that run.
const (
	runsVersionHeld   = 2
	runsVersionPinned = 3
)

func runsVersion(runs []cliRun) int {
	if slices.ContainsFunc(runs, func(r cliRun) bool { return r.Pinned }) {
		return runsVersionPinned
	}
	return runsVersionHeld
}

type runsObject struct {
	Version int      `json:"version"`
	Runs    []cliRun `json:"runs"`
}

func runsFile(shareFile string, epoch int) string {
	return fmt.Sprintf("%s.epoch-%d.runs", shareFile, epoch)
}

func readRuns(file string) ([]cliRun, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var runs []cliRun
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		var o runsObject
		if err := json.Unmarshal(b, &o); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if o.Version != runsVersionHeld && o.Version != runsVersionPinned {
			return nil, fmt.Errorf("%s: runs file version %d; this tsskit reads versions %d and %d", file, o.Version, runsVersionHeld, runsVersionPinned)
		}
		return o.Runs, nil
	}
	if err := json.Unmarshal(b, &runs); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return runs, nil
}

// writeRuns replaces file atomically and durably: a crash leaves the old
// record or the new one, never a torn one.
func writeRuns(file string, runs []cliRun) error {
	var v any = runs
	if slices.ContainsFunc(runs, func(r cliRun) bool { return r.held() || r.Pinned }) {
		v = runsObject{Version: runsVersion(runs), Runs: runs}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(file, b)
}

// writeAtomic replaces file with b (mode 0600) through a temporary file
// and a rename, synced: a crash leaves the old file or the new one.
func writeAtomic(file string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	if err := writeAndClose(f, b); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), file); err != nil {
		os.Remove(f.Name())
		return err
	}
	syncDir(file)
	return nil
}

// syncDir syncs the directory of file, so that a rename in it is durable.
func syncDir(file string) {
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// joinRun abandons every earlier run of the epoch this party never
// stored a share of, records sessionID joined, and returns the party's
// abandoned-run statements, signed with key, for its join. A refresh
// calls it, and every function below that changes the runs file or a
// run's share files, holding the share's lock (lockShare). It refuses
// (run_frozen) while a run of the epoch is frozen or pinned, or its drop
// was cut short (its share still pending): the party takes part in no
// run of the epoch until that run is settled (tsskit party settle).
func joinRun(shareFile string, epoch int, sessionID, walletID, partyID string, key *identity.Key) ([][]byte, error) {
	file := runsFile(shareFile, epoch)
	runs, err := readRuns(file)
	if err != nil {
		return nil, err
	}
	if err := refuseHeld(shareFile, epoch, runs); err != nil {
		return nil, err
	}
	var out [][]byte
	for i, r := range runs {
		if r.SessionID == sessionID {
			if r.State == runAbandoned {
				return nil, fmt.Errorf("session %s was abandoned by this party: it never stores that session's share", sessionID)
			}
			continue
		}
		if r.State == runJoined {
			runs[i].State = runAbandoned
		}
		if runs[i].State == runAbandoned {
			out = append(out, identity.SignAbandoned(key, r.SessionID, walletID, partyID, epoch))
		}
	}
	if !slices.ContainsFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID }) {
		if len(runs) >= identity.MaxAbandoned {
			return nil, fmt.Errorf("%d runs of epoch %d recorded in %s already; at most %d", len(runs), epoch, file, identity.MaxAbandoned)
		}
		runs = append(runs, cliRun{SessionID: sessionID, State: runJoined})
	}
	return out, writeRuns(file, runs)
}

// refuseHeld is run_frozen if a run of the epoch among runs (of the runs
// file beside shareFile) is frozen or pinned, or was dropped with its
// share still beside shareFile (a drop cut short).
func refuseHeld(shareFile string, epoch int, runs []cliRun) error {
	for _, r := range runs {
		switch {
		case r.held():
			return &party.Error{Code: party.CodeRunFrozen, Err: fmt.Errorf(
				"run %s of epoch %d is %s at this party (tsskit party settle): it takes part in no run of the epoch until that run is thawed or dropped", r.SessionID, epoch, r.State)}
		case r.State == runAbandoned && runShareFrom(shareFile, epoch) == r.SessionID:
			return &party.Error{Code: party.CodeRunFrozen, Err: fmt.Errorf(
				"the drop of run %s of epoch %d was cut short (its share is still beside the share file): run 'tsskit party settle drop' again", r.SessionID, epoch)}
		}
	}
	return nil
}

// heldFile is where the share of a run of epoch that this party froze is
// kept (moved from pendingFile): a refresh of a tsskit from before
// settling, whose --resume activates any pending share it finds, does not
// look for it there.
func heldFile(shareFile string, epoch int) string {
	return fmt.Sprintf("%s.epoch-%d.held", shareFile, epoch)
}

// sessionLabel is the session file's content for the share b of run
// sessionID: the session id and b's SHA-256, so that a share file and a
// label written apart (a crash between the two writes) are never taken
// for each other.
func sessionLabel(sessionID string, b []byte) []byte {
	h := sha256.Sum256(b)
	return []byte(sessionID + " " + hex.EncodeToString(h[:]) + "\n")
}

// labelOf reads the session file of epoch beside shareFile and says
// whether b is the share it labels: the session id, and false if the
// label names another share's hash. A label without a hash (written by a
// tsskit before labels had one) labels any share.
func labelOf(shareFile string, epoch int, b []byte) (string, bool, error) {
	raw, err := os.ReadFile(sessionFile(shareFile, epoch))
	if err != nil {
		return "", false, err
	}
	sid, sum, _ := strings.Cut(strings.TrimSpace(string(raw)), " ")
	if sum == "" {
		return sid, true, nil
	}
	h := sha256.Sum256(b)
	return sid, subtle.ConstantTimeCompare([]byte(hex.EncodeToString(h[:])), []byte(sum)) == 1, nil
}

// runShareFile is the file of the share of a run of epoch kept beside
// shareFile — held (frozen) if there is one, else pending — and the
// session that made it, by its label; "" and "" if none, or if the label
// is not that share's.
func runShareFile(shareFile string, epoch int) (string, string) {
	held, herr := os.ReadFile(heldFile(shareFile, epoch))
	pending, perr := os.ReadFile(pendingFile(shareFile, epoch))
	switch {
	case herr == nil && perr == nil:
		// Both: an older tsskit stored another run's share beside a held
		// one. Neither is taken for the labelled run's.
		return "", ""
	case herr == nil:
		// Only a label with the held share's hash names it: labels
		// without one come from a tsskit that never held a share.
		if raw, err := os.ReadFile(sessionFile(shareFile, epoch)); err != nil || !strings.Contains(strings.TrimSpace(string(raw)), " ") {
			return "", ""
		}
		if sid, ok, err := labelOf(shareFile, epoch, held); err == nil && ok {
			return heldFile(shareFile, epoch), sid
		}
	case perr == nil:
		if sid, ok, err := labelOf(shareFile, epoch, pending); err == nil && ok {
			return pendingFile(shareFile, epoch), sid
		}
	}
	return "", ""
}

// runShareFrom is the session whose share of epoch is kept beside
// shareFile, "" if none.
func runShareFrom(shareFile string, epoch int) string {
	_, sid := runShareFile(shareFile, epoch)
	return sid
}

// heldRuns is run_frozen if a run of epoch is held beside shareFile (as
// joinRun refuses): a refresh says so before it asks for a session.
func heldRuns(shareFile string, epoch int) error {
	runs, err := readRuns(runsFile(shareFile, epoch))
	if err != nil {
		return err
	}
	return refuseHeld(shareFile, epoch, runs)
}

// markStored records, before the pending share file of sessionID is
// written, that the run stored its share; it refuses a run marked
// abandoned, and any run while a run of the epoch is frozen or pinned.
func markStored(shareFile string, epoch int, sessionID string) error {
	file := runsFile(shareFile, epoch)
	runs, err := readRuns(file)
	if err != nil {
		return err
	}
	if err := refuseHeld(shareFile, epoch, runs); err != nil {
		return err
	}
	return setRun(file, runs, sessionID, runStored, fmt.Sprintf("session %s was abandoned by this party: its share is not stored", sessionID))
}

// setRun records run sessionID in runs as st (appending it if it is not
// recorded) and writes runs to file; a run recorded abandoned is refused
// with the error dropped, changing nothing.
func setRun(file string, runs []cliRun, sessionID, st, dropped string) error {
	i := slices.IndexFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID })
	switch {
	case i >= 0 && runs[i].State == runAbandoned:
		return errors.New(dropped)
	case i >= 0:
		runs[i].State = st
	default:
		runs = append(runs, cliRun{SessionID: sessionID, State: st})
	}
	return writeRuns(file, runs)
}

// storePending stores b, this party's new share from run sessionID of
// epoch, pending beside shareFile: the run marked stored, then the
// session file labelling b, then b through a rename.
func storePending(shareFile string, epoch int, sessionID string, b []byte) error {
	if err := markStored(shareFile, epoch, sessionID); err != nil {
		return err
	}
	// Which session made it, first: --resume asks the coordinator about
	// that session and no other; the label's hash tells this share from
	// another run's that a crash left behind.
	if err := writeSynced(sessionFile(shareFile, epoch), sessionLabel(sessionID, b)); err != nil {
		return err
	}
	return writeAtomic(pendingFile(shareFile, epoch), b)
}

// isActivated says whether the runs file beside shareFile records run
// sessionID of epoch activated: this party marks it so only once the
// coordinator said it completed and every new holder's stored
// acknowledgement verified.
func isActivated(shareFile string, epoch int, sessionID string) bool {
	runs, err := readRuns(runsFile(shareFile, epoch))
	return err == nil && slices.ContainsFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID && r.State == runActivated })
}

// activatePending puts the pending share of run sessionID of epoch in
// place of shareFile, once the run is complete (every new holder's stored
// acknowledgement verified), unless this party froze, pinned or dropped
// the run (tsskit party settle): the runs file marks the run activated
// first, so that a freeze, which takes the share's lock as the refresh
// does, comes either before and stops the activation, or after and
// answers that the run is active here. A crash between the two leaves
// the run activated and its share pending: 'tsskit party refresh
// --resume' finishes it without asking the coordinator again.
func activatePending(shareFile, pending string, epoch int, sessionID string) error {
	file := runsFile(shareFile, epoch)
	runs, err := readRuns(file)
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID }); i >= 0 && runs[i].held() {
		return &party.Error{Code: party.CodeRunFrozen, Err: fmt.Errorf(
			"run %s is %s at this party (tsskit party settle): its share is not activated; if the run completed, thaw it with every other holder's activated-run or pinned-run statement (tsskit party settle thaw), then run 'tsskit party refresh --resume'", sessionID, runs[i].State)}
	}
	if err := setRun(file, runs, sessionID, runActivated, fmt.Sprintf("run %s was dropped by this party: its share is never activated", sessionID)); err != nil {
		return err
	}
	if err := os.Rename(pending, shareFile); err != nil {
		return err
	}
	syncDir(shareFile)
	// The runs of earlier epochs are settled for good: only this
	// epoch's record is kept (it answers a later freeze of this run).
	for e, f := range runsFiles(shareFile) {
		if e < epoch {
			_ = os.Remove(f)
		}
	}
	return nil
}

// runsFiles are the runs files beside shareFile, by epoch.
func runsFiles(shareFile string) map[int]string {
	dir, base := filepath.Split(shareFile)
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return nil
	}
	name := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `\.epoch-([1-9][0-9]{0,8})\.runs$`)
	out := map[int]string{}
	for _, e := range entries {
		if m := name.FindStringSubmatch(e.Name()); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				out[n] = runsFile(shareFile, n)
			}
		}
	}
	return out
}

// abandonedFile, beside a recovery's share file (OUT.abandoned), keeps
// the abandoned-run statements of the earlier attempts of the recovery
// that failed, one hex line each: an attempt without a kept device is a
// new party with a new key, so each signs its own statement when its
// session fails (its share, if it stored one, deleted), and every later
// attempt's join carries them.
func abandonedFile(out string) string { return out + ".abandoned" }

// readAbandoned reads the statements in out's abandonedFile (none if it
// does not exist).
func readAbandoned(out string) ([][]byte, error) {
	b, err := os.ReadFile(abandonedFile(out))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var stmts [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		st, err := hex.DecodeString(string(line))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", abandonedFile(out), err)
		}
		if _, err := identity.ParseAbandoned(st); err != nil {
			return nil, fmt.Errorf("%s: %w", abandonedFile(out), err)
		}
		stmts = append(stmts, st)
	}
	if len(stmts) > identity.MaxAbandoned {
		return nil, fmt.Errorf("%s: %d statements; at most %d", abandonedFile(out), len(stmts), identity.MaxAbandoned)
	}
	return stmts, sc.Err()
}

// abandonAttempt records that the recovery attempt of session sessionID
// failed and never stores its share (its pending file deleted): its
// statement, signed with the attempt's device key, goes into out's
// abandonedFile; with a kept device its run is marked abandoned in
// the device's runs record instead, which the next attempt's join, with
// the same device key, signs (joinRun).
func abandonAttempt(out, device string, epoch int, sessionID, walletID, partyID string, key *identity.Key) error {
	if device != "" {
		file := runsFile(device, epoch)
		runs, err := readRuns(file)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID }); i >= 0 && runs[i].State != runAbandoned {
			runs[i].State = runAbandoned
			if err := writeRuns(file, runs); err != nil {
				return err
			}
		}
		// The next attempt's join, with the same device key, says so
		// itself (joinRun).
		return nil
	}
	line := hex.EncodeToString(identity.SignAbandoned(key, sessionID, walletID, partyID, epoch)) + "\n"
	f, err := os.OpenFile(abandonedFile(out), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	return writeAndClose(f, []byte(line))
}
