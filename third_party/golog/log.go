// Package log stands in for github.com/ipfs/go-log (v1), which tss-lib
// uses for its few log lines (common.Logger). The real package brings
// go-log/v2, zap and their dependencies: 2.5 MB of tss.wasm (0.32 MB of its
// brotli). This one keeps the API tss-lib and tsskit call — Logger,
// SetLogLevel and the printf-style methods — and writes through log/slog's
// default logger, with each named logger's level set by SetLogLevel
// (default "error", as tsskit sets it for tss-lib).
package log

import (
	"fmt"
	"strings"
	"sync"
)

// logLevel has log/slog's values: debug -4, info 0, warn 4, error 8.
type logLevel int

const (
	levelDebug logLevel = -4
	levelInfo  logLevel = 0
	levelWarn  logLevel = 4
	levelError logLevel = 8
)

var (
	mu     sync.RWMutex
	levels = map[string]logLevel{}
)

const defaultLevel = levelError

// ZapEventLogger is a named logger (the name of go-log's type).
type ZapEventLogger struct{ name string }

// Logger returns the logger called name.
func Logger(name string) *ZapEventLogger { return &ZapEventLogger{name: name} }

// SetLogLevel sets the level of the logger called name: debug, info, warn
// (or warning), error, dpanic, panic or fatal (the last three log as
// errors only).
func SetLogLevel(name, level string) error {
	var l logLevel
	switch strings.ToLower(level) {
	case "debug":
		l = levelDebug
	case "info":
		l = levelInfo
	case "warn", "warning":
		l = levelWarn
	case "error":
		l = levelError
	case "dpanic", "panic", "fatal":
		l = levelError + 4
	default:
		return fmt.Errorf("go-log: unknown level %q", level)
	}
	mu.Lock()
	levels[name] = l
	mu.Unlock()
	return nil
}

func (z *ZapEventLogger) log(l logLevel, msg string) {
	mu.RLock()
	min, ok := levels[z.name]
	mu.RUnlock()
	if !ok {
		min = defaultLevel
	}
	if l < min {
		return
	}
	emit(l, z.name, msg)
}

func (z *ZapEventLogger) Debugf(f string, a ...any)   { z.log(levelDebug, fmt.Sprintf(f, a...)) }
func (z *ZapEventLogger) Info(a ...any)               { z.log(levelInfo, fmt.Sprint(a...)) }
func (z *ZapEventLogger) Infof(f string, a ...any)    { z.log(levelInfo, fmt.Sprintf(f, a...)) }
func (z *ZapEventLogger) Warningf(f string, a ...any) { z.log(levelWarn, fmt.Sprintf(f, a...)) }
func (z *ZapEventLogger) Error(a ...any)              { z.log(levelError, fmt.Sprint(a...)) }
func (z *ZapEventLogger) Errorf(f string, a ...any)   { z.log(levelError, fmt.Sprintf(f, a...)) }
