package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	stamped := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "00e5ef1a2b3c4d5e6f708192a3b4c5d6e7f80910"},
		{Key: "vcs.modified", Value: "false"},
	}}
	dirty := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "00e5ef1a2b3c4d5e6f708192a3b4c5d6e7f80910"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name, version, commit string
		info                  *debug.BuildInfo
		want                  string
	}{
		{"ldflags win", "0.1.0-dev", "abc1234", stamped, "tsskit 0.1.0-dev (commit abc1234, go1.26.8)"},
		{"vcs stamp", "0.1.0-dev", "", stamped, "tsskit 0.1.0-dev (commit 00e5ef1a2b3c, go1.26.8)"},
		{"dirty tree", "0.2.0", "", dirty, "tsskit 0.2.0 (commit 00e5ef1a2b3c-dirty, go1.26.8)"},
		{"no vcs stamp", "0.1.0-dev", "", &debug.BuildInfo{}, "tsskit 0.1.0-dev (commit unknown, go1.26.8)"},
		{"no build info", "0.1.0-dev", "", nil, "tsskit 0.1.0-dev (commit unknown, go1.26.8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(tc.version, tc.commit, tc.info, "go1.26.8"); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVersionLineOfThisBinary(t *testing.T) {
	got := versionLine()
	if !strings.HasPrefix(got, "tsskit "+version+" (commit ") || !strings.HasSuffix(got, ")") {
		t.Fatalf("versionLine() = %q", got)
	}
}
