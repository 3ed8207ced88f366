//go:build !js

package log

import (
	"context"
	"log/slog"
)

// emit writes through log/slog's default logger, so a service's handler
// formats tss-lib's lines like its own.
func emit(l logLevel, name, msg string) {
	slog.Default().Log(context.Background(), slog.Level(l), msg, "logger", name)
}
