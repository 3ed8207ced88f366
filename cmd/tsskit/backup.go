package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rwadurian/tsskit/internal/backup"
)

func runBackup(_ context.Context, args []string) error {
	fs := newFlags("backup", "Snapshot a data directory of the embedded default (SQLite store, server-party vaults) while the services run; each file is whole, "+
		"but a keygen finishing meanwhile may be in the store and not in a vault, or the reverse: back up when none runs, or after the ones that matter. "+
		"Vault records stay encrypted under the master key, which is never included; keep CRYPTO_MASTER_KEY and MPC_API_KEY apart from the backup. "+
		"With DATABASE_URL, back up PostgreSQL with pg_dump instead (docs/operations.md).", "")
	dataDir := fs.String("data-dir", filepath.Join(".data", "dev"), "the data directory to back up")
	out := fs.String("out", "", "the backup file to write (a new file, mode 0600)")
	keys := fs.Bool("include-keys", false, "also back up private key files (*.key, e.g. tsskit dev's root and coordinator keys), in the clear as they are at rest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return configErrorf("--out is required")
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	n := 0
	m, err := backup.Create(*dataDir, f, backup.Options{IncludeKeys: *keys, Progress: func(p string) { n++; fmt.Fprintf(os.Stderr, "backup: %s\n", p) }})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return err
	}
	for _, l := range m.LeftOut {
		fmt.Fprintf(os.Stderr, "backup: left out %s (%s)\n", l.Path, l.Why)
	}
	fmt.Fprintf(os.Stderr, "backup: %d files from %s in %s\n", n, *dataDir, *out)
	return nil
}

func runRestore(_ context.Context, args []string) error {
	fs := newFlags("restore", "Restore a backup made by tsskit backup into an empty or new data directory, after checking every file against the backup's manifest. "+
		"Start the services with the same CRYPTO_MASTER_KEY (and, for tsskit dev, MPC_API_KEY) as before.", "")
	in := fs.String("in", "", "the backup file")
	dataDir := fs.String("data-dir", filepath.Join(".data", "dev"), "where to restore (must be empty or missing)")
	withPre := fs.Bool("with-preparams", false, "also restore the server parties' ready pre-parameters (by default left out: a set used after the backup was made would be used again)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return configErrorf("--in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("--in: %w", err)
	}
	defer f.Close()
	n := 0
	m, err := backup.Restore(f, *dataDir, backup.RestoreOptions{PreParams: *withPre, Progress: func(p string) { n++; fmt.Fprintf(os.Stderr, "restore: %s\n", p) }})
	if errors.Is(err, backup.ErrNotEmpty) {
		return configErrorf("%v: restore into a new directory", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "restore: %d files of the backup made %s into %s\n", n, m.CreatedAt.Format("2006-01-02 15:04:05 MST"), *dataDir)
	return nil
}
