package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rwadurian/tsskit/serverparty"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// runSettle settles a reshare run in limbo at a server party
// (docs/lifecycle.md, docs/operations.md): every new holder of the run
// stored its share, one stays silent, and the others refuse every later
// run of the epoch. On every server holder that is not silent, with the
// server party stopped (the command claims its vault, and refuses while
// the party runs): freeze (the party never activates the run; it prints
// its signed frozen-run statement), then drop with every other such
// holder's statement (the party deletes its share of the run, prints its
// abandoned-run statement and says so in its later joins). A run already
// active at a holder is not frozen there: freeze prints that holder's
// activated-run statement instead; the others that froze it pin it
// (never to drop it) and then thaw it, each given every other holder's
// activated-run or pinned-run statement (a holder that never drops it,
// such as one that is gone, named --silent), and activate it.
func runSettle(ctx context.Context, args []string) error {
	const usage = "usage: tsskit settle freeze|drop|pin|thaw --wallet ID --run SESSION [flags]"
	if len(args) == 0 {
		return configErrorf("%s", usage)
	}
	step := args[0]
	summary := settleSummary(step, "this server party", "the run's share is activated at the party's next start.", " Stop the server party first.")
	if summary == "" {
		return configErrorf("settle: unknown step %q; %s", step, usage)
	}
	fs := newFlags("settle "+step, summary,
		`  CRYPTO_MASTER_KEY  the party's vault key (64 hex chars)
  DATABASE_URL       the party's vault is in PostgreSQL (as for tsskit serverparty); empty: files in --data-dir`)
	dataDir := fs.String("data-dir", filepath.Join(".data", "serverparty"), "the server party's data dir")
	partyID := fs.String("party-id", "", "the party (default: the id kept in --data-dir)")
	walletID := fs.String("wallet", "", "the wallet id")
	a := addSettleFlags(fs)
	run, out, silent, frozen, dropped, words := a.run, a.out, a.silent, a.frozen, a.dropped, a.words
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *walletID == "" || *run == "" {
		return configErrorf("settle %s: --wallet and --run are required", step)
	}
	key, err := vault.ParseMasterKey(os.Getenv(envMasterKey))
	if err != nil {
		return configErrorf("%v", err)
	}
	v, id, err := openPartyVault(ctx, *dataDir, *partyID, key)
	if err != nil {
		return err
	}
	defer v.Close()
	if id == "" {
		return configErrorf("--party-id is required (no party id kept in %s)", *dataDir)
	}
	if err := v.Exclusive(); err != nil {
		return err
	}
	var done *serverparty.Settled
	switch step {
	case "freeze":
		if done, err = serverparty.FreezeRun(v, *walletID, id, *run); err == nil && !done.Activated && !done.Pinned {
			fmt.Fprintf(os.Stderr, "run %s of wallet %s (epoch %d) is frozen at %s: it is never activated here\n", *run, *walletID, done.Epoch, id)
		}
	case "drop":
		if done, err = serverparty.DropRun(v, *walletID, id, *run, splitIDs(*silent), *frozen, *dropped); err == nil {
			fmt.Fprintf(os.Stderr, "run %s of wallet %s is dropped at %s: its later joins say it abandoned the run\n", *run, *walletID, id)
		}
	case "pin":
		if done, err = serverparty.PinRun(v, *walletID, id, *run); err == nil {
			fmt.Fprintf(os.Stderr, "run %s of wallet %s is pinned at %s: it is never dropped here, only thawed\n", *run, *walletID, id)
		}
	case "thaw":
		if err = serverparty.ThawRun(v, *walletID, id, *run, splitIDs(*silent), *words); err == nil {
			fmt.Fprintf(os.Stderr, "run %s of wallet %s is thawed at %s: it activates the run's share at its next start\n", *run, *walletID, id)
		}
	}
	if err != nil || done == nil {
		return err
	}
	line := hex.EncodeToString(done.Statement) + "\n"
	if *out != "" {
		if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
			return err
		}
	}
	fmt.Print(line)
	if done.Pinned {
		return fmt.Errorf("run %s was pinned or thawed at %s before: it is held again (never activated here until thawed) but never dropped here, for its earlier frozen-run statement still verifies; this is its pinned-run statement: thaw it again (tsskit settle thaw --pinned)", *run, id)
	}
	if done.Activated {
		return fmt.Errorf("run %s is %s's active share already: it is complete, not frozen; pin it at the other holders that froze it, then thaw each with this activated-run statement and the others' pinned-run statements (tsskit settle pin; tsskit settle thaw --activated --pinned)", *run, id)
	}
	return nil
}

// settleSummary is the help summary of settle step at party (a server
// party or the CLI party), thawEnd saying what follows a thaw, tail
// appended to each; "" for an unknown step.
func settleSummary(step, party, thawEnd, tail string) string {
	s := map[string]string{
		"freeze": "Freeze a reshare run in limbo at " + party + ": it never activates the run's share. Prints the party's signed frozen-run statement (an activated-run statement, and fails, if the run is active here; a pinned-run statement, and fails, if it was pinned or thawed here before: such a run is never dropped here).",
		"drop":   "Drop " + party + "'s share of a frozen run, given the frozen-run statement of every other holder that is not --silent. Prints its abandoned-run statement.",
		"pin":    "Pin a frozen run at " + party + ": it is never dropped here, only thawed. Prints the party's pinned-run statement, for the other holders' thaw.",
		"thaw":   "Undo a freeze, given every other holder's activated-run or pinned-run statement (those that never drop it, such as a holder that is gone, named --silent); " + thawEnd,
	}[step]
	if s == "" {
		return ""
	}
	return s + tail
}

// settleFlags are the flags of a settle step, at a server party (tsskit
// settle) and at the CLI party (tsskit party settle).
type settleFlags struct {
	run, out, silent       *string
	frozen, dropped, words *[][]byte // --frozen; --abandoned; --activated and --pinned
}

func addSettleFlags(fs *flag.FlagSet) settleFlags {
	var f settleFlags
	f.run = fs.String("run", "", "the reshare session id of the run in limbo")
	f.out = fs.String("out", "", "freeze, drop, pin: write the statement printed to this file too")
	f.silent = fs.String("silent", "", "drop: the new holders of the run that stay silent, comma-separated (fewer than the run's signers); thaw: the holders that never drop it (a lost device, a holder that is gone)")
	f.frozen = statementFiles(fs, "frozen", "drop: a file with another holder's frozen-run statement (repeat for each)")
	f.dropped = statementFiles(fs, "abandoned", "drop, at a party holding no share of the epoch before: a file with the abandoned-run statement another holder's drop printed (repeat for each)")
	f.words = statementFiles(fs, "activated", "thaw: a file with the activated-run statement another holder's freeze printed (repeat for each)")
	fs.Func("pinned", "thaw: a file with the pinned-run statement another holder's pin printed (repeat for each)", fs.Lookup("activated").Value.Set)
	return f
}

// statementFiles is a repeatable flag naming files that each hold one
// hex statement.
func statementFiles(fs *flag.FlagSet, name, usage string) *[][]byte {
	var out [][]byte
	fs.Func(name, usage, func(file string) error {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		st, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: not a hex statement: %v", file, err)
		}
		out = append(out, st)
		return nil
	})
	return &out
}
