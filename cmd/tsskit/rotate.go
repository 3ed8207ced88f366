package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rwadurian/tsskit/serverparty/vault"
)

const envNewMasterKey = "CRYPTO_MASTER_KEY_NEW"

// runRotateKey re-encrypts a server party's vault (shares and pre-params)
// under a new master key. Stop the server party first; afterwards start it
// with the new key as CRYPTO_MASTER_KEY.
func runRotateKey(ctx context.Context, args []string) error {
	fs := newFlags("rotate-key", "Re-encrypt a server party's vault (shares and pre-params) under a new master key. Stop the server party first.",
		`  CRYPTO_MASTER_KEY      the current key (64 hex chars)
  CRYPTO_MASTER_KEY_NEW  the new key (64 hex chars); afterwards start the party with it as CRYPTO_MASTER_KEY
  DATABASE_URL           the party's vault is in PostgreSQL (as for tsskit serverparty); empty: files in --data-dir`)
	dataDir := fs.String("data-dir", filepath.Join(".data", "serverparty"), "the server party's data dir")
	partyID := fs.String("party-id", "", "with DATABASE_URL: the party whose rows to rotate (default: the id kept in --data-dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	oldKey, err := vault.ParseMasterKey(os.Getenv(envMasterKey))
	if err != nil {
		return configErrorf("%v", err)
	}
	newKey, err := vault.ParseMasterKey(os.Getenv(envNewMasterKey))
	if err != nil {
		return configErrorf("%s: %v", envNewMasterKey, err)
	}
	if oldKey.ID() == newKey.ID() {
		return configErrorf("%s is the current key", envNewMasterKey)
	}
	var v *vault.Vault
	if db := os.Getenv(envDatabase); db != "" {
		id := *partyID
		if id == "" {
			b, err := os.ReadFile(filepath.Join(*dataDir, "party-id"))
			if err != nil {
				return configErrorf("--party-id is required with %s (no party id kept in %s)", envDatabase, *dataDir)
			}
			id = strings.TrimSpace(string(b))
		}
		if v, err = vault.OpenPostgres(ctx, db, id, oldKey); err != nil {
			return err
		}
		defer v.Close()
	} else {
		dir := filepath.Join(*dataDir, "vault")
		if _, err := os.Stat(dir); err != nil {
			return configErrorf("no vault in %s", dir)
		}
		if v, err = vault.Open(dir, oldKey); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "rotating %s from key %s to key %s\n", v.Location(), oldKey.ID(), newKey.ID())
	n, err := v.Rotate(newKey)
	if err != nil {
		return fmt.Errorf("rotate (nothing is lost: records not yet rewritten stay under the old key; run again): %w", err)
	}
	fmt.Printf("rewrote %d records under key %s\n", n, newKey.ID())
	return nil
}
