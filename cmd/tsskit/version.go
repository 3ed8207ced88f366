package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time:
//
//	go build -ldflags "-X main.version=0.2.0 -X main.commit=$(git rev-parse --short=12 HEAD)" ./cmd/tsskit
//
// A build without -X main.commit (go build, go install in a checkout)
// takes the commit from the VCS stamp the go command records
// (vcs.revision, and vcs.modified for a dirty tree).
var (
	version = "0.1.0-dev"
	commit  = ""
)

// versionLine is what tsskit version prints, e.g.
// "tsskit 0.1.0-dev (commit 00e5ef1a2b3c, go1.26.8)".
func versionLine() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(version, commit, info, runtime.Version())
}

// formatVersion puts the line together; info may be nil (no build info).
func formatVersion(version, commit string, info *debug.BuildInfo, goVersion string) string {
	if commit == "" {
		commit = vcsCommit(info)
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("tsskit %s (commit %s, %s)", version, commit, goVersion)
}

// shortCommit is the length of the abbreviated revision printed, the same
// as `git rev-parse --short=12`.
const shortCommit = 12

// vcsCommit reads the revision go build stamped into the binary: the first
// 12 hex digits, with "-dirty" when the tree had uncommitted changes.
func vcsCommit(info *debug.BuildInfo) string {
	if info == nil {
		return ""
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > shortCommit {
		rev = rev[:shortCommit]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
