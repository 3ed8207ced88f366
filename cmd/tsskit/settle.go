package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rwadurian/tsskit/serverparty"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// runSettle settles a reshare run in limbo at a server party
// (docs/lifecycle.md): every new holder of the run stored its share, one
// stays silent, and the others refuse every later run of the epoch. On
// every server holder that is not silent, with the server party stopped:
// freeze (the party never activates the run; it prints its signed
// frozen-run statement), then drop with every other such holder's
// statement (the party deletes its share of the run and says, in its
// later joins, that it abandoned it). thaw undoes a freeze, when a holder
// could not freeze the run because it had activated it already.
func runSettle(ctx context.Context, args []string) error {
	const usage = "usage: tsskit settle freeze|drop|thaw --wallet ID --run SESSION [flags]"
	if len(args) == 0 {
		return configErrorf("%s", usage)
	}
	step := args[0]
	summary := map[string]string{
		"freeze": "Freeze a reshare run in limbo at this server party: it never activates the run's share. Prints the party's signed frozen-run statement. Stop the server party first.",
		"drop":   "Drop this server party's share of a frozen run, given the frozen-run statement of every other holder that is not --silent. Stop the server party first.",
		"thaw":   "Undo a freeze: the run's share may be activated again. Stop the server party first.",
	}[step]
	if summary == "" {
		return configErrorf("settle: unknown step %q; %s", step, usage)
	}
	fs := newFlags("settle "+step, summary,
		`  CRYPTO_MASTER_KEY  the party's vault key (64 hex chars)
  DATABASE_URL       the party's vault is in PostgreSQL (as for tsskit serverparty); empty: files in --data-dir`)
	dataDir := fs.String("data-dir", filepath.Join(".data", "serverparty"), "the server party's data dir")
	partyID := fs.String("party-id", "", "the party (default: the id kept in --data-dir)")
	walletID := fs.String("wallet", "", "the wallet id")
	run := fs.String("run", "", "the reshare session id of the run in limbo")
	out := fs.String("out", "", "freeze: write the statement to this file too")
	silent := fs.String("silent", "", "drop: the new holders of the run that stay silent, comma-separated (fewer than the run's signers)")
	var frozen [][]byte
	fs.Func("frozen", "drop: a file with another holder's frozen-run statement (repeat for each)", func(name string) error {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		st, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: not a hex statement: %v", name, err)
		}
		frozen = append(frozen, st)
		return nil
	})
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
	switch step {
	case "freeze":
		st, epoch, err := serverparty.FreezeRun(v, *walletID, id, *run)
		if err != nil {
			return err
		}
		line := hex.EncodeToString(st) + "\n"
		if *out != "" {
			if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "run %s of wallet %s (epoch %d) is frozen at %s: it is never activated here unless thawed\n", *run, *walletID, epoch, id)
		fmt.Print(line)
	case "drop":
		var quiet []string
		if *silent != "" {
			quiet = strings.Split(*silent, ",")
		}
		if err := serverparty.DropRun(v, *walletID, id, *run, quiet, frozen); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "run %s of wallet %s is dropped at %s: its later joins say it abandoned the run\n", *run, *walletID, id)
	case "thaw":
		if err := v.ThawRun(*walletID, id, *run); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "run %s of wallet %s is thawed at %s: its share may be activated\n", *run, *walletID, id)
	}
	return nil
}
