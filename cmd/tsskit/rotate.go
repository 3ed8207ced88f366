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
	v, _, err := openPartyVault(ctx, *dataDir, *partyID, oldKey)
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.Exclusive(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rotating %s from key %s to key %s\n", v.Location(), oldKey.ID(), newKey.ID())
	n, err := v.Rotate(newKey)
	if err != nil {
		return fmt.Errorf("rotate (nothing is lost: records not yet rewritten stay under the old key; run again): %w", err)
	}
	fmt.Printf("rewrote %d records under key %s\n", n, newKey.ID())
	return nil
}

// openPartyVault opens a server party's vault as tsskit serverparty
// does, and says whose it is: with DATABASE_URL, the rows of partyID (by
// default the id kept in dataDir); otherwise the files in dataDir/vault,
// of the id kept in dataDir, if any ("" if none).
func openPartyVault(ctx context.Context, dataDir, partyID string, key *vault.MasterKey) (*vault.Vault, string, error) {
	db := os.Getenv(envDatabase)
	if partyID == "" && (db != "" || fileExists(filepath.Join(dataDir, "party-id"))) {
		b, err := os.ReadFile(filepath.Join(dataDir, "party-id"))
		if err != nil {
			return nil, "", configErrorf("--party-id is required (no party id kept in %s)", dataDir)
		}
		partyID = strings.TrimSpace(string(b))
	}
	if db != "" {
		v, err := vault.OpenPostgres(ctx, db, partyID, key)
		return v, partyID, err
	}
	dir := filepath.Join(dataDir, "vault")
	if _, err := os.Stat(dir); err != nil {
		return nil, "", configErrorf("no vault in %s", dir)
	}
	v, err := vault.Open(dir, key)
	return v, partyID, err
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
