package party_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"

	_ "github.com/rwadurian/tsskit/party" // sets tss-lib's log level
)

// TestTSSLibLogsThroughSlog: tss-lib's go-log lines reach log/slog's
// default logger (third_party/golog stands in for go-log), named, and only
// from the level the party package sets (error) up.
func TestTSSLibLogsThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	defer slog.SetDefault(prev)
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	common.Logger.Debugf("a debug line %d", 1)
	common.Logger.Infof("an info line %d", 2)
	common.Logger.Warningf("a warning %d", 3)
	common.Logger.Errorf("an error %d", 4)
	common.Logger.Error("another error")
	out := buf.String()
	for _, quiet := range []string{"a debug line 1", "an info line 2", "a warning 3"} {
		if strings.Contains(out, quiet) {
			t.Errorf("%q logged below tss-lib's level", quiet)
		}
	}
	for _, loud := range []string{"an error 4", "another error", "logger=tss-lib", "level=ERROR"} {
		if !strings.Contains(out, loud) {
			t.Errorf("%q missing from %q", loud, out)
		}
	}
}
