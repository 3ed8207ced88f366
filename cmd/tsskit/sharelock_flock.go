//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// shareLocks: this platform has advisory file locks (flock). A CLI
// party's refresh holds its share's lock from start to end, and a settle
// step holds it throughout, so neither runs beside the other: a freeze
// cannot slip between a refresh's last check and its activation, nor
// between its join and the acknowledgement of an earlier run it presents.
const shareLocks = true

// lockShare takes an exclusive advisory lock on FILE.lock beside
// shareFile and returns its release; it refuses at once while another
// process holds it.
func lockShare(shareFile string) (func(), error) {
	name := shareFile + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another tsskit command (a party refresh or settle of this share): let it end, or stop it, first", shareFile)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
