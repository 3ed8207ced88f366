//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

// shareLocks: no advisory file locks here. A CLI party's refresh then
// does not keep other commands off its share file, and tsskit party
// settle refuses: a freeze could slip between a refresh's last check and
// its activation.
const shareLocks = false

func lockShare(string) (func(), error) { return func() {}, nil }
