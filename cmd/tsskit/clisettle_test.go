package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

// The CLI party's side of settling a run in limbo (tsskit party settle):
// a frozen run refuses every run of its epoch, its storing and its
// activation; refused drops change nothing; a pinned run is thawed, never
// dropped; a drop deletes the run's share after recording it abandoned,
// and later joins say so; a drop cut short refuses until run again; a run
// active here answers with its activated-run statement. The records are
// not real keygen shares (settling reads only their wallet, epoch,
// holders and identity), so the run's share is given by loadShare; the
// files beside the share file are real.
func TestCLISettle(t *testing.T) {
	ids := []string{"cli-1", "server-1", "server-2"}
	keys := map[string]*identity.Key{}
	cur := &share.Record{WalletID: "w", PartyID: "cli-1", Epoch: 0, Threshold: 2, PublicKey: []byte{2, 7}}
	for _, id := range ids {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
		kind := identity.KindServer
		if id == "cli-1" {
			kind = identity.KindClient
		}
		cur.Holders = append(cur.Holders, share.Holder{PartyID: id, Kind: kind, Identity: k.Public()})
	}
	cur.IdentitySeed = keys["cli-1"].Seed()
	pend := *cur
	pend.Epoch = 1
	runS := "rs-s" // the settle helpers' run, in file

	dir := t.TempDir()
	file := filepath.Join(dir, "w.share")
	original := []byte("the active share")
	if err := os.WriteFile(file, original, 0o600); err != nil {
		t.Fatal(err)
	}
	// Run S stored its share, pending beside the share file.
	storeRun := func(file, sid string) {
		t.Helper()
		if _, err := joinRun(file, 1, sid, "w", "cli-1", keys["cli-1"]); err != nil {
			t.Fatal(err)
		}
		if err := storePending(file, 1, sid, []byte("the pending share of "+sid)); err != nil {
			t.Fatal(err)
		}
	}
	storeRun(file, runS)
	load := func(string, int) (*share.Record, error) { p := pend; return &p, nil }
	settle := func(step string, silent []string, frozen, dropped, words [][]byte) (*clientSettled, error) {
		return settleClientRun(file, cur, load, step, runS, silent, frozen, dropped, words)
	}
	state := func() string {
		t.Helper()
		runs, err := readRuns(runsFile(file, 1))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.SessionID == runS {
				return r.State
			}
		}
		return ""
	}
	code := func(err error) party.Code {
		var pe *party.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return ""
	}
	pendingThere := func() bool { _, err := os.Stat(pendingFile(file, 1)); return err == nil }
	heldThere := func() bool { _, err := os.Stat(heldFile(file, 1)); return err == nil }

	if _, err := settleClientRun(file, cur, load, "freeze", "rs-unknown", nil, nil, nil, nil); code(err) != party.CodeSettle {
		t.Fatalf("freeze of a run never joined: %v", err)
	}
	for _, step := range []string{"drop", "pin", "thaw"} {
		if _, err := settle(step, nil, nil, nil, nil); code(err) != party.CodeSettle || state() != runStored {
			t.Fatalf("%s of a run not frozen: %v, state %s", step, err, state())
		}
	}

	// Freeze: a frozen-run statement, signed with the identity the run's
	// record names, saying the party holds the epoch before.
	done, err := settle("freeze", nil, nil, nil, nil)
	if err != nil || done.activated {
		t.Fatalf("freeze: %+v, %v", done, err)
	}
	if f, err := identity.ParseFrozen(done.statement); err != nil || !f.Verify(keys["cli-1"].Public()) || !f.Held || f.SessionID != runS || f.Epoch != 1 || f.PartyID != "cli-1" || f.WalletID != "w" {
		t.Fatalf("frozen-run statement %+v, %v", f, err)
	}
	if state() != runFrozen || pendingThere() || !heldThere() || runShareFrom(file, 1) != runS {
		t.Fatalf("after freeze: %s; pending %v, held %v", state(), pendingThere(), heldThere())
	}
	if b, _ := os.ReadFile(runsFile(file, 1)); !bytes.HasPrefix(b, []byte(`{"version":2`)) {
		t.Fatalf("a frozen run's runs file is not in the form older CLIs refuse: %s", b)
	}
	if done, err := settle("freeze", nil, nil, nil, nil); err != nil || done.statement == nil || state() != runFrozen {
		t.Fatalf("freeze again: %+v, %v", done, err)
	}
	// While S is frozen: no run of the epoch, S's share neither stored
	// again nor activated.
	if err := heldRuns(file, 1); code(err) != party.CodeRunFrozen {
		t.Fatalf("refresh while frozen: %v", err)
	}
	if _, err := joinRun(file, 1, "rs-t", "w", "cli-1", keys["cli-1"]); code(err) != party.CodeRunFrozen {
		t.Fatalf("join while frozen: %v", err)
	}
	if err := markStored(file, 1, runS); code(err) != party.CodeRunFrozen {
		t.Fatalf("store while frozen: %v", err)
	}
	if err := activatePending(file, pendingFile(file, 1), 1, runS); code(err) != party.CodeRunFrozen {
		t.Fatalf("activation while frozen: %v", err)
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, original) || !heldThere() {
		t.Fatal("a refused activation moved the share files")
	}

	frozenBy := func(id string, held bool) []byte {
		return identity.SignFrozen(keys[id], runS, "w", id, 1, held)
	}
	// Refused drops change nothing.
	for name, args := range map[string]struct {
		silent         []string
		frozen, abanda [][]byte
	}{
		"no word from server-1":            {silent: []string{"server-2"}},
		"both servers silent":              {silent: []string{"server-1", "server-2"}},
		"its own statement for server-1's": {silent: []string{"server-2"}, frozen: [][]byte{done.statement}},
		"a statement signed by another key": {silent: []string{"server-2"},
			frozen: [][]byte{identity.SignFrozen(keys["server-2"], runS, "w", "server-1", 1, true)}},
		"server-1's for another run": {silent: []string{"server-2"},
			frozen: [][]byte{identity.SignFrozen(keys["server-1"], "rs-x", "w", "server-1", 1, true)}},
	} {
		if _, err := settle("drop", args.silent, args.frozen, args.abanda, nil); code(err) != party.CodeSettle || state() != runFrozen || !heldThere() {
			t.Fatalf("%s: %v, state %s", name, err, state())
		}
	}

	// Dropped, server-2 silent, on server-1's word.
	dropped, err := settle("drop", []string{"server-2"}, [][]byte{frozenBy("server-1", true)}, nil, nil)
	if err != nil {
		t.Fatalf("drop: %v", err)
	}
	if a, err := identity.ParseAbandoned(dropped.statement); err != nil || !a.Verify(keys["cli-1"].Public()) || a.SessionID != runS || a.Epoch != 1 {
		t.Fatalf("abandoned-run statement %+v, %v", a, err)
	}
	if state() != runAbandoned || pendingThere() || heldThere() {
		t.Fatalf("after the drop: state %s, pending left %v, held left %v", state(), pendingThere(), heldThere())
	}
	if _, err := os.Stat(sessionFile(file, 1)); err == nil {
		t.Fatal("the dropped run's session file is left")
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, original) {
		t.Fatal("the drop changed the active share")
	}
	if _, err := settle("freeze", nil, nil, nil, nil); code(err) != party.CodeSettle {
		t.Fatalf("freeze of a dropped run: %v", err)
	}
	// A drop cut short (the share still pending): every run of the epoch
	// is refused until the drop is run again, which finishes it.
	left := []byte("left by a drop cut short")
	if err := os.WriteFile(sessionFile(file, 1), sessionLabel(runS, left), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(heldFile(file, 1), left, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := heldRuns(file, 1); code(err) != party.CodeRunFrozen || !strings.Contains(err.Error(), "drop") {
		t.Fatalf("a drop cut short: %v", err)
	}
	if again, err := settle("drop", nil, nil, nil, nil); err != nil || !bytes.Equal(again.statement, dropped.statement) || heldThere() {
		t.Fatalf("the drop run again: %v", err)
	}
	// The next run of the epoch goes on, saying S is abandoned.
	stmts, err := joinRun(file, 1, "rs-t", "w", "cli-1", keys["cli-1"])
	if err != nil || len(stmts) != 1 {
		t.Fatalf("the next run: %d statements, %v", len(stmts), err)
	}
	if a, err := identity.ParseAbandoned(stmts[0]); err != nil || a.SessionID != runS || !a.Verify(keys["cli-1"].Public()) {
		t.Fatalf("the next run's statement %+v, %v", a, err)
	}

	// A run active here: freeze answers with the activated-run statement.
	file2 := filepath.Join(dir, "v.share")
	if err := os.WriteFile(file2, original, 0o600); err != nil {
		t.Fatal(err)
	}
	storeRun(file2, "rs-a")
	if err := activatePending(file2, pendingFile(file2, 1), 1, "rs-a"); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(file2); string(now) != "the pending share of rs-a" {
		t.Fatalf("the activated share file holds %q", now)
	}
	active := pend
	done, err = settleClientRun(file2, &active, load, "freeze", "rs-a", nil, nil, nil, nil)
	if err != nil || !done.activated {
		t.Fatalf("freeze of an activated run: %+v, %v", done, err)
	}
	if a, err := identity.ParseActivated(done.statement); err != nil || !a.Verify(keys["cli-1"].Public()) || a.SessionID != "rs-a" || a.Epoch != 1 {
		t.Fatalf("activated-run statement %+v, %v", a, err)
	}
	if _, err := settleClientRun(file2, &active, load, "drop", "rs-a", []string{"server-2"}, [][]byte{frozenBy("server-1", true)}, nil, nil); code(err) != party.CodeSettle {
		t.Fatalf("drop of an activated run: %v", err)
	}

	// A record whose identity key is not the one its holders name signs
	// nothing, and freezes nothing.
	storeRun(filepath.Join(dir, "u.share"), "rs-u")
	stranger, _ := identity.GenerateKey()
	bad := pend
	bad.IdentitySeed = stranger.Seed()
	if _, err := settleClientRun(filepath.Join(dir, "u.share"), cur, func(string, int) (*share.Record, error) { return &bad, nil }, "freeze", "rs-u", nil, nil, nil, nil); err == nil {
		t.Fatal("a freeze with a key the record does not name")
	}
	if runs, _ := readRuns(runsFile(filepath.Join(dir, "u.share"), 1)); len(runs) != 1 || runs[0].State != runStored {
		t.Fatalf("a refused freeze changed the run: %+v", runs)
	}

	// A share its session file does not label (a crash between the two
	// writes left another run's share): nothing to freeze.
	u := filepath.Join(dir, "u.share")
	if err := os.WriteFile(pendingFile(u, 1), []byte("another run's share"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := settleClientRun(u, cur, load, "freeze", "rs-u", nil, nil, nil, nil); code(err) != party.CodeSettle {
		t.Fatalf("a freeze of a share its label does not name: %v", err)
	}
	if isActivated(u, 1, "rs-u") || !isActivated(file2, 1, "rs-a") {
		t.Fatal("isActivated")
	}

	// A held share is named only by a label with its hash, and neither
	// share is taken when a pending one lies beside it (an older tsskit
	// stored another run's).
	h := filepath.Join(dir, "h.share")
	heldShare := []byte("a held share")
	os.WriteFile(heldFile(h, 1), heldShare, 0o600)
	os.WriteFile(sessionFile(h, 1), []byte("rs-h\n"), 0o600)
	if got := runShareFrom(h, 1); got != "" {
		t.Fatalf("a held share under a label without its hash taken for %q's", got)
	}
	os.WriteFile(sessionFile(h, 1), sessionLabel("rs-h", heldShare), 0o600)
	if got := runShareFrom(h, 1); got != "rs-h" {
		t.Fatalf("the held share under its label: %q", got)
	}
	os.WriteFile(pendingFile(h, 1), []byte("another run's share"), 0o600)
	if got := runShareFrom(h, 1); got != "" {
		t.Fatalf("held and pending shares side by side: %q", got)
	}

	// Going back, on another wallet file: pinned (never dropped), thawed
	// only on every server holder's word. Thawed, the run is pinned for
	// good: its frozen-run statement from before the thaw still
	// verifies, so frozen again it gives its pinned-run statement, and
	// it is never dropped, even on such a statement of another holder.
	file, runS = filepath.Join(dir, "p.share"), "rs-p"
	if err := os.WriteFile(file, original, 0o600); err != nil {
		t.Fatal(err)
	}
	storeRun(file, runS)
	if _, err := settle("freeze", nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	pinned, err := settle("pin", nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := identity.ParsePinned(pinned.statement); err != nil || !p.Verify(keys["cli-1"].Public()) || p.SessionID != runS {
		t.Fatalf("pinned-run statement %+v, %v", p, err)
	}
	if _, err := settle("drop", []string{"server-2"}, [][]byte{frozenBy("server-1", true)}, nil, nil); code(err) != party.CodeSettle || state() != runPinned {
		t.Fatalf("drop of a pinned run: %v, state %s", err, state())
	}
	pinnedBy := func(id string) []byte { return identity.SignPinned(keys[id], runS, "w", id, 1) }
	if _, err := settle("thaw", nil, nil, nil, [][]byte{pinnedBy("server-1")}); code(err) != party.CodeSettle || state() != runPinned {
		t.Fatalf("thaw without server-2's word: %v, state %s", err, state())
	}
	if _, err := settle("thaw", []string{"server-2", "server-2"}, nil, nil, [][]byte{pinnedBy("server-1")}); code(err) != party.CodeSettle || state() != runPinned {
		t.Fatalf("thaw naming server-2 silent twice: %v, state %s", err, state())
	}
	if _, err := settle("thaw", nil, nil, nil, [][]byte{pinnedBy("server-1"), identity.SignActivated(keys["server-2"], runS, "w", "server-2", 1)}); err != nil || state() != runStored {
		t.Fatalf("thaw: %v, state %s", err, state())
	}
	if !pendingThere() || heldThere() || runShareFrom(file, 1) != runS {
		t.Fatalf("after the thaw the share is not back in place: pending %v, held %v", pendingThere(), heldThere())
	}
	if err := heldRuns(file, 1); err != nil {
		t.Fatalf("a thawed run still holds the epoch: %v", err)
	}

	if _, err := settle("drop", []string{"server-2"}, [][]byte{frozenBy("server-1", true)}, nil, nil); code(err) != party.CodeSettle || state() != runStored {
		t.Fatalf("drop of a thawed run: %v, state %s", err, state())
	}
	again, err := settle("freeze", nil, nil, nil, nil)
	if err != nil || !again.pinned || state() != runPinned || !heldThere() || pendingThere() {
		t.Fatalf("freeze of a thawed run: %+v, %v, state %s; want it pinned, its share held", again, err, state())
	}
	if p, err := identity.ParsePinned(again.statement); err != nil || !p.Verify(keys["cli-1"].Public()) || p.SessionID != runS {
		t.Fatalf("the statement of a thawed run frozen again: %+v, %v; want its pinned-run statement", p, err)
	}
	if _, err := identity.ParseFrozen(again.statement); err == nil {
		t.Fatal("a frozen-run statement for a thawed run")
	}
	if _, err := settle("drop", []string{"server-2"}, [][]byte{frozenBy("server-1", true)}, nil, nil); code(err) != party.CodeSettle || state() != runPinned || !heldThere() {
		t.Fatalf("drop of a thawed run frozen again: %v, state %s", err, state())
	}
	if _, err := settle("thaw", nil, nil, nil, [][]byte{pinnedBy("server-1"), pinnedBy("server-2")}); err != nil || state() != runStored || !pendingThere() {
		t.Fatalf("thaw again: %v, state %s", err, state())
	}
	if b, _ := os.ReadFile(runsFile(file, 1)); !bytes.HasPrefix(b, []byte(`{"version":3,`)) {
		t.Fatalf("the runs file of a run pinned for good is not in the form older CLIs refuse: %s", b)
	}
}

// The share's lock: a second holder is refused at once, and the lock is
// free again once released.
func TestLockShare(t *testing.T) {
	if !shareLocks {
		t.Skip("no advisory file locks on this platform")
	}
	file := filepath.Join(t.TempDir(), "w.share")
	unlock, err := lockShare(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockShare(file); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second lock: %v", err)
	}
	unlock()
	again, err := lockShare(file)
	if err != nil {
		t.Fatalf("the lock after its release: %v", err)
	}
	again()
}

// The runs file's forms: the array older CLIs read while no run is held,
// an object with a version once one is, which an older CLI refuses, and
// version 3 once a run is pinned for good.
func TestCLIRunsFileVersion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "w.share.epoch-1.runs")
	plain := []cliRun{{SessionID: "a", State: runStored}}
	if err := writeRuns(file, plain); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !bytes.HasPrefix(b, []byte("[")) {
		t.Fatalf("no run held: %s", b)
	}
	held := []cliRun{{SessionID: "a", State: runFrozen}, {SessionID: "b", State: runAbandoned}}
	if err := writeRuns(file, held); err != nil {
		t.Fatal(err)
	}
	got, err := readRuns(file)
	if err != nil || len(got) != 2 || got[0] != held[0] || got[1] != held[1] {
		t.Fatalf("read back %+v, %v", got, err)
	}
	var old []cliRun // what an older CLI unmarshals
	if b, _ := os.ReadFile(file); json.Unmarshal(b, &old) == nil {
		t.Fatal("an older CLI would read a runs file with a frozen run")
	}
	// A run pinned for good, even once stored again: version 3, which a
	// CLI reading only version 2 refuses rather than drop the run.
	pinned := []cliRun{{SessionID: "a", State: runStored, Pinned: true}}
	if err := writeRuns(file, pinned); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !bytes.HasPrefix(b, []byte(`{"version":3,`)) {
		t.Fatalf("a run pinned for good: %s", b)
	}
	if got, err := readRuns(file); err != nil || len(got) != 1 || got[0] != pinned[0] {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if err := os.WriteFile(file, []byte(`{"version":2,"runs":[{"session_id":"a","state":"frozen"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readRuns(file); err != nil || len(got) != 1 || got[0].State != runFrozen {
		t.Fatalf("a version 2 file: %+v, %v", got, err)
	}
	if err := os.WriteFile(file, []byte(`{"version":4,"runs":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readRuns(file); err == nil {
		t.Fatal("a newer runs file read")
	}
}
