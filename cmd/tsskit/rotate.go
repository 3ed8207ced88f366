package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rwadurian/tsskit/serverparty/vault"
)

const envNewMasterKey = "CRYPTO_MASTER_KEY_NEW"

// runRotateKey re-encrypts a server party's vault (shares and pre-params)
// under a new master key. Stop the server party first; afterwards start it
// with the new key as CRYPTO_MASTER_KEY.
func runRotateKey(_ context.Context, args []string) error {
	fs := newFlags("rotate-key", "Re-encrypt a server party's vault (shares and pre-params) under a new master key. Stop the server party first.",
		`  CRYPTO_MASTER_KEY      the current key (64 hex chars)
  CRYPTO_MASTER_KEY_NEW  the new key (64 hex chars); afterwards start the party with it as CRYPTO_MASTER_KEY`)
	dataDir := fs.String("data-dir", filepath.Join(".data", "serverparty"), "the server party's data dir")
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
	dir := filepath.Join(*dataDir, "vault")
	if _, err := os.Stat(dir); err != nil {
		return configErrorf("no vault in %s", dir)
	}
	v, err := vault.Open(dir, oldKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rotating %s from key %s to key %s\n", dir, oldKey.ID(), newKey.ID())
	n, err := v.Rotate(newKey)
	if err != nil {
		return fmt.Errorf("rotate (nothing is lost: files not yet rewritten stay under the old key; run again): %w", err)
	}
	fmt.Printf("rewrote %d files under key %s\n", n, newKey.ID())
	return nil
}
