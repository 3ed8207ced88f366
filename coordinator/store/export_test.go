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
	}
	for _, mg := range migrations {
		for i, q := range mg.statements {
			m[fmt.Sprintf("migration %d.%d", mg.version, i+1)] = q
		}
	}
	return m
}

func LatestSchemaVersion() int { return migrations[len(migrations)-1].version }
