//go:build !linux

package main

import "time"

// threadCPU: not read on this platform; the load runs without the probe.
func threadCPU() (time.Duration, bool) { return 0, false }
