package store

import (
	"database/sql"
	"fmt"
)

// Test hooks for the external tests in sqlite_test.go (which cannot be in
// package store: they import storetest, which imports store).

func DBOf(s *SQLite) *sql.DB { return s.db }

// SQLText is every SQL statement of queries.go, for the portability test.
func SQLText() map[string]string {
	m := map[string]string{
		"qCreateMigrations": qCreateMigrations,
		"qSchemaVersion":    qSchemaVersion,
		"qRecordMigration":  qRecordMigration,
		"qInsertWallet":     qInsertWallet,
		"qInsertHolder":     qInsertHolder,
		"qWalletExists":     qWalletExists,
		"qGetWallet":        qGetWallet,
		"qWalletByUser":     qWalletByUser,
		"qWalletCursor":     qWalletCursor,
		"qListWallets":      qListWallets,
		"qInsertSession":    qInsertSession,
		"qUpdateSession":    qUpdateSession,
		"qGetSession":       qGetSession,
		"qFailUnfinished":   qFailUnfinished,

		"qFailUnfinishedOwned": qFailUnfinishedOwned,
		"qFailStale":           qFailStale,
		"qBeginReshare":        qBeginReshare,
		"qActivateEpoch":       qActivateEpoch,
		"qAbortReshare":        qAbortReshare,
		"qReshareState":        qReshareState,
	}
	for _, mg := range migrations {
		for i, q := range mg.statements {
			m[fmt.Sprintf("migration %d.%d", mg.version, i+1)] = q
		}
	}
	return m
}

func LatestSchemaVersion() int { return migrations[len(migrations)-1].version }

// MigrateTo brings an empty database to schema version, through exec, the
// way a program that knew no later migration would have: for tests of
// upgrading a database made by an older release.
func MigrateTo(version int, exec func(query string, args ...any) error) error {
	if err := exec(qCreateMigrations); err != nil {
		return err
	}
	for _, m := range migrations {
		if m.version > version {
			break
		}
		for _, q := range m.statements {
			if err := exec(q); err != nil {
				return err
			}
		}
		if err := exec(qRecordMigration, m.version, 0); err != nil {
			return err
		}
	}
	return nil
}

// MigrationLock is the key of the PostgreSQL migration lock.
const MigrationLock = pgMigrationLock
