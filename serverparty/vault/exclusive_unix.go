//go:build unix

package vault

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

func (s *fileStore) exclusive() (func(), <-chan struct{}, error) {
	name := filepath.Join(s.root, ".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, ioErr(name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, newErr(ErrInUse, s.root, "the vault is held by another process (a server party runs on it: stop it first)", nil)
		}
		return nil, nil, ioErr(name, err)
	}
	return func() { f.Close() }, nil, nil
}
