package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

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

type cliRun struct {
	SessionID string `json:"session_id"`
	State     string `json:"state"` // joined, stored or abandoned
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
	if err := json.Unmarshal(b, &runs); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return runs, nil
}

// writeRuns replaces file atomically and durably: a crash leaves the old
// record or the new one, never a torn one.
func writeRuns(file string, runs []cliRun) error {
	b, err := json.Marshal(runs)
	if err != nil {
		return err
	}
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
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// joinRun abandons every earlier run of the epoch this party never
// stored a share of, records sessionID joined, and returns the party's
// abandoned-run statements, signed with key, for its join.
func joinRun(shareFile string, epoch int, sessionID, walletID, partyID string, key *identity.Key) ([][]byte, error) {
	file := runsFile(shareFile, epoch)
	runs, err := readRuns(file)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i, r := range runs {
		if r.SessionID == sessionID {
			if r.State == "abandoned" {
				return nil, fmt.Errorf("session %s was abandoned by this party: it never stores that session's share", sessionID)
			}
			continue
		}
		if r.State == "joined" {
			runs[i].State = "abandoned"
		}
		if runs[i].State == "abandoned" {
			out = append(out, identity.SignAbandoned(key, r.SessionID, walletID, partyID, epoch))
		}
	}
	if !slices.ContainsFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID }) {
		if len(runs) >= identity.MaxAbandoned {
			return nil, fmt.Errorf("%d runs of epoch %d recorded in %s already; at most %d", len(runs), epoch, file, identity.MaxAbandoned)
		}
		runs = append(runs, cliRun{SessionID: sessionID, State: "joined"})
	}
	return out, writeRuns(file, runs)
}

// markStored records, before the pending share file of sessionID is
// written, that the run stored its share; it refuses a run marked
// abandoned.
func markStored(shareFile string, epoch int, sessionID string) error {
	file := runsFile(shareFile, epoch)
	runs, err := readRuns(file)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID })
	switch {
	case i >= 0 && runs[i].State == "abandoned":
		return fmt.Errorf("session %s was abandoned by this party: its share is not stored", sessionID)
	case i >= 0:
		runs[i].State = "stored"
	default:
		runs = append(runs, cliRun{SessionID: sessionID, State: "stored"})
	}
	return writeRuns(file, runs)
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
		if i := slices.IndexFunc(runs, func(r cliRun) bool { return r.SessionID == sessionID }); i >= 0 && runs[i].State != "abandoned" {
			runs[i].State = "abandoned"
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
