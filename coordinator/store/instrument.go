package store

import (
	"context"
	"errors"
	"time"
)

// Instrument returns st with every call timed: observe gets the
// operation's name, its duration and its error. ErrNotFound, ErrExists
// and ErrReshareConflict are answers, not failures, and are passed as nil.
func Instrument(st Store, observe func(op string, took time.Duration, err error)) Store {
	if observe == nil {
		return st
	}
	return &instrumented{st: st, observe: observe}
}

type instrumented struct {
	st      Store
	observe func(string, time.Duration, error)
}

func timed[T any](i *instrumented, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	seen := err
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrReshareConflict) {
		seen = nil
	}
	i.observe(op, time.Since(start), seen)
	return v, err
}

func timed0(i *instrumented, op string, f func() error) error {
	_, err := timed(i, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (i *instrumented) CreateWallet(ctx context.Context, w *Wallet) error {
	return timed0(i, "create_wallet", func() error { return i.st.CreateWallet(ctx, w) })
}

func (i *instrumented) GetWallet(ctx context.Context, id string) (*Wallet, error) {
	return timed(i, "get_wallet", func() (*Wallet, error) { return i.st.GetWallet(ctx, id) })
}

func (i *instrumented) WalletByUser(ctx context.Context, userID string) (*Wallet, error) {
	return timed(i, "wallet_by_user", func() (*Wallet, error) { return i.st.WalletByUser(ctx, userID) })
}

func (i *instrumented) ListWallets(ctx context.Context, f WalletFilter) ([]*Wallet, error) {
	return timed(i, "list_wallets", func() ([]*Wallet, error) { return i.st.ListWallets(ctx, f) })
}

func (i *instrumented) CreateSession(ctx context.Context, s *Session) error {
	return timed0(i, "create_session", func() error { return i.st.CreateSession(ctx, s) })
}

func (i *instrumented) UpdateSession(ctx context.Context, s *Session) error {
	return timed0(i, "update_session", func() error { return i.st.UpdateSession(ctx, s) })
}

func (i *instrumented) GetSession(ctx context.Context, id string) (*Session, error) {
	return timed(i, "get_session", func() (*Session, error) { return i.st.GetSession(ctx, id) })
}

func (i *instrumented) FailUnfinished(ctx context.Context, reason string, at time.Time) (int, error) {
	return timed(i, "fail_unfinished", func() (int, error) { return i.st.FailUnfinished(ctx, reason, at) })
}

func (i *instrumented) FailUnfinishedOwned(ctx context.Context, owner, reason string, at time.Time) (int, error) {
	return timed(i, "fail_unfinished", func() (int, error) { return i.st.FailUnfinishedOwned(ctx, owner, reason, at) })
}

func (i *instrumented) FailStale(ctx context.Context, createdBefore time.Time, reason string, at time.Time) (int, error) {
	return timed(i, "fail_stale", func() (int, error) { return i.st.FailStale(ctx, createdBefore, reason, at) })
}

func (i *instrumented) BeginReshare(ctx context.Context, walletID string, fromEpoch int, sessionID string, now, staleBefore time.Time) error {
	return timed0(i, "begin_reshare", func() error { return i.st.BeginReshare(ctx, walletID, fromEpoch, sessionID, now, staleBefore) })
}

func (i *instrumented) ActivateEpoch(ctx context.Context, walletID, sessionID string, epoch int, to *Committee, acks map[string][]byte) error {
	return timed0(i, "activate_epoch", func() error { return i.st.ActivateEpoch(ctx, walletID, sessionID, epoch, to, acks) })
}

func (i *instrumented) AbortReshare(ctx context.Context, walletID, sessionID string) error {
	return timed0(i, "abort_reshare", func() error { return i.st.AbortReshare(ctx, walletID, sessionID) })
}

func (i *instrumented) Ping(ctx context.Context) error {
	return timed0(i, "ping", func() error { return i.st.Ping(ctx) })
}

func (i *instrumented) Close() error { return i.st.Close() }
