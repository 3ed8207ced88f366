// Package log stands in for github.com/ipfs/go-log (v1), which tss-lib
// uses for its few log lines (common.Logger). The real package brings
// go-log/v2, zap and their dependencies: 2.5 MB of tss.wasm (0.32 MB of its
// brotli). This one keeps the API tss-lib and tsskit call — Logger,
// SetLogLevel and the printf-style methods — and writes through log/slog's
// default logger, with each named logger's level set by SetLogLevel
// (default "error", as tsskit sets it for tss-lib).
package log

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

var (
	mu     sync.RWMutex
	levels = map[string]slog.Level{}
)

const defaultLevel = slog.LevelError

// ZapEventLogger is a named logger (the name of go-log's type).
type ZapEventLogger struct{ name string }

// Logger returns the logger called name.
func Logger(name string) *ZapEventLogger { return &ZapEventLogger{name: name} }

// SetLogLevel sets the level of the logger called name: debug, info, warn
// (or warning), error, dpanic, panic or fatal (the last three log as
// errors only).
func SetLogLevel(name, level string) error {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "warn", "warning":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	case "dpanic", "panic", "fatal":
		l = slog.LevelError + 4
	default:
		return fmt.Errorf("go-log: unknown level %q", level)
	}
	mu.Lock()
	levels[name] = l
	mu.Unlock()
	return nil
}

func (z *ZapEventLogger) log(l slog.Level, msg string) {
	mu.RLock()
	min, ok := levels[z.name]
	mu.RUnlock()
	if !ok {
		min = defaultLevel
	}
	if l < min {
		return
	}
	slog.Default().Log(context.Background(), l, msg, "logger", z.name)
}

func (z *ZapEventLogger) Debugf(f string, a ...any)   { z.log(slog.LevelDebug, fmt.Sprintf(f, a...)) }
func (z *ZapEventLogger) Info(a ...any)               { z.log(slog.LevelInfo, fmt.Sprint(a...)) }
func (z *ZapEventLogger) Infof(f string, a ...any)    { z.log(slog.LevelInfo, fmt.Sprintf(f, a...)) }
func (z *ZapEventLogger) Warningf(f string, a ...any) { z.log(slog.LevelWarn, fmt.Sprintf(f, a...)) }
func (z *ZapEventLogger) Error(a ...any)              { z.log(slog.LevelError, fmt.Sprint(a...)) }
func (z *ZapEventLogger) Errorf(f string, a ...any)   { z.log(slog.LevelError, fmt.Sprintf(f, a...)) }
